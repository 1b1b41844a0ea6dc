package jsonscan_test

import (
	"testing"

	"github.com/koistream/koistream/topics/jsonscan"
)

func TestSkipSpace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		i    int
		want int
	}{
		{"", 0, 0}, {" \t\r\n", 0, 4}, {" \t\r\nx", 0, 4}, {"x ", 0, 0}, {"x  y", 1, 3},
		{"\v\f", 0, 0}, // not JSON whitespace
		{"  ", 2, 2}, {"  ", 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := jsonscan.SkipSpace([]byte(tt.in), tt.i); got != tt.want {
				t.Errorf("SkipSpace(%q, %d) = %d, want %d", tt.in, tt.i, got, tt.want)
			}
		})
	}
}
