package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline/telemetry"
	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/dead"
	"github.com/koistream/koistream/topics/topicstest"
)

// These tests run a segment as the node wires it (buildChains and
// buildSegments: the stage chain inside the dead-letter, retry and
// recoverer middlewares, on a BatchConsumer) against the embedded broker,
// and hold its runner to docs/ARCHITECTURE.md, "Stages" and "Delivery
// guarantees": a poll whose publish fails is offered again and nothing of
// it counts as done; a stage error sends the input to the dead topic and
// the poll goes on; outputs published but not committed are published
// again after a restart (at-least-once).

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

// testSegment is a node reduced to one segment, raw → observed through the
// tag stage, under its own topic prefix.
type testSegment struct {
	addr  string
	names topics.Names
	group string
	*segmentRunner
}

// newTestSegment builds the segment of a node with topic prefix prefix on
// the broker at addr. Two segments built with one prefix are the same
// segment of two node runs: they share topics and consumer group.
func newTestSegment(t *testing.T, addr, prefix string) *testSegment {
	t.Helper()
	reg := stages.NewRegistry()
	if err := reg.Register(tagName, func(stages.Deps, stages.Config) (stages.Stage, error) { return tagStage{}, nil }); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	n := &Node{
		cfg: Config{
			TopicPrefix: prefix,
			Segments:    []stages.Segment{{Name: "test", From: "raw", To: "observed", Stages: stages.Specs(tagName)}},
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
	// Pebble's defaults, quiet: the test stages keep no state and the
	// runner only syncs the WAL.
	if n.state, err = pebble.Open(filepath.Join(t.TempDir(), "stages"), &pebble.Options{Logger: quietPebble{}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.state.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
	defer cancel()
	if err := topics.EnsureTopics(ctx, n.kafka, n.names.All(), 2); err != nil {
		t.Fatal(err)
	}
	if n.pub, err = topics.NewPublisher(topics.PublisherConfig{Brokers: n.kafka}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.pub.Close() })
	chains, err := n.buildChains()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.buildSegments(watermill.NopLogger{}, chains); err != nil {
		t.Fatal(err)
	}
	return &testSegment{addr: addr, names: n.names, group: n.groupOf("test"), segmentRunner: n.segments[0]}
}

// quietPebble drops Pebble's logs; its fatal errors still fail loudly.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// run runs the segment's consumer with handle until the returned stop is
// called or the test ends.
func (s *testSegment) run(t *testing.T, handle topics.BatchHandler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.consumer.Run(ctx, handle) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
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

// outputs returns how often each payload is in the segment's output topic.
func (s *testSegment) outputs(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range topicstest.ReadAll(t, s.addr, s.names.Observed) {
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

// failingPublisher fails the first failures Publish calls without
// publishing anything, then passes calls on. It counts what it passed on.
// The last failing call waits, before it fails, until the test has looked
// at the segment (lastFailure, then checked).
type failingPublisher struct {
	message.Publisher
	failures    int32
	calls       atomic.Int32
	published   atomic.Int64
	lastFailure chan struct{}
	checked     chan struct{}
}

var errPublish = errors.New("publish failed (test)")

func (p *failingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if n := p.calls.Add(1); n <= p.failures {
		if n == p.failures {
			close(p.lastFailure)
			<-p.checked
		}
		return errPublish
	}
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	p.published.Add(int64(len(msgs)))
	return nil
}

// TestSegmentRetriesAPollWhosePublishFailed: while publishing a poll's
// outputs fails, nothing of the poll is marked handled or committed; once
// it succeeds every input's output is in the output topic. With one
// partition the poll is one publish, so each output appears exactly once;
// with two, a partition whose publish succeeded while the other's failed
// is published again with the retried poll (at-least-once), so outputs
// appear at least once and the topic holds exactly what the publisher
// passed on.
func TestSegmentRetriesAPollWhosePublishFailed(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	tests := []struct {
		name       string
		partitions int32
		failures   int32
		exactlyOne bool
	}{
		{"one partition, two failed publishes", 1, 2, true},
		{"two partitions, one failed publish", 2, 1, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestSegment(t, addr, fmt.Sprintf("publish%d.", i))
			var want []string
			for p := range tt.partitions {
				for _, r := range s.input(t, p, fmt.Sprintf("p%d-a", p), fmt.Sprintf("p%d-b", p), fmt.Sprintf("p%d-c", p)) {
					want = append(want, "out:"+string(r.Value))
				}
			}
			pub := &failingPublisher{Publisher: s.pub, failures: tt.failures,
				lastFailure: make(chan struct{}), checked: make(chan struct{})}
			s.pub = pub
			s.run(t, s.handle)
			select {
			case <-pub.lastFailure:
			case <-time.After(30 * time.Second):
				t.Fatalf("%d publish calls within 30s, want %d failing ones", pub.calls.Load(), tt.failures)
			}
			// The last failing publish is under way: the segment cannot have
			// counted anything of the poll as done.
			h, c := s.consumer.Handled(), topicstest.Committed(t, addr, s.group, s.names.Raw)
			close(pub.checked)
			if len(h) != 0 || len(c) != 0 {
				t.Errorf("while publishing fails: Handled() = %v and committed %v, want nothing", h, c)
			}
			s.waitCommitted(t)

			if calls := pub.calls.Load(); calls <= tt.failures {
				t.Fatalf("%d publish calls, want more than the %d that fail", calls, tt.failures)
			}
			got := s.outputs(t)
			total := 0
			for _, w := range want {
				if got[w] == 0 || tt.exactlyOne && got[w] != 1 {
					t.Errorf("output %q appears %d times, want %s", w, got[w], map[bool]string{true: "once", false: "at least once"}[tt.exactlyOne])
				}
			}
			for _, n := range got {
				total += n
			}
			if int64(total) != pub.published.Load() {
				t.Errorf("output topic holds %d records, want the %d the publisher passed on", total, pub.published.Load())
			}
		})
	}
}

// TestSegmentRepublishesAfterACrashBetweenPublishAndCommit documents the
// segment's at-least-once delivery: a node that stops after a poll's
// outputs are published and its stage state synced, but before the offsets
// are committed, has the same inputs processed again by the next run, which
// publishes their outputs again. Consumers of the output topic see each
// output twice and must treat the repeat as a duplicate.
func TestSegmentRepublishesAfterACrashBetweenPublishAndCommit(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const prefix = "crash."
	first := newTestSegment(t, addr, prefix)
	inputs := append(first.input(t, 0, "a", "b"), first.input(t, 1, "c")...)

	published := make(chan struct{})
	var once sync.Once
	stop := first.run(t, func(ctx context.Context, batches []topics.Batch) error {
		if err := first.handle(ctx, batches); err != nil {
			return err
		}
		// Published and synced; the node dies before the consumer may
		// commit.
		once.Do(func() { close(published) })
		<-ctx.Done()
		return ctx.Err()
	})
	select {
	case <-published:
	case <-time.After(30 * time.Second):
		t.Fatal("the first run never published a poll")
	}
	stop()
	if c := topicstest.Committed(t, addr, first.group, first.names.Raw); len(c) != 0 {
		t.Fatalf("committed %v after a crash before the commit, want nothing", c)
	}
	before := first.outputs(t)
	if len(before) == 0 {
		t.Fatal("the first run published nothing")
	}

	second := newTestSegment(t, addr, prefix)
	second.run(t, second.handle)
	second.waitCommitted(t)
	after := second.outputs(t)
	for _, r := range inputs {
		out := "out:" + string(r.Value)
		if after[out] != before[out]+1 {
			t.Errorf("output %q appears %d times after the restart, want %d: once more than the %d before it", out, after[out], before[out]+1, before[out])
		}
	}
	for out := range before {
		if before[out] != 1 {
			t.Errorf("output %q appeared %d times before the crash, want once", out, before[out])
		}
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
			s := newTestSegment(t, addr, fmt.Sprintf("dead%d.", i))
			recs := s.input(t, 0, "before", tt.failing, "after")
			s.input(t, 1, "other")
			s.run(t, s.handle)
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
