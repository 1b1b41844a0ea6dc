package eventhive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/dead"
	wire "github.com/koistream/koistream/topics/eventhive"
	"github.com/koistream/koistream/topics/raw"
)

// Reconnection timing of a Subscriber.
const (
	// MinBackoff and MaxBackoff bound the wait before resubscribing after
	// Redis went away (doubling from the one to the other), and before
	// retrying an append to the log that failed.
	MinBackoff = 100 * time.Millisecond
	MaxBackoff = 5 * time.Second
	// PingInterval is how long a subscription may be silent before the
	// subscriber PINGs Redis, so that a connection that died without
	// closing is noticed.
	PingInterval = 15 * time.Second
)

// HeaderRedisChannel is, on a dead record the subscriber wrote, the Redis
// channel the refused message came on (its event part may not be a valid
// event name, which is then the reason).
const HeaderRedisChannel = "koistream-eventhive-redis-channel"

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// URL is the Redis URL (redis.ParseURL). Required.
	URL string
	// Network and InputChannel make the pattern
	// <network>/<input_channel>/*. Default DefaultNetwork and
	// DefaultInputChannel; topics/eventhive.CheckName holds for both.
	Network, InputChannel string
	// Secret, when set, makes the subscriber verify (and decrypt) every
	// message as an EventHive receiver with that secret does.
	Secret string
	// Publisher appends to RawTopic and DeadTopic; a nil error means
	// durable. Required.
	Publisher           message.Publisher
	RawTopic, DeadTopic string
	// Name labels the metrics and dead records (the source's name).
	Name string
	// Logger defaults to slog.Default(); Meter to a no-op meter.
	Logger *slog.Logger
	Meter  metric.Meter
}

func (c *SubscriberConfig) setDefaults() {
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.InputChannel == "" {
		c.InputChannel = DefaultInputChannel
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Meter == nil {
		c.Meter = noop.NewMeterProvider().Meter("")
	}
}

// Validate reports whether the configuration is complete and usable.
func (c SubscriberConfig) Validate() error {
	if err := wire.CheckName(c.Network); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if err := wire.CheckName(c.InputChannel); err != nil {
		return fmt.Errorf("input_channel: %w", err)
	}
	if c.Publisher == nil || c.RawTopic == "" || c.DeadTopic == "" {
		return errors.New("eventhive subscriber: publisher, raw topic and dead topic are required")
	}
	return nil
}

// Subscriber PSUBSCRIBEs to <network>/<input_channel>/* and appends every
// message to the raw topic as a topics/eventhive record, durably before it
// reads the next; a message that is not a JSON object, or on a channel with
// a secret fails to decrypt or verify, goes to the dead topic with the
// reason instead (EventHive drops it silently). When Redis goes away it
// subscribes again with a backoff; messages published meanwhile are lost
// to it, as to every Redis subscriber. Its methods are safe for concurrent
// use.
type Subscriber struct {
	cfg        SubscriberConfig
	opts       *redis.Options
	codec      *Codec
	prefix     string
	subscribed atomic.Bool
	attrs      metric.MeasurementOption

	taken, refused, reconnects metric.Int64Counter
}

// NewSubscriber checks cfg and returns the subscriber; Run starts it.
func NewSubscriber(cfg SubscriberConfig) (*Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	s := &Subscriber{cfg: cfg, opts: opts, codec: NewCodec(cfg.Secret),
		prefix: cfg.Network + wire.Separator + cfg.InputChannel + wire.Separator,
		attrs:  metric.WithAttributes(attribute.String("source", cfg.Name))}
	counter := func(name, desc string) metric.Int64Counter {
		c, e := cfg.Meter.Int64Counter(name, metric.WithDescription(desc))
		err = errors.Join(err, e)
		return c
	}
	s.taken = counter("koistream_eventhive_messages_taken", "EventHive messages appended to the raw topic.")
	s.refused = counter("koistream_eventhive_messages_refused", "EventHive messages sent to the dead topic (not an object, failed decryption or verification, bad channel name).")
	s.reconnects = counter("koistream_eventhive_resubscribes", "Times the EventHive subscriber subscribed again after Redis went away.")
	if err != nil {
		return nil, fmt.Errorf("eventhive subscriber metrics: %w", err)
	}
	return s, nil
}

// Pattern is the PSUBSCRIBE pattern.
func (s *Subscriber) Pattern() string { return wire.Pattern(s.cfg.Network, s.cfg.InputChannel) }

// Subscribed reports whether the subscription is active (Redis confirmed
// it and the connection has not failed since).
func (s *Subscriber) Subscribed() bool { return s.subscribed.Load() }

// Run subscribes and takes messages in until ctx ends, then returns nil.
// Any failure of Redis is retried; Run returns no other error.
func (s *Subscriber) Run(ctx context.Context) error {
	client := redis.NewClient(s.opts)
	defer client.Close()
	backoff := MinBackoff
	for ctx.Err() == nil {
		err := s.session(ctx, client, func() { backoff = MinBackoff })
		s.subscribed.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		s.cfg.Logger.Warn("eventhive subscription lost; subscribing again", "pattern", s.Pattern(), "err", err, "backoff", backoff)
		s.reconnects.Add(ctx, 1, s.attrs)
		if !sleep(ctx, backoff) {
			return nil
		}
		backoff = min(backoff*2, MaxBackoff)
	}
	return nil
}

// session subscribes once and takes messages until the connection fails
// or ctx ends; ok is called once Redis confirmed the subscription.
func (s *Subscriber) session(ctx context.Context, client *redis.Client, ok func()) error {
	ps := client.PSubscribe(ctx, s.Pattern())
	defer ps.Close()
	// go-redis does not end a blocking read when ctx ends: closing the
	// subscription does, so that shutdown does not wait for PingInterval.
	defer context.AfterFunc(ctx, func() { _ = ps.Close() })()
	if _, err := ps.Receive(ctx); err != nil { // the confirmation
		return err
	}
	s.subscribed.Store(true)
	ok()
	for {
		m, err := ps.ReceiveTimeout(ctx, PingInterval)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				if err := ps.Ping(ctx); err != nil {
					return fmt.Errorf("ping: %w", err)
				}
				continue
			}
			return err
		}
		if msg, isMsg := m.(*redis.Message); isMsg {
			if err := s.Take(ctx, msg.Channel, []byte(msg.Payload), time.Now()); err != nil {
				return err // only ctx ending stops Take
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Take appends one message received at at on channel to the raw topic, or
// to the dead topic with the reason when it cannot be taken in, retrying
// the append until it is durable. It returns an error only when ctx ended
// first (the message is then not appended).
func (s *Subscriber) Take(ctx context.Context, channel string, payload []byte, at time.Time) error {
	msg, reason := s.record(channel, payload, at)
	topic := s.cfg.RawTopic
	if reason != nil {
		topic = s.cfg.DeadTopic
		msg = s.deadRecord(channel, payload, at, reason)
		s.cfg.Logger.Warn("eventhive message refused; sent to the dead topic", "channel", channel, "reason", reason)
	}
	backoff := MinBackoff
	for {
		err := s.cfg.Publisher.Publish(topic, msg)
		if err == nil {
			break
		}
		s.cfg.Logger.Error("eventhive message not appended; retrying", "channel", channel, "err", err, "backoff", backoff)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, MaxBackoff)
	}
	if reason != nil {
		s.refused.Add(ctx, 1, s.attrs)
	} else {
		s.taken.Add(ctx, 1, s.attrs)
	}
	return nil
}

// record returns the raw record of a message, or why it cannot be one.
func (s *Subscriber) record(channel string, payload []byte, at time.Time) (*message.Message, error) {
	event, ok := strings.CutPrefix(channel, s.prefix)
	if !ok {
		return nil, fmt.Errorf("channel %.80q is not under %s", channel, s.Pattern())
	}
	body, how, err := s.codec.Open(payload)
	if err != nil {
		return nil, err
	}
	return wire.NewMessage(wire.Input{Network: s.cfg.Network, Channel: s.cfg.InputChannel, Event: event,
		Verification: how, Body: body, ReceivedAt: at})
}

// deadRecord is the dead-topic record of a refused message: the message
// as received, with raw's headers, the channel and the reason.
func (s *Subscriber) deadRecord(channel string, payload []byte, at time.Time, reason error) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), payload)
	m.Metadata = message.Metadata{
		topics.RecordKey:          watermill.NewULID(),
		raw.HeaderSource:          wire.SourceKind,
		raw.HeaderReceivedAt:      at.UTC().Format(time.RFC3339Nano),
		wire.HeaderNetwork:        s.cfg.Network,
		wire.HeaderChannel:        s.cfg.InputChannel,
		HeaderRedisChannel:        channel,
		topics.HeaderPartitionKey: channel,
	}
	dead.Mark(m, dead.Failure{Reason: "source " + s.cfg.Name + ": " + reason.Error(), Stage: "eventhive-intake"})
	return m
}
