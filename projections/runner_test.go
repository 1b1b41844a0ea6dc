package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	eventstopic "github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/topicstest"
)

const (
	testTopic      = "koistream.events"
	testPartitions = 3
)

// counter is a projection that counts how often each record was applied to
// it: c\0<record value> → count. It reads the counts it has committed, so a
// record applied in two polls counts 2. While failOn is set, Apply fails on
// a record whose value contains it, after staging the records before it,
// and remembers the records of that call.
type counter struct {
	db *pebble.DB

	mu     sync.Mutex
	failOn string
	failed []Record // the records of the call that failed, copied
}

var prefixCount = []byte("c\x00")

func (c *counter) Name() string   { return "counter" }
func (c *counter) Tables() []byte { return []byte{prefixCount[0]} }

func (c *counter) Apply(b *pebble.Batch, recs []Record) ([]error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		if c.failOn != "" && bytes.Contains(r.Value, []byte(c.failOn)) {
			for _, r := range recs {
				r.Value = bytes.Clone(r.Value)
				c.failed = append(c.failed, r)
			}
			return nil, errors.New("counter: told to fail")
		}
		key := append(slices.Clip(prefixCount), r.Value...)
		n, err := c.count(key)
		if err != nil {
			return nil, err
		}
		if err := b.Set(key, binary.BigEndian.AppendUint64(nil, n+1), nil); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (c *counter) count(key []byte) (uint64, error) {
	v, closer, err := c.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return binary.BigEndian.Uint64(v), nil
}

// counts returns every count the counter holds, by record value.
func (c *counter) counts(t *testing.T) map[string]uint64 {
	t.Helper()
	it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: prefixCount, UpperBound: upperBound(prefixCount)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[string]uint64{}
	for it.First(); it.Valid(); it.Next() {
		out[string(it.Key()[len(prefixCount):])] = binary.BigEndian.Uint64(it.Value())
	}
	return out
}

// node is what a test runs: a store with the cache and the counter behind
// one runner.
type node struct {
	store   *Store
	cache   *Cache
	counter *counter
	runner  *Runner
	logs    *warnings
	cancel  context.CancelFunc
	done    chan error
}

// warnings keeps the runner's warnings and errors.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }
func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// startBroker starts an embedded broker on loopback with the events topic.
func startBroker(t *testing.T) string {
	t.Helper()
	_, addr := topicstest.StartBroker(t, topicstest.NoSync(), topicstest.Partitions(testPartitions))
	topicstest.CreateTopic(t, addr, testTopic, testPartitions)
	return addr
}

// produce appends the events and returns the end offsets after them. An
// event goes to the partition of its issue (number modulo 3), so the events
// of one RID keep their order, as the events topic's RID keys keep it.
func produce(t *testing.T, broker string, values ...string) map[int32]int64 {
	t.Helper()
	topicstest.Produce(t, broker, eventRecords(t, values)...)
	return endOffsets(t, broker)
}

// eventRecords returns the events-topic records of values, each on the
// partition of its issue (see produce).
func eventRecords(t *testing.T, values []string) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		rid := strings.TrimPrefix(v, `{"rid":"`)
		rid = rid[:strings.IndexByte(rid, '"')]
		issue, err := strconv.Atoi(rid[strings.LastIndexByte(rid, ':')+1:])
		if err != nil {
			t.Fatalf("event %s: %v", v, err)
		}
		recs[i] = &kgo.Record{Topic: testTopic, Partition: int32(issue % testPartitions), Key: []byte(rid), Value: []byte(v)}
	}
	return recs
}

// endOffsets lists the events topic's end offsets (with kadm, not a
// PartitionReader: closing a consuming franz-go client while its first
// fetch is under way is a data race inside franz-go v1.22.2).
func endOffsets(t *testing.T, broker string) map[int32]int64 {
	t.Helper()
	return topicstest.EndOffsets(t, broker, testTopic)
}

// events returns n KOI events numbered from first: issue i is NEW, and
// every fifth event forgets the issue before it, so the order matters.
func events(first, n int) []string {
	var out []string
	for i := first; i < first+n; i++ {
		rid := fmt.Sprintf("orn:github.issue:o/r:%d", i)
		if i%5 == 4 {
			out = append(out, fmt.Sprintf(`{"rid":"orn:github.issue:o/r:%d","event_type":"FORGET","n":%d}`, i-1, i))
			continue
		}
		man := `{"rid":"` + rid + `","timestamp":"2025-01-02T03:04:05Z","sha256_hash":"00"}`
		out = append(out, `{"rid":"`+rid+`","event_type":"NEW","manifest":`+man+`,"contents":{"n":`+fmt.Sprint(i)+`}}`)
	}
	return out
}

// start opens the store in dir with the cache and the counter and runs a
// runner on it until stop.
func start(t *testing.T, broker, dir string) *node {
	t.Helper()
	n := &node{logs: &warnings{}, done: make(chan error, 1)}
	var err error
	if n.store, err = OpenStore(dir, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if n.cache, err = NewCache(n.store); err != nil {
		t.Fatal(err)
	}
	n.counter = &counter{db: n.store.db}
	if err := n.store.Attach(n.cache, n.counter); err != nil {
		t.Fatal(err)
	}
	if n.runner, err = NewRunner(RunnerConfig{
		Brokers:    []string{broker},
		Topic:      testTopic,
		Logger:     slog.New(n.logs),
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

// waitApplied waits until the runner has applied everything before ends,
// failing at once if the runner stops.
func (n *node) waitApplied(t *testing.T, ends map[int32]int64) {
	t.Helper()
	topicstest.WaitFor(t, 30*time.Second, fmt.Sprintf("the runner to apply up to %v", ends), func() bool {
		select {
		case err := <-n.done:
			t.Fatalf("runner stopped: %v", err)
		default:
		}
		next := n.runner.Next()
		for p, e := range ends {
			if next[p] < e {
				return false
			}
		}
		return true
	})
}

// stop stops the runner, expecting a clean return, and closes the store.
func (n *node) stop(t *testing.T) {
	t.Helper()
	n.cancel()
	if err := <-n.done; err != nil {
		t.Errorf("runner: %v", err)
	}
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
}

// check verifies the node's state against the log: every event counted
// once by the counter, the cache holding exactly the issues not forgotten,
// the offsets at the log's end, and no record dropped as already applied
// (the runner resumed at the stored offsets, not before).
func (n *node) check(t *testing.T, evs []string, ends map[int32]int64) {
	t.Helper()
	counts := n.counter.counts(t)
	for _, ev := range evs {
		if c := counts[ev]; c != 1 {
			t.Errorf("event applied %d times, want once: %s", c, ev)
		}
	}
	if len(counts) != len(evs) {
		t.Errorf("counter holds %d events, want %d", len(counts), len(evs))
	}
	var want []string
	for i := range evs {
		if i%5 != 3 && i%5 != 4 { // issue i%5==3 is forgotten by the next event
			want = append(want, fmt.Sprintf("orn:github.issue:o/r:%d", i))
		}
	}
	slices.Sort(want)
	rids, err := n.cache.RIDs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rids, want) {
		t.Errorf("cache holds %d RIDs %v, want %d %v", len(rids), rids, len(want), want)
	}
	offs, err := n.store.Offsets(testTopic)
	if err != nil {
		t.Fatal(err)
	}
	for p, e := range ends {
		if e > 0 && offs[p] != e {
			t.Errorf("stored offsets %v, want %v", offs, ends)
			break
		}
	}
	for _, m := range n.logs.all() {
		if strings.Contains(m, "already applied") {
			t.Errorf("runner warned: %s", m)
		}
	}
}

// dump returns every key and value of the store.
func dump(t *testing.T, s *Store) map[string]string {
	t.Helper()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[string]string{}
	for it.First(); it.Valid(); it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	return out
}

// TestRunnerResumesAfterRestart: a runner stopped and started again on the
// same store goes on where the store is: every record applied once, by both
// projections, with one set of offsets, and nothing fetched twice.
func TestRunnerResumesAfterRestart(t *testing.T) {
	t.Parallel()
	broker := startBroker(t)
	dir := filepath.Join(t.TempDir(), "store")
	evs := events(0, 30)
	ends := produce(t, broker, evs...)

	n := start(t, broker, dir)
	n.waitApplied(t, ends)
	n.stop(t)

	evs = append(evs, events(30, 30)...)
	ends = produce(t, broker, evs[30:]...)
	n = start(t, broker, dir)
	defer n.stop(t)
	n.waitApplied(t, ends)
	n.check(t, evs, ends)
}

// TestRunnerStopsOnFailedApply: a projection failing in the middle of a run
// stops the runner with nothing of that poll written, by any projection;
// the next start applies the poll, once.
func TestRunnerStopsOnFailedApply(t *testing.T) {
	t.Parallel()
	broker := startBroker(t)
	dir := filepath.Join(t.TempDir(), "store")
	evs := events(0, 15)
	ends := produce(t, broker, evs...)
	n := start(t, broker, dir)
	n.waitApplied(t, ends)
	before := dump(t, n.store)

	// The poison is the fourth of the new events; the counter comes after
	// the cache, so the cache has staged the whole poll when it fails.
	n.counter.mu.Lock()
	n.counter.failOn = `"n":18}`
	n.counter.mu.Unlock()
	evs = append(evs, events(15, 15)...)
	ends = produce(t, broker, evs[15:]...)
	select {
	case err := <-n.done:
		if err == nil || !strings.Contains(err.Error(), "told to fail") {
			t.Fatalf("runner returned %v, want the counter's failure", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runner did not stop on a failing projection")
	}
	if n.runner.Ready() {
		t.Error("runner still ready after stopping")
	}
	n.counter.mu.Lock()
	failed := n.counter.failed
	n.counter.mu.Unlock()
	if len(failed) == 0 {
		t.Fatal("the counter saw no failing poll")
	}
	// Nothing of the failed poll is in the store: not the cache's writes,
	// not the counter's, not the offsets. Earlier polls may have applied
	// some of the new events; the store must be exactly as they left it.
	after := dump(t, n.store)
	offs, err := n.store.Offsets(testTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range failed {
		if offs[r.Partition] > r.Offset {
			t.Errorf("stored offset of partition %d is %d, past %d of the failed poll", r.Partition, offs[r.Partition], r.Offset)
		}
		if _, ok := after[string(prefixCount)+string(r.Value)]; ok {
			t.Errorf("counter holds an event of the failed poll: %s", r.Value)
		}
		if ev, err := eventstopic.ParseValue(r.Value); err == nil && ev.EventType == "NEW" {
			if _, ok, _ := n.cache.Bundle(ev.RID); ok {
				t.Errorf("cache holds %s, of the failed poll", ev.RID)
			}
		}
	}
	for k, v := range before {
		if after[k] != v && !bytes.HasPrefix([]byte(k), prefixOffset) {
			t.Errorf("key %q changed by the failed run", k)
		}
	}
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}

	n = start(t, broker, dir)
	defer n.stop(t)
	n.waitApplied(t, ends)
	n.check(t, evs, ends)
}

// TestRunnerRebuildGivesSameState: a store reset and rebuilt from the log
// holds the very keys and values the incrementally built one held.
func TestRunnerRebuildGivesSameState(t *testing.T) {
	t.Parallel()
	broker := startBroker(t)
	dir := filepath.Join(t.TempDir(), "store")
	var evs []string
	var ends map[int32]int64
	for i := range 3 {
		evs = append(evs, events(i*20, 20)...)
		ends = produce(t, broker, evs[i*20:]...)
		n := start(t, broker, dir)
		n.waitApplied(t, ends)
		n.stop(t)
	}
	n := start(t, broker, dir)
	n.waitApplied(t, ends)
	built := dump(t, n.store)
	n.stop(t)

	if err := Reset(dir); err != nil {
		t.Fatal(err)
	}
	n = start(t, broker, dir)
	defer n.stop(t)
	n.waitApplied(t, ends)
	n.check(t, evs, ends)
	rebuilt := dump(t, n.store)
	if !maps.Equal(built, rebuilt) {
		for k, v := range built {
			if rebuilt[k] != v {
				t.Errorf("key %q: rebuilt %q, built %q", k, rebuilt[k], v)
			}
		}
		for k := range rebuilt {
			if _, ok := built[k]; !ok {
				t.Errorf("key %q only in the rebuilt store", k)
			}
		}
	}
}

// TestRunnerRefusesStoreAheadOfLog: a store that applied records the log no
// longer has (the broker lost its tail, or is another broker) cannot be
// brought in step by reading on; the runner says so instead of dropping the
// log's new records as already applied.
func TestRunnerRefusesStoreAheadOfLog(t *testing.T) {
	t.Parallel()
	broker := startBroker(t)
	dir := filepath.Join(t.TempDir(), "store")
	produce(t, broker, events(0, 3)...)
	s, err := OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCache(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Attach(c, &counter{db: s.db}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply([]Record{{Topic: testTopic, Partition: 1, Offset: 41, Value: []byte(events(0, 1)[0])}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n := start(t, broker, dir)
	select {
	case err := <-n.done:
		if err == nil || !strings.Contains(err.Error(), "rebuild") {
			t.Errorf("runner returned %v, want an error asking for a rebuild", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("runner runs on a store ahead of the log")
		n.cancel()
		<-n.done
	}
	n.store.Close()
}

// TestPartitionReader: the reader starts each partition where it is told
// (the first record where nothing is said) and reports high watermarks.
func TestPartitionReader(t *testing.T) {
	t.Parallel()
	broker := startBroker(t)
	ends := produce(t, broker, events(0, 12)...)
	if want := map[int32]int64{0: 4, 1: 3, 2: 5}; !maps.Equal(ends, want) {
		t.Fatalf("ends %v, want %v", ends, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := NewPartitionReader(ctx, PartitionReaderConfig{
		Brokers: []string{broker},
		Topic:   testTopic,
		Start:   map[int32]kgo.Offset{0: kgo.NewOffset().At(3), 2: kgo.NewOffset().AtEnd()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[int32][]int64{}
	hwm := map[int32]int64{}
	for len(got[0]) < 1 || len(got[1]) < 3 {
		batches, err := r.Poll(ctx)
		if err != nil {
			t.Fatalf("poll: %v (so far %v)", err, got)
		}
		for _, b := range batches {
			if b.Topic != testTopic {
				t.Errorf("batch of topic %q", b.Topic)
			}
			hwm[b.Partition] = b.HighWatermark
			for _, rec := range b.Records {
				if rec.Partition != b.Partition {
					t.Errorf("record of partition %d in the batch of %d", rec.Partition, b.Partition)
				}
				got[b.Partition] = append(got[b.Partition], rec.Offset)
			}
		}
	}
	if want := map[int32][]int64{0: {3}, 1: {0, 1, 2}}; !maps.EqualFunc(got, want, slices.Equal[[]int64]) {
		t.Errorf("offsets read %v, want %v", got, want)
	}
	for p := range got {
		if hwm[p] != ends[p] {
			t.Errorf("high watermark of %d = %d, want %d", p, hwm[p], ends[p])
		}
	}
	if e := r.Ends(); !maps.Equal(e, ends) {
		t.Errorf("Ends() = %v, want %v", e, ends)
	}
}
