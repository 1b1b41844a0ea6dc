package projections

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	eventstopic "github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/topicstest"
)

const (
	qrSelf = "orn:koi-net.node:github-sensor+659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2"
	qrSub  = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
)

// queueNode is a runner over a store holding the cache, the graph and the
// queues, as a node runs them.
type queueNode struct {
	store  *Store
	queues *Queues
	runner *Runner
	cancel context.CancelFunc
	done   chan error
}

func startQueues(t *testing.T, broker, dir string) *queueNode {
	t.Helper()
	n := &queueNode{done: make(chan error, 1)}
	var err error
	if n.store, err = OpenStore(dir, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	c, err := NewCache(n.store)
	if err != nil {
		t.Fatal(err)
	}
	if n.queues, err = NewQueues(n.store, QueuesConfig{Self: qrSelf, ProvidesEvent: []string{"orn:github.issue"}}); err != nil {
		t.Fatal(err)
	}
	if err := n.store.Attach(c, NewGraph(n.store), n.queues); err != nil {
		t.Fatal(err)
	}
	if n.runner, err = NewRunner(RunnerConfig{
		Brokers:    []string{broker},
		Topic:      testTopic,
		Logger:     slog.New(slog.DiscardHandler),
		Tracer:     tracenoop.NewTracerProvider().Tracer("test"),
		Meter:      metricnoop.NewMeterProvider().Meter("test"),
		Propagator: propagation.TraceContext{},
	}, n.store); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- n.runner.Run(ctx) }()
	return n
}

func (n *queueNode) waitApplied(t *testing.T, ends map[int32]int64) {
	t.Helper()
	(&node{runner: n.runner, done: n.done}).waitApplied(t, ends)
}

// stopRunner stops the runner, expecting a clean return.
func (n *queueNode) stopRunner(t *testing.T) {
	t.Helper()
	n.cancel()
	if err := <-n.done; err != nil {
		t.Errorf("runner: %v", err)
	}
}

// pending returns the subscriber's queue as the RIDs of its events,
// oldest first.
func (n *queueNode) pending(t *testing.T) []string {
	t.Helper()
	es, err := n.queues.Pending(qrSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range es {
		out = append(out, issueOf(t, e.Event))
	}
	if d, err := n.queues.Depth(qrSub); err != nil || d != len(out) {
		t.Errorf("Depth = %d, %v; %d pending", d, err, len(out))
	}
	return out
}

// issueOf returns the RID of a queued event.
func issueOf(t *testing.T, v []byte) string {
	t.Helper()
	ev, err := eventstopic.ParseValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return ev.RID
}

// issueRecords returns the records of events(first, last-first) on
// partition 0, as the ridify stage writes them: keyed by RID, local (no
// peer header).
func issueRecords(t *testing.T, first, last int) []*kgo.Record {
	var out []*kgo.Record
	for _, v := range events(first, last-first) {
		out = append(out, &kgo.Record{Topic: testTopic, Partition: 0, Key: []byte(issueOf(t, []byte(v))), Value: []byte(v)})
	}
	return out
}

// TestQueuesThroughRunner: events produced to the events topic reach the
// subscriber's queue through the runner, in log order; the queue and its
// poll page survive a clean close and reopen; after a close that loses the
// batches not yet flushed (as a crash does: the store has no write-ahead
// log), the runner applies them again from the stored offsets and the
// queue holds every event exactly once, none skipped.
func TestQueuesThroughRunner(t *testing.T) {
	t.Parallel()
	broker := startBroker(t)
	dir := filepath.Join(t.TempDir(), "store")
	edge := `{"rid":"orn:koi-net.edge:s-c","event_type":"NEW","manifest":{"rid":"orn:koi-net.edge:s-c","timestamp":"2026-08-06T12:00:00Z","sha256_hash":"00"},` +
		`"contents":{"source":"` + qrSelf + `","target":"` + qrSub + `","edge_type":"POLL","status":"PROPOSED","rid_types":["orn:github.issue"]}}`
	recs := []*kgo.Record{{Topic: testTopic, Partition: 0, Key: []byte("orn:koi-net.edge:s-c"), Value: []byte(edge),
		Headers: []kgo.RecordHeader{{Key: observed.HeaderPeer, Value: []byte(qrSub)}}}}
	topicstest.Produce(t, broker, append(recs, issueRecords(t, 0, 10)...)...)
	ends := endOffsets(t, broker)

	// events(0, n) forgets every fifth issue's predecessor: FORGET events
	// are queued too, in their place.
	want := func(first, last int) []string {
		var out []string
		for _, v := range events(first, last-first) {
			out = append(out, issueOf(t, []byte(v)))
		}
		return out
	}

	n := startQueues(t, broker, dir)
	n.waitApplied(t, ends)
	if got := n.pending(t); !slices.Equal(got, want(0, 10)) {
		t.Fatalf("queued %q, want %q", got, want(0, 10))
	}
	// A node polls twice: the first page is acknowledged, the second
	// pending.
	if _, err := n.queues.Poll(qrSub, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := n.queues.Poll(qrSub, 4); err != nil {
		t.Fatal(err)
	}
	n.stopRunner(t)
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}

	n = startQueues(t, broker, dir)
	n.waitApplied(t, ends)
	if got := n.pending(t); !slices.Equal(got, want(4, 10)) {
		t.Fatalf("after reopen: queued %q, want %q", got, want(4, 10))
	}
	// More events; then the store closes without writing its memtables,
	// losing the batches applied since the last flush.
	topicstest.Produce(t, broker, issueRecords(t, 10, 20)...)
	ends = endOffsets(t, broker)
	n.waitApplied(t, ends)
	n.stopRunner(t)
	if err := n.store.db.Close(); err != nil {
		t.Fatal(err)
	}

	n = startQueues(t, broker, dir)
	stored, err := n.store.Offsets(testTopic)
	if err != nil {
		t.Fatal(err)
	}
	if stored[0] >= ends[0] {
		t.Fatalf("the crash-like close lost nothing (stored offset %d, end %d): the test proves nothing", stored[0], ends[0])
	}
	n.waitApplied(t, ends)
	if got := n.pending(t); !slices.Equal(got, want(4, 20)) {
		t.Fatalf("after a crash: queued %q, want %q", got, want(4, 20))
	}
	// The page the second poll recorded is still acknowledged by the next.
	page, err := n.queues.Poll(qrSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != len(want(8, 20)) {
		t.Errorf("poll after the crash returned %d entries, want %d", len(page), len(want(8, 20)))
	}
	n.stopRunner(t)
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
}
