package topics

import (
	"fmt"
	"log"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
)

// The conformance suite runs against the embedded broker exactly as
// production runs it (persisted, fsync before acknowledging), on port 0 and
// a per-test temp dir so it can run beside other packages' tests.

// testGroupOpts tunes group timing for tests, as production would tune it
// through SubscriberConfig.KgoOpts. With kgo's defaults (3s heartbeats, 45s
// sessions, 60s rebalances) a member learns of a rebalance up to 3s after
// another member joins, which the rebalance tests would pay on every join;
// with 100ms heartbeats a rebalance completes in well under a second. 6s is
// kfake's (and Kafka's) minimum session timeout. The watermill suite itself
// is not bound by group timing: measured without -race, it takes 11s with
// kgo's defaults and 9-10s with these, most of it TestPublisherClose's
// 10,000 one-message publishes, each waiting for an fsync'd acknowledgement.
func testGroupOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second),
		kgo.RebalanceTimeout(5 * time.Second),
		kgo.FetchMaxWait(time.Second),
	}
}

// testLogger logs errors only: the suite creates thousands of members, and
// their info logs would drown test output.
type testLogger struct{ watermill.NopLogger }

var stderrLog = log.New(os.Stderr, "topics: ", log.LstdFlags|log.Lmicroseconds)

func (testLogger) Error(msg string, err error, fields watermill.LogFields) {
	stderrLog.Printf("ERROR %s: %v %v", msg, err, fields)
}

func (l testLogger) With(watermill.LogFields) watermill.LoggerAdapter { return l }

func newTestPublisher(tb testing.TB, addr string) *Publisher {
	tb.Helper()
	pub, err := NewPublisher(PublisherConfig{
		Brokers:    []string{addr},
		Propagator: propagation.TraceContext{},
	}, testLogger{})
	if err != nil {
		tb.Fatalf("new publisher: %v", err)
	}
	tb.Cleanup(func() { _ = pub.Close() })
	return pub
}

func newTestSubscriber(tb testing.TB, addr, group string, modify ...func(*SubscriberConfig)) *Subscriber {
	tb.Helper()
	cfg := SubscriberConfig{
		Brokers:         []string{addr},
		ConsumerGroup:   group,
		NackResendSleep: 20 * time.Millisecond,
		Propagator:      propagation.TraceContext{},
		KgoOpts:         testGroupOpts(),
	}
	for _, m := range modify {
		m(&cfg)
	}
	sub, err := NewSubscriber(cfg, testLogger{})
	if err != nil {
		tb.Fatalf("new subscriber: %v", err)
	}
	tb.Cleanup(func() { _ = sub.Close() })
	return sub
}

// groupFor names a consumer group after the test: every Publisher/Subscriber
// pair a suite test builds joins the same group (as instances of one
// service would), and tests running in parallel never share a group, so one
// test's members never rebalance another's.
func groupFor(t *testing.T) string {
	return "cg-" + strings.ReplaceAll(t.Name(), "/", "-")
}

func suiteConstructors(addr string) (tests.PubSubConstructor, tests.ConsumerGroupPubSubConstructor) {
	withGroup := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		return newTestPublisher(t, addr), newTestSubscriber(t, addr, group)
	}
	perTest := func(t *testing.T) (message.Publisher, message.Subscriber) {
		return withGroup(t, groupFor(t))
	}
	return perTest, withGroup
}

// TestPubSub runs watermill's universal Pub/Sub suite.
//
// Features, honestly:
//   - ConsumerGroups: true. Every subscription is a group member.
//   - ExactlyOnceDelivery: false. Delivery is at least once: a message
//     delivered but not Acked when its member leaves is delivered again.
//   - GuaranteedOrder: false. Order holds per partition (per key) only; the
//     suite publishes unkeyed messages, which spread over 8 partitions, and
//     checks order across them. The keyed case is TestPubSubKeyedOrder.
//   - Persistent: true. Records and committed offsets are on disk.
//   - NewSubscriberReceivesOldMessages: false here. The suite's new
//     subscribers join the test's group, which has already committed the old
//     messages; a Kafka group member receives only what its group has not
//     consumed. A new *group* does receive old messages (InitialOffset
//     earliest): that is TestPubSubNewGroupReceivesOldMessages.
//   - RestartServiceCommand: none (the broker is in-process), so the suite
//     skips TestReconnect.
func TestPubSub(t *testing.T) {
	addr := startTestBroker(t)
	perTest, withGroup := suiteConstructors(addr)
	tests.TestPubSub(t, tests.Features{
		ConsumerGroups:      true,
		ExactlyOnceDelivery: false,
		GuaranteedOrder:     false,
		Persistent:          true,
	}, perTest, withGroup)
}

// keyByPayload publishes every message keyed by its payload, so messages
// with equal payloads share a partition.
type keyByPayload struct{ message.Publisher }

func (p keyByPayload) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if _, ok := m.Metadata[RecordKey]; !ok {
			m.Metadata.Set(RecordKey, string(m.Payload))
		}
	}
	return p.Publisher.Publish(topic, msgs...)
}

// TestPubSubKeyedOrder runs the suite's ordering tests with GuaranteedOrder
// on, publishing keyed messages: Kafka (and this Subscriber) guarantee order
// per key, which is what the suite then checks, across 10 members of one
// group rebalancing as they join.
func TestPubSubKeyedOrder(t *testing.T) {
	addr := startTestBroker(t)
	features := tests.Features{
		ConsumerGroups:      true,
		ExactlyOnceDelivery: false,
		GuaranteedOrder:     true,
		Persistent:          true,
	}
	keyed := func(t *testing.T) (message.Publisher, message.Subscriber) {
		return keyByPayload{newTestPublisher(t, addr)}, newTestSubscriber(t, addr, groupFor(t))
	}
	for name, fn := range map[string]func(*testing.T, tests.TestContext, tests.PubSubConstructor){
		"TestPublishSubscribeInOrder": tests.TestPublishSubscribeInOrder,
		"TestNoAck":                   tests.TestNoAck,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, tests.TestContext{TestID: tests.NewTestID(), Features: features}, keyed)
		})
	}
}

// TestPubSubNewGroupReceivesOldMessages runs the suite's
// TestNewSubscriberReceivesOldMessages where each new subscriber is a new
// consumer group: with InitialOffset earliest it reads the topic from the
// start.
func TestPubSubNewGroupReceivesOldMessages(t *testing.T) {
	addr := startTestBroker(t)
	var n atomic.Int64
	freshGroup := func(t *testing.T) (message.Publisher, message.Subscriber) {
		return newTestPublisher(t, addr), newTestSubscriber(t, addr, fmt.Sprintf("%s-%d", groupFor(t), n.Add(1)))
	}
	tests.TestNewSubscriberReceivesOldMessages(t, tests.TestContext{
		TestID: tests.NewTestID(),
		Features: tests.Features{
			ConsumerGroups:                   true,
			Persistent:                       true,
			NewSubscriberReceivesOldMessages: true,
		},
	}, freshGroup)
}

// createTopic creates topic with partitions partitions.
func createTopic(t testing.TB, addr, topic string, partitions int) {
	t.Helper()
	sub, err := NewSubscriber(SubscriberConfig{
		Brokers: []string{addr}, ConsumerGroup: "init", Partitions: partitions,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.SubscribeInitialize(topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// receive returns the next message on ch, failing the test after d.
func receive(t *testing.T, ch <-chan *message.Message, d time.Duration) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if !ok {
			t.Fatal("messages channel closed")
		}
		return msg
	case <-time.After(d):
		t.Fatalf("no message within %s", d)
	}
	return nil
}

// expectNothing fails the test if a message arrives on ch within d.
func expectNothing(t *testing.T, ch <-chan *message.Message, d time.Duration) {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if ok {
			t.Fatalf("unexpected message %s (%s)", msg.UUID, msg.Payload)
		}
	case <-time.After(d):
	}
}

// uniqueTopic returns a valid topic name unique to this call.
func uniqueTopic(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 100 {
		name = name[:100]
	}
	return "t-" + name + "-" + watermill.NewShortUUID()
}
