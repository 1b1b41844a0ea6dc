package bodybudget_test

import (
	"errors"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/bodybudget"
)

// TestPublish: the bytes a body holds stay held until the publish call
// returns, whether it returned within the wait or after it, and the caller
// is left holding nothing to give back.
func TestPublish(t *testing.T) {
	boom := errors.New("log refused")
	tests := []struct {
		name    string
		late    bool  // publish returns only after the wait ended
		err     error // what publish returns
		wantErr error
	}{
		{"confirmed in time", false, nil, nil},
		{"refused in time", false, boom, boom},
		{"not confirmed in time, written later", true, nil, bodybudget.ErrNotConfirmed},
		{"not confirmed in time, refused later", true, boom, bodybudget.ErrNotConfirmed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bodybudget.New(100)
			if !b.TryAcquire(60) {
				t.Fatal("could not take 60 of 100")
			}
			held := int64(60)
			release := make(chan struct{})
			returned := make(chan struct{})
			publish := func() error {
				defer close(returned)
				if tt.late {
					<-release
				}
				return tt.err
			}
			err := b.Publish(&held, 20*time.Millisecond, publish)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Publish = %v, want %v", err, tt.wantErr)
			}
			if held != 0 {
				t.Errorf("caller still holds %d bytes to give back, want 0", held)
			}
			if tt.late {
				if got := b.Held(); got != 60 {
					t.Errorf("while the publish is under way the budget holds %d, want 60", got)
				}
				if b.TryAcquire(50) {
					t.Error("a body of 50 fit beside the 60 still publishing in a budget of 100")
				}
				close(release)
			}
			<-returned
			deadline := time.Now().Add(5 * time.Second)
			for b.Held() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := b.Held(); got != 0 {
				t.Errorf("after the publish returned the budget holds %d, want 0", got)
			}
		})
	}
}
