package pipeline

import (
	"maps"
	"testing"

	"github.com/koistream/koistream/topics/topicstest"
)

// TestRetriedMessageLeavesNoState: an input a later stage fails on (retried,
// then sent to dead) must leave no write of the stateful stage before it:
// each attempt starts from the state before the message, and the message
// that ends in dead leaves none. Without savepoints the count stage wrote
// its state once per attempt (4) and the dead input's writes committed.
func TestRetriedMessageLeavesNoState(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	s := newTestSegment(t, addr, "retry.", t.TempDir(), countName, tagName)
	s.input(t, 0, "flaky1")
	s.input(t, 0, "ok1")
	s.run(t, s.segmentRunner, false)
	s.waitCommitted(t)
	got := map[string]string{}
	for _, r := range topicstest.ReadAll(t, addr, s.spaces[0]) {
		got[string(r.Key)] = string(r.Value)
	}
	if want := map[string]string{"ok1": "1"}; !maps.Equal(got, want) {
		t.Errorf("changelog %v, want %v: the dead input must leave no state", got, want)
	}
	if n := len(topicstest.ReadAll(t, addr, s.names.Dead)); n != 1 {
		t.Errorf("dead topic holds %d records, want the flaky input", n)
	}
}
