package topics

import (
	"context"
	"testing"
	"time"
)

func TestPositionFromContext(t *testing.T) {
	pos := Position{Topic: "t", Partition: 2, Offset: 7, Timestamp: time.Unix(1700000000, 0).UTC()}
	tests := []struct {
		name   string
		ctx    context.Context
		want   Position
		wantOK bool
	}{
		{"absent", context.Background(), Position{}, false},
		{"present", ContextWithPosition(context.Background(), pos), pos, true},
		{"innermost wins", ContextWithPosition(ContextWithPosition(context.Background(), Position{Topic: "old"}), pos), pos, true},
		{"string key of the same text does not collide",
			context.WithValue(context.Background(), "github.com/koistream/koistream/topics.Position", pos), Position{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PositionFromContext(tt.ctx)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("PositionFromContext = %+v, %t; want %+v, %t", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
