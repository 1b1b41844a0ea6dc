package topics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSubscriberConfigValidate(t *testing.T) {
	ok := SubscriberConfig{Brokers: []string{"b:9092"}, ConsumerGroup: "g"}
	tests := []struct {
		name    string
		modify  func(*SubscriberConfig)
		wantErr bool
	}{
		{"ok", func(*SubscriberConfig) {}, false},
		{"latest", func(c *SubscriberConfig) { c.InitialOffset = OffsetLatest }, false},
		{"no brokers", func(c *SubscriberConfig) { c.Brokers = nil }, true},
		{"no group", func(c *SubscriberConfig) { c.ConsumerGroup = "" }, true},
		{"bad initial offset", func(c *SubscriberConfig) { c.InitialOffset = "oldest" }, true},
		{"negative nack sleep", func(c *SubscriberConfig) { c.NackResendSleep = -time.Second }, true},
		{"negative partitions", func(c *SubscriberConfig) { c.Partitions = -1 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.modify(&cfg)
			cfg.setDefaults()
			if err := cfg.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %t", err, tt.wantErr)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		cfg := ok
		cfg.setDefaults()
		if cfg.InitialOffset != OffsetEarliest || cfg.NackResendSleep != DefaultNackResendSleep ||
			cfg.CommitInterval != DefaultCommitInterval || cfg.Partitions != DefaultPartitions ||
			cfg.Propagator == nil || cfg.TopicConfigs["retention.ms"] == nil || *cfg.TopicConfigs["retention.ms"] != "-1" {
			t.Errorf("defaults not applied: %+v", cfg)
		}
	})
}

// publishNumbered publishes n messages with payloads "0".."n-1" in one call,
// all with key (nil key if key is "").
func publishNumbered(t *testing.T, pub message.Publisher, topic, key string, from, n int) []*message.Message {
	t.Helper()
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = message.NewMessage(fmt.Sprintf("%s-%s-%d", topic, key, from+i), []byte(strconv.Itoa(from+i)))
		if key != "" {
			msgs[i].Metadata.Set(RecordKey, key)
		}
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
	return msgs
}

// committedOffset returns the group's committed offset for the partition,
// or -1 if there is none.
func committedOffset(t *testing.T, addr, group, topic string, partition int32) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offsets, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offsets.Lookup(topic, partition)
	if !ok {
		return -1
	}
	return o.At
}

// TestNackRedelivers checks a Nacked message comes back (as a new message
// value) before anything after it on its partition, and that the
// partition then continues in order.
func TestNackRedelivers(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	tests := []struct {
		name  string
		nacks int
	}{
		{"one nack", 1},
		{"three nacks", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := uniqueTopic(t)
			createTopic(t, addr, topic, 1)
			sent := publishNumbered(t, newTestPublisher(t, addr), topic, "", 0, 3)
			ch, err := newTestSubscriber(t, addr, groupFor(t)).Subscribe(context.Background(), topic)
			if err != nil {
				t.Fatal(err)
			}

			var prev *message.Message
			for i := range tt.nacks {
				msg := receive(t, ch, 15*time.Second)
				if msg.UUID != sent[0].UUID {
					t.Fatalf("delivery %d: got %s, want %s again", i, msg.Payload, sent[0].Payload)
				}
				if msg == prev {
					t.Fatal("redelivered the same *message.Message; want a fresh one")
				}
				prev = msg
				msg.Nack()
				select {
				case <-msg.Context().Done():
				case <-time.After(5 * time.Second):
					t.Fatal("message context not cancelled after Nack")
				}
			}
			for _, want := range sent {
				msg := receive(t, ch, 15*time.Second)
				if msg.UUID != want.UUID {
					t.Fatalf("got %s, want %s", msg.Payload, want.Payload)
				}
				msg.Ack()
			}
			expectNothing(t, ch, 300*time.Millisecond)
		})
	}
}

// TestCommitsOnlyAcked acks the first n of m messages, leaves the next one
// unacknowledged and closes: the group's committed offset must be n, and a
// new member of the group must get exactly messages n..m-1.
func TestCommitsOnlyAcked(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	const m = 10
	tests := []struct {
		name string
		n    int
		stop string // how the first subscription ends
	}{
		{"none acked, close", 0, "close"},
		{"four acked, close", 4, "close"},
		{"four acked, context cancelled", 4, "cancel"},
		{"all acked, close", m, "close"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := uniqueTopic(t)
			group := groupFor(t)
			createTopic(t, addr, topic, 1)
			sent := publishNumbered(t, newTestPublisher(t, addr), topic, "", 0, m)

			first := newTestSubscriber(t, addr, group)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := first.Subscribe(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.n {
				msg := receive(t, ch, 15*time.Second)
				if msg.UUID != sent[i].UUID {
					t.Fatalf("got %s, want %s", msg.Payload, sent[i].Payload)
				}
				msg.Ack()
			}
			var held *message.Message
			if tt.n < m {
				held = receive(t, ch, 15*time.Second) // delivered, never acked
			}
			if tt.stop == "cancel" {
				cancel()
				for range ch { // the channel closes once offsets are committed
				}
			} else if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			if held != nil {
				select {
				case <-held.Context().Done():
				default:
					t.Error("the unacked message's context is still live after the subscription ended")
				}
			}
			want := int64(tt.n)
			if tt.n == 0 {
				want = -1 // nothing acked, nothing committed
			}
			if got := committedOffset(t, addr, group, topic, 0); got != want {
				t.Errorf("committed offset = %d, want %d", got, want)
			}

			ch2, err := newTestSubscriber(t, addr, group).Subscribe(context.Background(), topic)
			if err != nil {
				t.Fatal(err)
			}
			for i := tt.n; i < m; i++ {
				msg := receive(t, ch2, 15*time.Second)
				if msg.UUID != sent[i].UUID {
					t.Fatalf("second member got %s, want %s", msg.Payload, sent[i].Payload)
				}
				msg.Ack()
			}
			expectNothing(t, ch2, 500*time.Millisecond)
		})
	}
}

// TestCommitsPeriodically checks acknowledged offsets are committed in the
// background while the subscription runs.
func TestCommitsPeriodically(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	topic := uniqueTopic(t)
	group := groupFor(t)
	createTopic(t, addr, topic, 1)
	publishNumbered(t, newTestPublisher(t, addr), topic, "", 0, 5)
	sub := newTestSubscriber(t, addr, group, func(c *SubscriberConfig) { c.CommitInterval = 100 * time.Millisecond })
	ch, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		receive(t, ch, 15*time.Second).Ack()
	}
	receive(t, ch, 15*time.Second) // the 4th stays unacknowledged
	waitFor(t, 10*time.Second, "offset 3 to be committed", func() bool {
		return committedOffset(t, addr, group, topic, 0) == 3
	})
	time.Sleep(300 * time.Millisecond) // a few more autocommits
	if got := committedOffset(t, addr, group, topic, 0); got != 3 {
		t.Errorf("committed offset = %d after more autocommits, want 3", got)
	}
}

// keysFor returns one key per partition of n that Kafka's partitioner maps
// to that partition.
func keysFor(n int) []string {
	keys := make([]string, n)
	found := 0
	for i := 0; found < n; i++ {
		k := fmt.Sprintf("key-%d", i)
		if p := javaPartition([]byte(k), n); keys[p] == "" {
			keys[p] = k
			found++
		}
	}
	return keys
}

// TestSlowPartitionDoesNotBlockOthers holds one partition's message
// unacknowledged while more than a full queue of records waits behind it
// (so its fetching pauses) and checks the other partition keeps flowing;
// then checks the held partition resumes with nothing lost or duplicated.
func TestSlowPartitionDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	topic := uniqueTopic(t)
	createTopic(t, addr, topic, 2)
	keys := keysFor(2)
	pub := newTestPublisher(t, addr)
	// Twice the high mark in 4 KiB records, so partition 0 pauses.
	const pad = 4096
	const slowN = 2*partitionQueueHigh/pad + 100
	padding := strings.Repeat("p", pad)
	publishSlow := func(from, to int) {
		for i := from; i < to; i += 500 {
			var msgs []*message.Message
			for j := i; j < min(i+500, to); j++ {
				m := message.NewMessage(fmt.Sprint("slow-", j), []byte(strconv.Itoa(j)))
				m.Metadata.Set(RecordKey, keys[0])
				m.Metadata.Set("pad", padding)
				msgs = append(msgs, m)
			}
			if err := pub.Publish(topic, msgs...); err != nil {
				t.Fatal(err)
			}
		}
	}
	publishSlow(0, slowN)

	ch, err := newTestSubscriber(t, addr, groupFor(t)).Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	held := receive(t, ch, 15*time.Second)
	if held.Metadata.Get(RecordKey) != keys[0] || string(held.Payload) != "0" {
		t.Fatalf("first message %s/%s, want %s/0", held.Metadata.Get(RecordKey), held.Payload, keys[0])
	}
	time.Sleep(200 * time.Millisecond) // let partition 0 fill its queue

	// More records for the paused partition: fetched only once it resumes.
	const moreN = 300
	publishSlow(slowN, slowN+moreN)
	const fastN = 50
	publishNumbered(t, pub, topic, keys[1], 0, fastN)
	for i := range fastN {
		msg := receive(t, ch, 15*time.Second)
		if msg.Metadata.Get(RecordKey) != keys[1] || string(msg.Payload) != strconv.Itoa(i) {
			t.Fatalf("got %s/%s while partition 0 is held, want %s/%d", msg.Metadata.Get(RecordKey), msg.Payload, keys[1], i)
		}
		msg.Ack()
	}

	held.Ack()
	for i := 1; i < slowN+moreN; i++ {
		msg := receive(t, ch, 15*time.Second)
		if string(msg.Payload) != strconv.Itoa(i) {
			t.Fatalf("partition 0: got %s, want %d", msg.Payload, i)
		}
		msg.Ack()
	}
	expectNothing(t, ch, 300*time.Millisecond)
}

// TestRebalanceWaitsForInFlight has member A hold one unacknowledged
// message per partition while member B joins. The partition that moves to
// B must not be delivered to B until A's message is acked, and B must then
// start right after it: every message is delivered exactly once, in order
// per partition.
func TestRebalanceWaitsForInFlight(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	topic := uniqueTopic(t)
	group := groupFor(t)
	createTopic(t, addr, topic, 2)
	keys := keysFor(2)
	pub := newTestPublisher(t, addr)
	const perKey = 20
	for _, k := range keys {
		publishNumbered(t, pub, topic, k, 0, perKey)
	}

	chA, err := newTestSubscriber(t, addr, group).Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	heldA := []*message.Message{receive(t, chA, 15*time.Second), receive(t, chA, 15*time.Second)}
	if heldA[0].Metadata.Get(RecordKey) == heldA[1].Metadata.Get(RecordKey) {
		t.Fatal("A got two messages of one partition without acking the first")
	}

	chB, err := newTestSubscriber(t, addr, group).Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	// B joins; the rebalance waits on A's in-flight messages, so B gets
	// nothing, and A nothing more, while they are held.
	select {
	case msg := <-chB:
		t.Fatalf("B got %s/%s while A still holds its partition's message", msg.Metadata.Get(RecordKey), msg.Payload)
	case msg := <-chA:
		t.Fatalf("A got %s/%s before acking", msg.Metadata.Get(RecordKey), msg.Payload)
	case <-time.After(time.Second):
	}

	next := map[string]int{} // next expected payload per key
	for _, m := range heldA {
		if string(m.Payload) != "0" {
			t.Fatalf("held %s, want 0", m.Payload)
		}
		next[m.Metadata.Get(RecordKey)] = 1
		m.Ack()
	}
	byMember := map[string]int{}
	for received := 2; received < 2*perKey; received++ {
		var msg *message.Message
		var who string
		select {
		case msg = <-chA:
			who = "A"
		case msg = <-chB:
			who = "B"
		case <-time.After(15 * time.Second):
			t.Fatalf("stuck after %d of %d messages (%v)", received, 2*perKey, next)
		}
		k := msg.Metadata.Get(RecordKey)
		if string(msg.Payload) != strconv.Itoa(next[k]) {
			t.Fatalf("%s got %s/%s, want %s/%d (a duplicate or a gap)", who, k, msg.Payload, k, next[k])
		}
		next[k]++
		byMember[who]++
		msg.Ack()
	}
	if byMember["B"] == 0 {
		t.Error("no partition moved to B")
	}
	for _, ch := range []<-chan *message.Message{chA, chB} {
		expectNothing(t, ch, 300*time.Millisecond)
	}
}

// TestSubscriberClose checks Close ends every subscription, cancels the
// in-flight messages' contexts, is idempotent and concurrent-safe, and
// refuses new subscriptions.
func TestSubscriberClose(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	topic := uniqueTopic(t)
	createTopic(t, addr, topic, 2)
	publishNumbered(t, newTestPublisher(t, addr), topic, "", 0, 10)

	sub := newTestSubscriber(t, addr, groupFor(t))
	var chans []<-chan *message.Message
	for range 3 {
		// Three members of one group over two partitions: one member may
		// get none, and must close just the same.
		ch, err := sub.Subscribe(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	var held *message.Message
	select {
	case held = <-chans[0]:
	case held = <-chans[1]:
	case held = <-chans[2]:
	case <-time.After(15 * time.Second):
		t.Fatal("no message within 15s")
	}

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := sub.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	wg.Wait()
	for _, ch := range chans {
		for range ch { // drains whatever was being delivered, then must close
		}
	}
	if held.Context().Err() == nil {
		t.Error("in-flight message context not cancelled by Close")
	}
	if _, err := sub.Subscribe(context.Background(), topic); !errors.Is(err, ErrSubscriberClosed) {
		t.Errorf("subscribe after close = %v, want ErrSubscriberClosed", err)
	}
}

// TestSubscribeInitialize checks topics are created once, with the
// configured partitions, and that an existing topic is left alone.
func TestSubscribeInitialize(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	topic := uniqueTopic(t)
	sub := newTestSubscriber(t, addr, "g", func(c *SubscriberConfig) { c.Partitions = 3 })
	for range 2 {
		if err := sub.SubscribeInitialize(topic); err != nil {
			t.Fatal(err)
		}
	}
	other := newTestSubscriber(t, addr, "g", func(c *SubscriberConfig) { c.Partitions = 5 })
	if err := other.SubscribeInitialize(topic); err != nil {
		t.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details[topic].Partitions); n != 3 {
		t.Errorf("topic has %d partitions, want 3", n)
	}
	cfgs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && (c.Value == nil || *c.Value != "-1") {
			t.Errorf("retention.ms = %v, want -1", c.MaybeValue())
		}
	}
}

// newUnitSubscription returns a subscription whose client never connects,
// for driving partition workers directly.
func newUnitSubscription(t *testing.T) (*subscription, context.CancelFunc) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	s, err := NewSubscriber(SubscriberConfig{Brokers: []string{"127.0.0.1:1"}, ConsumerGroup: "g", NackResendSleep: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &subscription{
		s: s, topic: "t", ctx: ctx, client: cl,
		out:     make(chan *message.Message),
		workers: map[int32]*partitionWorker{},
	}, cancel
}

// TestWorkerStop drives one partition worker through the ways it can be
// stopped while a message is in flight or waiting to be delivered: a revoke
// waits for the in-flight message to be settled, a loss or the end of the
// subscription does not, and nothing is delivered after a stop.
func TestWorkerStop(t *testing.T) {
	tests := []struct {
		name     string
		deliver  bool   // read the first message, so it is in flight
		stop     string // "revoke", "lost" or "end"
		settle   string // "ack", "nack" or "" (never), after the stop began
		wantWait bool   // the stop waits for the settlement
	}{
		{"revoke waits for ack", true, "revoke", "ack", true},
		{"revoke waits for nack and does not redeliver", true, "revoke", "nack", true},
		{"revoke does not wait for an undelivered message", false, "revoke", "", false},
		{"lost abandons the in-flight message", true, "lost", "", false},
		{"subscription end abandons the in-flight message", true, "end", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, endSub := newUnitSubscription(t)
			sub.mu.Lock()
			w := sub.startWorkerLocked(sub.client, 0)
			sub.mu.Unlock()
			w.enqueue([]*kgo.Record{
				{Topic: "t", Partition: 0, Offset: 0, Value: []byte("0")},
				{Topic: "t", Partition: 0, Offset: 1, Value: []byte("1")},
			})
			var inFlight *message.Message
			if tt.deliver {
				inFlight = receive(t, sub.out, 5*time.Second)
			}

			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				switch tt.stop {
				case "revoke":
					sub.stopWorkers([]int32{0}, false)
				case "lost":
					sub.stopWorkers([]int32{0}, true)
				case "end":
					endSub()
					sub.stopWorkers(nil, true)
				}
			}()
			if tt.wantWait {
				select {
				case <-stopped:
					t.Fatal("the stop returned while the message was in flight")
				case <-time.After(200 * time.Millisecond):
				}
				switch tt.settle {
				case "ack":
					inFlight.Ack()
				case "nack":
					inFlight.Nack()
				}
			}
			select {
			case <-stopped:
			case <-time.After(5 * time.Second):
				t.Fatal("the stop did not return")
			}
			if inFlight != nil && inFlight.Context().Err() == nil {
				t.Error("the in-flight message's context is live after the stop")
			}
			expectNothing(t, sub.out, 100*time.Millisecond)
		})
	}
}
