package projections

import (
	"log/slog"
	"testing"
	"time"
)

// TestNotifyBetweenApplyAndCommit: a reader that takes Notify's channel
// after a batch staged queue entries but before the store committed them
// reads nothing yet, so that channel must be closed by that commit. It
// was the next batch's channel (swapped at Apply), and the reader slept
// until another batch came.
func TestNotifyBetweenApplyAndCommit(t *testing.T) {
	s, err := OpenStore(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	q, err := NewQueues(s, QueuesConfig{Self: "orn:koi-net.node:self+00"})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock() // Apply under way: the store holds its lock until the commit
	q.signal()  // the batch staged entries
	ch := q.Notify()
	s.mu.Unlock() // committed
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the channel taken between Apply and the commit was not closed by that commit")
	}
}
