package projections

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics/topicstest"
)

// The stages write the events topic in transactions: every partition they
// wrote holds a commit or abort marker after its records, each with an
// offset of its own, and the records of aborted transactions stay in the
// log. These tests hold the Runner to reading such a topic: it applies the
// committed records once, never an aborted one, and counts the markers as
// read, so that a runner that applied everything reports the end offsets.

// produceTxn appends the events in one transaction, which it commits or
// aborts, and returns the end offsets after it.
func produceTxn(t *testing.T, broker string, commit bool, values ...string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.TransactionalID("events-writer"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin transaction: %v", err)
	}
	if err := cl.ProduceSync(ctx, eventRecords(t, values)...).FirstErr(); err != nil {
		t.Fatalf("produce in a transaction: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
	return endOffsets(t, broker)
}

// waitCaughtUp waits until the runner's Next() is ends, exactly, and its
// Lag() is 0, failing at once if the runner stops.
func (n *node) waitCaughtUp(t *testing.T, ends map[int32]int64) {
	t.Helper()
	topicstest.WaitFor(t, 30*time.Second, fmt.Sprintf("Next() to reach the end offsets %v and Lag() 0", ends), func() bool {
		select {
		case err := <-n.done:
			t.Fatalf("runner stopped: %v", err)
		default:
		}
		return maps.Equal(n.runner.Next(), ends) && n.runner.Lag() == 0
	})
}

// TestRunnerReadsATransactionalTopic: over an events topic written in
// transactions, some aborted, the runner's Next() reaches the end offsets
// (markers included) and its Lag() 0, whether the log ends with a commit or
// an abort marker; every committed event is applied once and no aborted
// one ever, also after a restart that resumes from the stored offsets
// (which stop at the last data record, before the markers).
func TestRunnerReadsATransactionalTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		lastAbort bool // the log ends with an aborted transaction
	}{
		{"ending with a commit marker", false},
		{"ending with an abort marker", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			broker := startBroker(t)
			dir := filepath.Join(t.TempDir(), "store")
			committed := events(0, 10)
			aborted := events(100, 4)
			produceTxn(t, broker, true, committed[:5]...)
			produceTxn(t, broker, false, aborted[:2]...)
			ends := produceTxn(t, broker, true, committed[5:]...)
			if tt.lastAbort {
				ends = produceTxn(t, broker, false, aborted[2:]...)
			}

			n := start(t, broker, dir)
			n.waitCaughtUp(t, ends)
			n.checkTxn(t, committed, aborted)
			n.stop(t)

			// A restart resumes where the store is and reads the markers
			// after the stored offsets again, applying nothing twice.
			n = start(t, broker, dir)
			defer n.stop(t)
			n.waitCaughtUp(t, ends)
			more := events(10, 5)
			ends = produceTxn(t, broker, true, more...)
			n.waitCaughtUp(t, ends)
			n.checkTxn(t, append(committed, more...), aborted)
		})
	}
}

// checkTxn verifies that the node applied every committed event once, by
// both projections, and no aborted one, and dropped nothing as already
// applied.
func (n *node) checkTxn(t *testing.T, committed, aborted []string) {
	t.Helper()
	counts := n.counter.counts(t)
	for _, ev := range committed {
		if c := counts[ev]; c != 1 {
			t.Errorf("committed event applied %d times, want once: %s", c, ev)
		}
	}
	for _, ev := range aborted {
		if c := counts[ev]; c != 0 {
			t.Errorf("aborted event applied %d times, want never: %s", c, ev)
		}
	}
	if len(counts) != len(committed) {
		t.Errorf("the counter holds %d records, want the %d committed events: markers or aborted records were applied", len(counts), len(committed))
	}
	rids, err := n.cache.RIDs(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range aborted {
		rid := strings.TrimPrefix(ev, `{"rid":"`)
		rid = rid[:strings.IndexByte(rid, '"')]
		if slices.Contains(rids, rid) {
			t.Errorf("the cache holds %s, of an aborted transaction only", rid)
		}
	}
	for _, m := range n.logs.all() {
		if strings.Contains(m, "already applied") {
			t.Errorf("runner warned: %s", m)
		}
	}
}
