package topics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// javaMurmur2 is Kafka's Utils.murmur2, transcribed from the Java client,
// independent of franz-go's implementation.
func javaMurmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// javaPartition is the partition Kafka's Java default partitioner picks for
// a non-nil key: toPositive(murmur2(key)) % partitions.
func javaPartition(key []byte, partitions int) int32 {
	return int32(int(uint32(javaMurmur2(key))&0x7fffffff) % partitions)
}

func TestJavaMurmur2Vectors(t *testing.T) {
	// The vectors of Kafka's UtilsTest.testMurmur2.
	tests := []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := javaMurmur2([]byte(tt.in)); got != tt.want {
				t.Errorf("murmur2(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// TestPublishKeyedPartitioning publishes keyed messages and checks each
// lands on the partition Kafka's Java partitioner, and kgo's, would pick.
func TestPublishKeyedPartitioning(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	const partitions = 8
	tests := []struct {
		name string
		keys []string
	}{
		{"short keys", []string{"", "a", "ab", "abc", "abcd", "abcde"}},
		{"rids", []string{"orn:github.repo:octo/hello", "orn:github.issue:octo/hello:1", "orn:github.pr:octo/hello:2", "orn:github.commit:octo/hello:deadbeef"}},
		{"many", func() []string {
			var ks []string
			for i := range 40 {
				ks = append(ks, fmt.Sprintf("user-%d", i))
			}
			return ks
		}()},
	}
	kgoPartitioner := kgo.StickyKeyPartitioner(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := uniqueTopic(t)
			createTopic(t, addr, topic, partitions)
			pub := newTestPublisher(t, addr)
			want := map[string]int32{}
			var msgs []*message.Message
			for _, k := range tt.keys {
				want[k] = javaPartition([]byte(k), partitions)
				if got := int32(kgoPartitioner.ForTopic(topic).Partition(&kgo.Record{Key: []byte(k)}, partitions)); got != want[k] {
					t.Errorf("kgo partitions key %q to %d, Java to %d", k, got, want[k])
				}
				m := message.NewMessage(k+"-uuid", []byte(k))
				m.Metadata.Set(RecordKey, k)
				msgs = append(msgs, m)
			}
			if err := pub.Publish(topic, msgs...); err != nil {
				t.Fatal(err)
			}

			sub := newTestSubscriber(t, addr, groupFor(t))
			ch, err := sub.Subscribe(context.Background(), topic)
			if err != nil {
				t.Fatal(err)
			}
			for range tt.keys {
				msg := receive(t, ch, 15*time.Second)
				msg.Ack()
				k := msg.Metadata.Get(RecordKey)
				pos, ok := PositionFromContext(msg.Context())
				if !ok {
					t.Fatalf("message %s has no position", msg.UUID)
				}
				if pos.Partition != want[k] {
					t.Errorf("key %q landed on partition %d, want %d", k, pos.Partition, want[k])
				}
			}
		})
	}
}

// TestPublishSubscribeMetadataRoundTrip checks the wire format a plain
// Kafka consumer sees and that the Subscriber turns it back into the
// published message.
func TestPublishSubscribeMetadataRoundTrip(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	tests := []struct {
		name     string
		metadata message.Metadata
		wantKey  []byte
	}{
		{"no key", message.Metadata{"b": "2", "a": "1"}, nil},
		{"key and webhook headers", message.Metadata{
			RecordKey: "delivery-guid", "X-GitHub-Event": "push", "X-GitHub-Delivery": "delivery-guid",
			"content-type": "application/json",
		}, []byte("delivery-guid")},
		{"empty key", message.Metadata{RecordKey: ""}, []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := uniqueTopic(t)
			createTopic(t, addr, topic, 1)
			in := message.NewMessage("uuid-"+topic, []byte(`{"zen":"Keep it logically awesome."}`))
			for k, v := range tt.metadata {
				in.Metadata.Set(k, v)
			}
			if err := newTestPublisher(t, addr).Publish(topic, in); err != nil {
				t.Fatal(err)
			}

			// What any Kafka client sees.
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			fs := cl.PollRecords(ctx, 1)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			rec := fs.Records()[0]
			if (rec.Key == nil) != (tt.wantKey == nil) || string(rec.Key) != string(tt.wantKey) {
				t.Errorf("record key = %q (nil %t), want %q (nil %t)", rec.Key, rec.Key == nil, tt.wantKey, tt.wantKey == nil)
			}
			keys := headerKeys(rec.Headers)
			if keys[0] != UUIDHeader || !slices.IsSorted(keys[1:]) || slices.Contains(keys, RecordKey) {
				t.Errorf("header order %q: want %s first, the rest sorted, no %s", keys, UUIDHeader, RecordKey)
			}

			// What the Subscriber delivers.
			ch, err := newTestSubscriber(t, addr, groupFor(t)).Subscribe(context.Background(), topic)
			if err != nil {
				t.Fatal(err)
			}
			out := receive(t, ch, 15*time.Second)
			out.Ack()
			if !out.Equals(in) {
				t.Errorf("received %s %q %v, want %s %q %v", out.UUID, out.Payload, out.Metadata, in.UUID, in.Payload, in.Metadata)
			}
			pos, ok := PositionFromContext(out.Context())
			if !ok || pos.Topic != topic || pos.Partition != 0 || pos.Offset != 0 || !pos.Timestamp.Equal(rec.Timestamp) {
				t.Errorf("position = %+v, %t; want %s/0@0 at %s", pos, ok, topic, rec.Timestamp)
			}
		})
	}
}

// TestTraceContextRoundTrip publishes inside a span and checks the
// consumer's message context continues that trace.
func TestTraceContextRoundTrip(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	topic := uniqueTopic(t)
	createTopic(t, addr, topic, 2)

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("topics-test")

	ctx, span := tracer.Start(context.Background(), "webhook")
	want := span.SpanContext()
	msg := message.NewMessageWithContext(ctx, "traced", []byte("x"))
	if err := newTestPublisher(t, addr).Publish(topic, msg); err != nil {
		t.Fatal(err)
	}
	span.End()

	ch, err := newTestSubscriber(t, addr, groupFor(t)).Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	got := receive(t, ch, 15*time.Second)
	wantParent := fmt.Sprintf("00-%s-%s-01", want.TraceID(), want.SpanID())
	if tp := got.Metadata.Get("traceparent"); tp != wantParent {
		t.Errorf("traceparent header = %q, want %q", tp, wantParent)
	}
	sc := trace.SpanContextFromContext(got.Context())
	if !sc.IsRemote() || sc.TraceID() != want.TraceID() || sc.SpanID() != want.SpanID() {
		t.Errorf("message span context = %v/%v remote=%t, want %v/%v remote", sc.TraceID(), sc.SpanID(), sc.IsRemote(), want.TraceID(), want.SpanID())
	}
	_, child := tracer.Start(got.Context(), "handle")
	child.End()
	got.Ack()

	spans := rec.Ended()
	last := spans[len(spans)-1]
	if last.Name() != "handle" || last.Parent().SpanID() != want.SpanID() || last.SpanContext().TraceID() != want.TraceID() {
		t.Errorf("consumer span %q has parent %v in trace %v, want parent %v in trace %v",
			last.Name(), last.Parent().SpanID(), last.SpanContext().TraceID(), want.SpanID(), want.TraceID())
	}
}

// batchCounter counts the batches and records the producer writes.
type batchCounter struct{ batches, records atomic.Int64 }

func (c *batchCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	c.batches.Add(1)
	c.records.Add(int64(m.NumRecords))
}

// TestPublishBatchesACall checks the messages of one Publish call travel
// together: 100 messages for one partition are written as one batch, not
// "the first alone, then the rest". A call is only split if enqueueing its
// records outlasts the linger, which a starved CPU can cause, so 1 split in
// 10 calls is tolerated; with no linger, under -race, 4 in 10 split.
func TestPublishBatchesACall(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	topic := uniqueTopic(t)
	createTopic(t, addr, topic, 4)
	var counter batchCounter
	pub, err := NewPublisher(PublisherConfig{Brokers: []string{addr}, KgoOpts: []kgo.Opt{kgo.WithHooks(&counter)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	keyed := func(n int) []*message.Message {
		msgs := make([]*message.Message, n)
		for i := range msgs {
			msgs[i] = message.NewMessage(fmt.Sprint(i), make([]byte, 1024))
			msgs[i].Metadata.Set(RecordKey, "one-key")
		}
		return msgs
	}
	// The first publish loads the topic's metadata.
	if err := pub.Publish(topic, keyed(1)...); err != nil {
		t.Fatal(err)
	}
	total := int64(1)
	const calls = 10
	split := 0
	for range calls {
		// The hook runs after the promises, so wait for it to count every
		// record before comparing.
		waitFor(t, 5*time.Second, "the batch hook", func() bool { return counter.records.Load() == total })
		before := counter.batches.Load()
		if err := pub.Publish(topic, keyed(100)...); err != nil {
			t.Fatal(err)
		}
		total += 100
		waitFor(t, 5*time.Second, "the batch hook", func() bool { return counter.records.Load() == total })
		if got := counter.batches.Load() - before; got != 1 {
			split++
			t.Logf("a 100-message call for one partition went out as %d batches", got)
		}
	}
	if split > 1 {
		t.Errorf("%d of %d calls were split into several batches, want at most 1", split, calls)
	}
}

func TestPublisherClose(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	topic := uniqueTopic(t)
	createTopic(t, addr, topic, 1)
	pub, err := NewPublisher(PublisherConfig{Brokers: []string{addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(topic); err != nil {
		t.Errorf("publishing nothing: %v", err)
	}
	if err := pub.Publish(topic, message.NewMessage("a", nil)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := pub.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	wg.Wait()
	if err := pub.Publish(topic, message.NewMessage("b", nil)); !errors.Is(err, ErrPublisherClosed) {
		t.Errorf("publish after close = %v, want ErrPublisherClosed", err)
	}
}

// TestPublishStopsWaitingWithContext publishes to a broker that is not
// there: Publish must return when the message context ends, and Close must
// give up after CloseTimeout.
func TestPublishStopsWaitingWithContext(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	pub, err := NewPublisher(PublisherConfig{Brokers: []string{dead}, CloseTimeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = pub.Publish("nowhere", message.NewMessageWithContext(ctx, "a", nil), message.NewMessageWithContext(ctx, "b", nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("publish = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("publish returned after %s, want about 300ms", d)
	}
	if err := pub.Close(); err == nil {
		t.Error("close with unacknowledged records returned nil, want an error")
	}
}

func TestPublishWithEndedContextProducesNothing(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	topic := uniqueTopic(t)
	createTopic(t, addr, topic, 1)
	pub := newTestPublisher(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := pub.Publish(topic, message.NewMessage("live", []byte("a")), message.NewMessageWithContext(ctx, "dead", []byte("b")))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("publish = %v, want context.Canceled", err)
	}
	if err := pub.Publish(topic, message.NewMessage("after", []byte("c"))); err != nil {
		t.Fatal(err)
	}
	ch, err := newTestSubscriber(t, addr, groupFor(t)).Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if msg := receive(t, ch, 15*time.Second); msg.UUID != "after" {
		t.Errorf("first record is %s, want after: the failed call produced something", msg.UUID)
	}
}

func TestPublisherConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     PublisherConfig
		wantErr bool
	}{
		{"ok", PublisherConfig{Brokers: []string{"b:9092"}}, false},
		{"no brokers", PublisherConfig{}, true},
		{"negative close timeout", PublisherConfig{Brokers: []string{"b:9092"}, CloseTimeout: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.setDefaults()
			if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %t", err, tt.wantErr)
			}
		})
	}
}

// produceRequestCounter counts the produce requests a client writes.
type produceRequestCounter struct{ n atomic.Int64 }

func (c *produceRequestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 0 && err == nil {
		c.n.Add(1)
	}
}

// TestPublishCoalescesConcurrentCalls: calls made while a produce waits for
// its acknowledgement travel together in the next produce request, and each
// call is answered with its own records' outcome, even when another call in
// the same request fails.
func TestPublishCoalescesConcurrentCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, entered, release := gatedBroker(t, func(int32) error { return nil })
	topic := uniqueTopic(t)
	admin, err := kgo.NewClient(kgo.SeedBrokers(e.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var requests produceRequestCounter
	pub, err := NewPublisher(PublisherConfig{Brokers: []string{e.Addr()}, KgoOpts: []kgo.Opt{kgo.WithHooks(&requests)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// publishHeld starts a Publish and returns once its produce waits for
	// a sync, so the next calls queue behind it.
	publishHeld := func(id string) chan error {
		done := make(chan error, 1)
		go func() { done <- pub.Publish(topic, message.NewMessage(id, []byte(id))) }()
		<-entered
		return done
	}
	// The first produce also lets franz-go pipeline five requests, which
	// is what coalescing has to beat.
	first := publishHeld("first")
	release <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}

	t.Run("calls queued behind a produce share one request", func(t *testing.T) {
		held := publishHeld("held")
		const calls = 20
		errs := make(chan error, calls)
		for i := range calls {
			go func() { errs <- pub.Publish(topic, message.NewMessage(fmt.Sprint("c", i), []byte("v"))) }()
		}
		waitFor(t, 10*time.Second, "the calls to queue", func() bool { return pub.queuedCalls() == calls })
		before := requests.n.Load()
		release <- struct{}{} // the held produce is acknowledged
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		<-entered // the coalesced produce waits for its sync
		release <- struct{}{}
		for range calls {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if got := requests.n.Load() - before; got != 1 {
			t.Errorf("%d calls went out in %d produce requests, want 1", calls, got)
		}
	})
	t.Run("a call over 1 MiB is not held behind the produce under way", func(t *testing.T) {
		held := publishHeld("held-big")
		before := requests.n.Load()
		big := make(chan error, 1)
		// Three records of 400 KB: each under franz-go's 1 MB batch limit.
		go func() {
			big <- pub.Publish(topic, message.NewMessage("big1", make([]byte, 400<<10)),
				message.NewMessage("big2", make([]byte, 400<<10)), message.NewMessage("big3", make([]byte, 400<<10)))
		}()
		// Its produce request goes out while the held one still waits.
		// Not waitFor: on failure the held produce must still be released.
		for deadline := time.Now().Add(10 * time.Second); requests.n.Load() == before && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if requests.n.Load() == before {
			t.Error("the large call waited for the produce under way")
		}
		if n := pub.queuedCalls(); n != 0 {
			t.Errorf("%d calls queued, want the large call produced directly", n)
		}
		release <- struct{}{} // the held produce's sync
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		// The large call may go out as more than one produce request
		// (franz-go splits its batches by partition and size), each waiting
		// for a sync of its own: release syncs until it returns. A fixed
		// count of releases hung here in CI once (15 min timeout).
		for done := false; !done; {
			select {
			case err := <-big:
				if err != nil {
					t.Fatal(err)
				}
				done = true
			case <-entered:
				release <- struct{}{}
			case <-time.After(30 * time.Second):
				t.Fatal("the large call did not return")
			}
		}
	})
	t.Run("a failing call fails alone", func(t *testing.T) {
		held := publishHeld("held2")
		good := make(chan error, 1)
		bad := make(chan error, 1)
		go func() { good <- pub.Publish(topic, message.NewMessage("good", []byte("v"))) }()
		go func() { bad <- pub.Publish(uniqueTopic(t)+"-missing", message.NewMessage("bad", []byte("v"))) }()
		waitFor(t, 10*time.Second, "the calls to queue", func() bool { return pub.queuedCalls() == 2 })
		release <- struct{}{}
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		<-entered // the good record's produce
		release <- struct{}{}
		if err := <-good; err != nil {
			t.Errorf("the call to an existing topic failed with the other: %v", err)
		}
		if err := <-bad; err == nil || !strings.Contains(err.Error(), "bad") {
			t.Errorf("the call to a missing topic = %v, want its own error naming message bad", err)
		}
	})
}
