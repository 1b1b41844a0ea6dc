package projections

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/koistream/koistream/topics/topicstest"
)

// graphNode is a runner over a store holding the cache and the graph, as a
// node with the graph attached runs them.
type graphNode struct {
	store  *Store
	graph  *Graph
	runner *Runner
	cancel context.CancelFunc
	done   chan error
}

func startGraph(t *testing.T, broker, dir string) *graphNode {
	t.Helper()
	n := &graphNode{done: make(chan error, 1)}
	var err error
	if n.store, err = OpenStore(dir, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	c, err := NewCache(n.store)
	if err != nil {
		t.Fatal(err)
	}
	n.graph = NewGraph(n.store)
	if err := n.store.Attach(c, n.graph); err != nil {
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

func (n *graphNode) waitApplied(t *testing.T, ends map[int32]int64) {
	t.Helper()
	(&node{runner: n.runner, done: n.done}).waitApplied(t, ends)
}

func (n *graphNode) stop(t *testing.T) {
	t.Helper()
	n.cancel()
	if err := <-n.done; err != nil {
		t.Errorf("runner: %v", err)
	}
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestGraphThroughRunner: the captured node and edge events, produced to
// the events topic keyed by RID and spread over the partitions by RID as
// the topic does, reach the graph through the runner; a rebuild from the
// log gives the same keys and values.
func TestGraphThroughRunner(t *testing.T) {
	t.Parallel()
	broker := startBroker(t)
	dir := filepath.Join(t.TempDir(), "store")

	f, err := os.Open(filepath.Join("testdata", "graph_events.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []*kgo.Record
	rids := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		var ev struct{ RID string }
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		rids[ev.RID] = true
		// One RID, one partition: the order of its events is kept.
		p := int32(len(ev.RID) % testPartitions)
		recs = append(recs, &kgo.Record{Topic: testTopic, Partition: p, Key: []byte(ev.RID), Value: []byte(l)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	topicstest.Produce(t, broker, recs...)
	ends := endOffsets(t, broker)

	n := startGraph(t, broker, dir)
	n.waitApplied(t, ends)
	ns, err := n.graph.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, nd := range ns {
		got = append(got, nd.RID)
	}
	for _, rid := range slices.Sorted(maps.Keys(rids)) {
		_, isEdge, err := n.graph.Edge(rid)
		if err != nil {
			t.Fatal(err)
		}
		if !isEdge && !slices.Contains(got, rid) {
			t.Errorf("%s neither a node nor an edge of the graph (nodes %q)", rid, got)
		}
	}
	subs, err := n.graph.Subscribers("orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12", "orn:koi-net.node")
	if err != nil || len(subs) != 1 || subs[0].Status != EdgeApproved {
		t.Errorf("coordinator's subscribers: %+v, %v; want its approved edge to gosim", subs, err)
	}
	built := dump(t, n.store)
	n.stop(t)

	if err := Reset(dir); err != nil {
		t.Fatal(err)
	}
	n = startGraph(t, broker, dir)
	defer n.stop(t)
	n.waitApplied(t, ends)
	if rebuilt := dump(t, n.store); !maps.Equal(built, rebuilt) {
		t.Errorf("rebuilt store differs: %d keys built, %d rebuilt", len(built), len(rebuilt))
	}
}
