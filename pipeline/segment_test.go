package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline/telemetry"
	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/dead"
	"github.com/koistream/koistream/topics/topicstest"
)

// These tests run a segment as the node wires it (buildChains and
// buildSegments: the stage chain inside the dead-letter, retry and
// recoverer middlewares, on a TxnConsumer) against the embedded broker,
// and hold its runner to docs/ARCHITECTURE.md, "Stages" and "Delivery
// guarantees": a poll whose handling fails is aborted, leaves nothing a
// read_committed reader sees and is handled again; an instance that dies
// mid-transaction is fenced by its successor and its outputs never appear;
// a stage error sends the input to the dead topic in the poll's
// transaction and the poll goes on; stage state follows its partition to
// another instance through the changelog.

// countName is the stateful test stage: for an input k it emits "k#n",
// where n counts the inputs with payload k seen so far, kept in its State.
const countName = "count"

type countStage struct{ state stages.State }

func (countStage) Name() string { return countName }

func (c countStage) Process(ctx context.Context, m *message.Message) ([]*message.Message, error) {
	v, _, err := c.state.Get(ctx, m.Payload)
	if err != nil {
		return nil, err
	}
	n := 1
	if len(v) > 0 {
		if n, err = strconv.Atoi(string(v)); err != nil {
			return nil, err
		}
		n++
	}
	if err := c.state.Set(ctx, m.Payload, []byte(strconv.Itoa(n))); err != nil {
		return nil, err
	}
	out := message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, "%s#%d", m.Payload, n))
	out.Metadata.Set(topics.RecordKey, m.Metadata.Get(topics.RecordKey))
	return []*message.Message{out}, nil
}

// tagName is the test stage: it turns a payload p into "out:p", keyed like
// its input, and fails on payloads that start with "bad" (permanently) or
// "flaky" (an error retrying does not cure).
const tagName = "tag"

type tagStage struct{}

func (tagStage) Name() string { return tagName }

func (tagStage) Process(_ context.Context, m *message.Message) ([]*message.Message, error) {
	switch p := string(m.Payload); {
	case strings.HasPrefix(p, "bad"):
		return nil, stages.Permanent(fmt.Errorf("tag: refuses %q", p))
	case strings.HasPrefix(p, "flaky"):
		return nil, fmt.Errorf("tag: cannot handle %q yet", p)
	}
	out := message.NewMessage(watermill.NewUUID(), append([]byte("out:"), m.Payload...))
	out.Metadata.Set(topics.RecordKey, m.Metadata.Get(topics.RecordKey))
	return []*message.Message{out}, nil
}

// holdName is the test stage that passes payloads on as tagStage does,
// but holds the payload "hold" until the test releases it: a poll caught
// mid-way by whatever the test does meanwhile.
const holdName = "hold"

type holdStage struct{ holding, release chan struct{} }

func (holdStage) Name() string { return holdName }

func (h holdStage) Process(ctx context.Context, m *message.Message) ([]*message.Message, error) {
	if string(m.Payload) == "hold" {
		close(h.holding)
		<-h.release
	}
	return tagStage{}.Process(ctx, m)
}

// testSegment is a node reduced to one segment, raw → observed through
// the given test stage, under its own topic prefix.
type testSegment struct {
	addr  string
	names topics.Names
	group string
	db    *pebble.DB
	hold  holdStage // the hold stage's channels, when it is placed
	*segmentRunner
	closed func() // tells the cleanup the database is closed
}

// closeState closes the segment's stage state database, as a node that
// stopped does, so another segment can open the same folder.
func (s *testSegment) closeState(t *testing.T) {
	t.Helper()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s.closed()
}

// newTestSegment builds the segment of a node with topic prefix prefix on
// the broker at addr, with its stage state in dataDir. Two segments built
// with one prefix are the same segment of two node runs, or of two
// instances when their data folders differ: they share topics, consumer
// group and changelogs.
func newTestSegment(t *testing.T, addr, prefix, dataDir string, stage ...string) *testSegment {
	t.Helper()
	reg := stages.NewRegistry()
	if err := reg.Register(tagName, func(stages.Deps, stages.Config) (stages.Stage, error) { return tagStage{}, nil }); err != nil {
		t.Fatal(err)
	}
	hold := holdStage{holding: make(chan struct{}), release: make(chan struct{})}
	if err := reg.Register(holdName, func(stages.Deps, stages.Config) (stages.Stage, error) { return hold, nil }); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(countName, func(d stages.Deps, _ stages.Config) (stages.Stage, error) {
		st, err := d.OpenState()
		return countStage{st}, err
	}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	n := &Node{
		cfg: Config{
			TopicPrefix: prefix,
			Segments:    []stages.Segment{{Name: "test", From: "raw", To: "observed", Stages: stages.Specs(stage...)}},
			Registry:    reg,
		},
		log:   log,
		names: topics.NewNames(prefix),
		kafka: []string{addr},
	}
	var err error
	if n.tel, err = telemetry.Setup(context.Background(), telemetry.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.tel.Shutdown(context.Background()) })
	if n.state, err = pebble.Open(filepath.Join(dataDir, "stages"), &pebble.Options{Logger: quietPebble{}}); err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = n.state.Close()
		}
	})
	if n.instance, err = instanceID(dataDir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
	defer cancel()
	if err := topics.EnsureTopics(ctx, n.kafka, n.names.All(), 2); err != nil {
		t.Fatal(err)
	}
	chains, states, err := n.buildChains()
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(topicstest.Client(t, addr))
	n.admin = adm
	if err := ensureChangelogs(ctx, adm, n.names.Raw, states[0].spaces); err != nil {
		t.Fatal(err)
	}
	if err := n.buildSegments(watermill.NopLogger{}, chains, states); err != nil {
		t.Fatal(err)
	}
	return &testSegment{addr: addr, names: n.names, group: n.groupOf("test"), db: n.state, hold: hold, segmentRunner: n.segments[0],
		closed: func() { closed = true }}
}

// quietPebble drops Pebble's logs; its fatal errors still fail loudly.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// run runs the segment's consumer with h until the returned stop is called
// or the test ends. mayFail says whether Run may return an error (an
// instance fenced by its successor).
func (s *testSegment) run(t *testing.T, h topics.TxnHandler, mayFail bool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.consumer.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !mayFail {
					t.Errorf("segment %s: %v", s.name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("segment %s did not stop within 30s", s.name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// input appends records with the given payloads to partition p of the
// segment's input topic, keyed by payload, and returns them with their
// offsets.
func (s *testSegment) input(t *testing.T, p int32, payloads ...string) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, len(payloads))
	for i, v := range payloads {
		recs[i] = &kgo.Record{Topic: s.names.Raw, Partition: p, Key: []byte(v), Value: []byte(v)}
	}
	topicstest.Produce(t, s.addr, recs...)
	return recs
}

// outputs returns how often each payload is in the segment's output topic,
// as a read_committed reader sees it.
func (s *testSegment) outputs(t *testing.T) map[string]int {
	t.Helper()
	return count(topicstest.ReadAll(t, s.addr, s.names.Observed))
}

func count(recs []*kgo.Record) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		out[string(r.Value)]++
	}
	return out
}

// waitCommitted waits until the segment's group has committed the end of
// every partition of its input topic.
func (s *testSegment) waitCommitted(t *testing.T) {
	t.Helper()
	ends := topicstest.EndOffsets(t, s.addr, s.names.Raw)
	for p, o := range ends {
		if o == 0 {
			delete(ends, p)
		}
	}
	topicstest.WaitFor(t, 30*time.Second, "the input committed to its end", func() bool {
		return maps.Equal(topicstest.Committed(t, s.addr, s.group, s.names.Raw), ends)
	})
}

// failingHandler handles polls as the segment does, but fails the first
// failures of them after their outputs were produced into the transaction,
// as a publish that failed half-way would. The last failing poll waits,
// before it fails, until the test has looked at the segment.
type failingHandler struct {
	*segmentRunner
	failures    int32
	calls       atomic.Int32
	lastFailure chan struct{}
	checked     chan struct{}
}

var errHandle = errors.New("handling failed (test)")

func (h *failingHandler) Handle(ctx context.Context, txn *topics.Txn, batches []topics.Batch) error {
	if err := h.segmentRunner.Handle(ctx, txn, batches); err != nil {
		return err
	}
	if err := txn.Flush(ctx); err != nil {
		return err
	}
	if n := h.calls.Add(1); n <= h.failures {
		if n == h.failures {
			close(h.lastFailure)
			<-h.checked
		}
		return errHandle
	}
	return nil
}

// TestSegmentAbortsAPollWhoseHandlingFailed: while handling a poll fails,
// nothing of it is committed and its outputs, though produced, stay
// invisible to read_committed readers; once it succeeds every input's
// output is there exactly once, with one or several partitions per poll.
func TestSegmentAbortsAPollWhoseHandlingFailed(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	tests := []struct {
		name       string
		partitions int32
		failures   int32
	}{
		{"one partition, two failed polls", 1, 2},
		{"two partitions, one failed poll", 2, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSegment(t, addr, fmt.Sprintf("abort%d.", i), t.TempDir(), tagName)
			var want []string
			for p := range tt.partitions {
				for _, r := range s.input(t, p, fmt.Sprintf("p%d-a", p), fmt.Sprintf("p%d-b", p), fmt.Sprintf("p%d-c", p)) {
					want = append(want, "out:"+string(r.Value))
				}
			}
			h := &failingHandler{segmentRunner: s.segmentRunner, failures: tt.failures,
				lastFailure: make(chan struct{}), checked: make(chan struct{})}
			s.run(t, h, false)
			select {
			case <-h.lastFailure:
			case <-time.After(30 * time.Second):
				t.Fatalf("%d polls handled within 30s, want %d failing ones", h.calls.Load(), tt.failures)
			}
			hd, c := s.consumer.Handled(), topicstest.Committed(t, addr, s.group, s.names.Raw)
			close(h.checked)
			if len(hd) != 0 || len(c) != 0 {
				t.Errorf("while handling fails: Handled() = %v and committed %v, want nothing", hd, c)
			}
			s.waitCommitted(t)

			got := s.outputs(t)
			for _, w := range want {
				if got[w] != 1 {
					t.Errorf("output %q appears %d times, want once", w, got[w])
				}
			}
			if len(got) != len(want) {
				t.Errorf("output topic holds %v, want only %v", got, want)
			}
			// The failed polls did produce their outputs: a reader that
			// ignores transactions sees them more than once.
			raw := count(topicstest.ReadAllUncommitted(t, addr, s.names.Observed))
			if n := raw[want[0]]; n < 2 {
				t.Errorf("read_uncommitted sees %q %d times, want the aborted copies too (at least 2)", want[0], n)
			}
		})
	}
}

// blockingHandler handles the first poll as the segment does, then blocks
// before the transaction ends, as a process that dies mid-transaction:
// its outputs are in the log, uncommitted.
type blockingHandler struct {
	*segmentRunner
	once    sync.Once
	handled chan struct{}
	release chan struct{}
}

func (h *blockingHandler) Handle(ctx context.Context, txn *topics.Txn, batches []topics.Batch) error {
	if err := h.segmentRunner.Handle(ctx, txn, batches); err != nil {
		return err
	}
	if err := txn.Flush(ctx); err != nil {
		return err
	}
	h.once.Do(func() {
		close(h.handled)
		<-h.release
	})
	return nil
}

// TestSegmentZombieIsFenced: a consumer that stalls mid-transaction (its
// outputs produced, nothing committed) while another takes over under the
// same transactional ID is fenced: its outputs never become visible, the
// new one produces every output once, and the stalled one, when it wakes,
// cannot commit. (A node uses a new transactional ID per run, see bootID;
// this holds the TxnConsumer to Kafka's fencing all the same.)
func TestSegmentZombieIsFenced(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const prefix = "zombie."
	dir := t.TempDir()
	first := newTestSegment(t, addr, prefix, dir, tagName)
	inputs := append(first.input(t, 0, "a", "b"), first.input(t, 1, "c")...)
	h := &blockingHandler{segmentRunner: first.segmentRunner, handled: make(chan struct{}), release: make(chan struct{})}
	stopFirst := first.run(t, h, true)
	select {
	case <-h.handled:
	case <-time.After(30 * time.Second):
		t.Fatal("the first run never handled a poll")
	}
	if n := len(topicstest.ReadAllUncommitted(t, addr, first.names.Observed)); n == 0 {
		t.Fatal("the first run produced nothing into its transaction")
	}

	// The same transactional ID (a copy of the data folder's instance ID,
	// since the blocked run still holds the folder's Pebble).
	// Its group membership is new; the old member is still in the group,
	// blocked, so the join waits for it to leave: release it once the new
	// producer has fenced it.
	dir2 := t.TempDir()
	id, err := os.ReadFile(filepath.Join(dir, instanceIDFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, instanceIDFile), id, 0o644); err != nil {
		t.Fatal(err)
	}
	second := newTestSegment(t, addr, prefix, dir2, tagName)
	go func() {
		time.Sleep(500 * time.Millisecond)
		close(h.release)
		stopFirst()
	}()
	second.run(t, second.segmentRunner, false)
	second.waitCommitted(t)
	got := second.outputs(t)
	for _, r := range inputs {
		if out := "out:" + string(r.Value); got[out] != 1 {
			t.Errorf("output %q appears %d times, want once", out, got[out])
		}
	}
}

// TestSegmentStateFollowsItsPartition: a stateful stage's state is written
// to its changelog with the outputs, so an instance that takes a partition
// over (with its own, empty data folder) continues from the state the
// previous owner committed, and an owner that returns with its old data
// folder catches up from its checkpoint: the counts continue without a
// repeat or a gap.
func TestSegmentStateFollowsItsPartition(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const prefix = "moves."
	dirA, dirB := t.TempDir(), t.TempDir()

	a := newTestSegment(t, addr, prefix, dirA, countName)
	a.input(t, 0, "k", "k")
	a.input(t, 1, "j")
	stop := a.run(t, a.segmentRunner, false)
	a.waitCommitted(t)
	stop()
	a.closeState(t)

	b := newTestSegment(t, addr, prefix, dirB, countName)
	b.input(t, 0, "k")
	b.input(t, 1, "j", "j")
	stop = b.run(t, b.segmentRunner, false)
	b.waitCommitted(t)
	stop()

	// Back to A's data folder: its checkpoint is behind what B wrote.
	a2 := newTestSegment(t, addr, prefix, dirA, countName)
	a2.input(t, 0, "k")
	a2.run(t, a2.segmentRunner, false)
	a2.waitCommitted(t)

	got := a2.outputs(t)
	want := map[string]int{"k#1": 1, "k#2": 1, "k#3": 1, "k#4": 1, "j#1": 1, "j#2": 1, "j#3": 1}
	if !maps.Equal(got, want) {
		t.Errorf("outputs %v, want %v", got, want)
	}
}

// TestSegmentSendsStageErrorsToDeadAndGoesOn: an input a stage fails on,
// permanently or after the retries, goes to the dead topic unchanged with
// a failure dead.Parse reads (stage, segment, where the input was), and the
// inputs after it are processed and committed as usual.
func TestSegmentSendsStageErrorsToDeadAndGoesOn(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	tests := []struct {
		name, failing string
	}{
		{"permanent error", "bad-1"},
		{"error that survives the retries", "flaky-1"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSegment(t, addr, fmt.Sprintf("dead%d.", i), t.TempDir(), tagName)
			recs := s.input(t, 0, "before", tt.failing, "after")
			s.input(t, 1, "other")
			s.run(t, s.segmentRunner, false)
			s.waitCommitted(t)

			got := s.outputs(t)
			for _, want := range []string{"out:before", "out:after", "out:other"} {
				if got[want] != 1 {
					t.Errorf("output %q appears %d times, want once", want, got[want])
				}
			}
			if n := got["out:"+tt.failing]; n != 0 {
				t.Errorf("the failed input has %d outputs, want none", n)
			}

			deadRecs := topicstest.ReadAll(t, addr, s.names.Dead)
			if len(deadRecs) != 1 {
				t.Fatalf("dead topic holds %d records, want the failed input", len(deadRecs))
			}
			d, in := deadRecs[0], recs[1]
			if string(d.Value) != string(in.Value) || string(d.Key) != string(in.Key) {
				t.Errorf("dead record %q=%q, want the input %q=%q unchanged", d.Key, d.Value, in.Key, in.Value)
			}
			msg := message.NewMessage(watermill.NewUUID(), d.Value)
			for _, h := range d.Headers {
				msg.Metadata.Set(h.Key, string(h.Value))
			}
			f, err := dead.Parse(msg)
			if err != nil {
				t.Fatalf("dead.Parse: %v", err)
			}
			want := dead.Origin{Topic: s.names.Raw, Partition: in.Partition, Offset: in.Offset}
			if f.Stage != tagName || f.Segment != "test" || f.Origin != want || !strings.Contains(f.Reason, tt.failing) {
				t.Errorf("failure %+v, want stage %q, segment test, origin %+v and a reason naming %q", f, tagName, want, tt.failing)
			}
			if !slices.ContainsFunc(d.Headers, func(h kgo.RecordHeader) bool { return h.Key == dead.HeaderReason }) {
				t.Errorf("dead record lacks the %s header", dead.HeaderReason)
			}
		})
	}
}

// TestSegmentShutdownMidPollLosesNothing stops a segment while a poll is
// being handled. The poll must end as a whole, committed or aborted: the
// messages after the one being processed when the node was told to stop
// went to the dead topic as "context canceled" and their poll committed
// (watermill's Retry middleware fails a message whose context is done
// without calling the handler), so acknowledged deliveries vanished from
// the events topic whenever an instance stopped under load.
func TestSegmentShutdownMidPollLosesNothing(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	dir := t.TempDir()
	s := newTestSegment(t, addr, "shut.", dir, holdName)
	s.input(t, 0, "a", "hold", "b", "c")
	stop := s.run(t, s.segmentRunner, false)
	select {
	case <-s.hold.holding:
	case <-time.After(30 * time.Second):
		t.Fatal("the poll did not reach the held message in 30s")
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(200 * time.Millisecond) // the stop reaches the consumer and its contexts
	close(s.hold.release)
	<-stopped
	s.closeState(t)

	// Whatever the stopped run left is finished by the next run.
	again := newTestSegment(t, addr, "shut.", dir, holdName)
	close(again.hold.release)
	again.run(t, again.segmentRunner, false)
	again.waitCommitted(t)
	if recs := topicstest.ReadAll(t, addr, s.names.Dead); len(recs) != 0 {
		reason := ""
		for _, h := range recs[0].Headers {
			if h.Key == dead.HeaderReason {
				reason = string(h.Value)
			}
		}
		t.Errorf("dead topic holds %d records (first %q: %s), want none: nothing was wrong with them", len(recs), recs[0].Value, reason)
	}
	want := map[string]int{"out:a": 1, "out:hold": 1, "out:b": 1, "out:c": 1}
	if got := again.outputs(t); !maps.Equal(got, want) {
		t.Errorf("outputs %v, want %v", got, want)
	}
}

// TestDeadLetterable: only errors that say something about the record send
// it to the dead topic; an ended context aborts the poll instead.
func TestDeadLetterable(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"stage error", errors.New("tag: refuses it"), true},
		{"permanent stage error", stages.Permanent(errors.New("bad")), true},
		{"shutdown", context.Canceled, false},
		{"shutdown, wrapped", fmt.Errorf("dedupe: %w", context.Canceled), false},
		{"poll out of time", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := deadLetterable(tt.err); got != tt.want {
				t.Errorf("deadLetterable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
