package eventhive

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/koistream/koistream/pipeline/sinkmetrics"
	"github.com/koistream/koistream/topics"
	wire "github.com/koistream/koistream/topics/eventhive"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
)

// Defaults of a sink.
const (
	// DefaultNetwork is the network a sink publishes to and a subscriber
	// listens on.
	DefaultNetwork = "koistream"
	// DefaultChannel is the channel a sink publishes to: EventHive
	// receivers with input_channel github get our events.
	DefaultChannel = "github"
	// DefaultInputChannel is the channel a subscriber listens on.
	DefaultInputChannel = "koistream"
)

// messageRIDType is stages/eventhive.RIDType, repeated here so that the
// sink does not import a stage: the RID type of messages taken in from
// EventHive, which the sink does not echo back to their network.
const messageRIDType = "orn:eventhive.message"

// Filter selects the events a sink publishes. An empty list selects all;
// an event must pass both lists. Immutable after the sink starts.
type Filter struct {
	// RIDTypes are RID types ("orn:github.event", "orn:github.issue");
	// an event is published when its RID is of one of them.
	RIDTypes []string `yaml:"rid_types"`
	// Keys are AMQP topic patterns over the events topic's routing keys
	// ("evt.push.insert", "ent.issue.update"): '*' matches one
	// dot-separated word, '#' zero or more; an event is published when
	// its routing key matches one of them.
	Keys []string `yaml:"keys"`
}

// Validate reports a pattern or RID type that can never match.
func (f Filter) Validate() error {
	for _, t := range f.RIDTypes {
		if t == "" || strings.Contains(t, " ") {
			return fmt.Errorf("filter: rid_types entry %q is not an RID type such as orn:github.event", t)
		}
	}
	for _, k := range f.Keys {
		if k == "" || strings.Contains(k, "..") || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
			return fmt.Errorf("filter: keys entry %q is not a routing-key pattern such as evt.push.* or ent.#", k)
		}
	}
	return nil
}

// Match reports whether the filter selects an event of RID type ridType
// with routing key key.
func (f Filter) Match(ridType, key string) bool {
	if len(f.RIDTypes) > 0 {
		ok := false
		for _, t := range f.RIDTypes {
			ok = ok || t == ridType
		}
		if !ok {
			return false
		}
	}
	if len(f.Keys) == 0 {
		return true
	}
	words := strings.Split(key, ".")
	for _, p := range f.Keys {
		if matchTopic(strings.Split(p, "."), words) {
			return true
		}
	}
	return false
}

// matchTopic is AMQP topic matching of pattern words against key words.
func matchTopic(p, k []string) bool {
	for len(p) > 0 {
		if p[0] == "#" {
			for i := 0; i <= len(k); i++ {
				if matchTopic(p[1:], k[i:]) {
					return true
				}
			}
			return false
		}
		if len(k) == 0 || (p[0] != "*" && p[0] != k[0]) {
			return false
		}
		p, k = p[1:], k[1:]
	}
	return len(k) == 0
}

// EventName returns the EventHive event name of an event with routing key
// key, the last part of the channel it is published on: for events
// ("evt.<name>.insert") the GitHub event name alone ("push",
// "pull_request"); for entities ("ent.<kind>.<op>") the kind and the
// operation ("issue.update", "commit.insert"); other keys unchanged.
// Stable: it depends on the routing key only.
func EventName(key string) string {
	if rest, ok := strings.CutPrefix(key, "evt."); ok {
		if name, ok := strings.CutSuffix(rest, ".insert"); ok {
			return name
		}
		return rest
	}
	if rest, ok := strings.CutPrefix(key, "ent."); ok {
		return rest
	}
	return key
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Network and Channel make the channel names
	// <network>/<channel>/<event>. Default DefaultNetwork and
	// DefaultChannel; topics/eventhive.CheckName holds for both.
	Network, Channel string
	// Secret, when set, signs and encrypts every message.
	Secret string
	// Filter selects the events published.
	Filter Filter
	// Name labels the metrics (the sink's name).
	Name string
	// Logger defaults to slog.Default(); Meter to a no-op meter.
	Logger *slog.Logger
	Meter  metric.Meter
}

func (c *PublisherConfig) setDefaults() {
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.Channel == "" {
		c.Channel = DefaultChannel
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Meter == nil {
		c.Meter = noop.NewMeterProvider().Meter("")
	}
}

// Validate reports whether the configuration is usable.
func (c PublisherConfig) Validate() error {
	if err := wire.CheckName(c.Network); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if err := wire.CheckName(c.Channel); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	return c.Filter.Validate()
}

// Publisher turns events-topic records into EventHive messages and
// PUBLISHes them: the delivering half of a Sink, usable on its own. Safe
// for concurrent use.
type Publisher struct {
	cfg     PublisherConfig
	client  redis.UniversalClient
	codec   *Codec
	metrics *sinkmetrics.Metrics
}

// NewPublisher returns a publisher to client; the caller closes client.
func NewPublisher(client redis.UniversalClient, cfg PublisherConfig) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, client: client, codec: NewCodec(cfg.Secret)}
	var err error
	if p.metrics, err = sinkmetrics.New(cfg.Meter, cfg.Name); err != nil {
		return nil, fmt.Errorf("eventhive sink: %w", err)
	}
	return p, nil
}

// Item is one EventHive message ready to PUBLISH.
type Item struct {
	// Channel is the Redis channel, <network>/<channel>/<event>.
	Channel string
	// Payload is the message on the wire.
	Payload []byte
}

// Encode returns the EventHive message of msg, an events-topic message
// read by a topics consumer (its context holds its topics.Position), and
// false when the filter or the echo rule leaves it out. The message is
//
//	{"rid":..,"event_type":..,"routing_key":..,"manifest":{..},"contents":{..},
//	 "__eventhive__":{"time":<receive time, epoch seconds>,"version":"0.5.0",
//	                  "event":"<network>/<channel>/<event>","id":<uuid>}}
//
// (manifest and contents absent for a FORGET), sealed with the secret when
// one is set. Repeats (events.HeaderRepeat) are left out: they announce
// nothing new. Everything in it is a function of the record, the id a
// name-based UUID (version 5) of its topic, partition and offset, so a
// retry publishes the same message again. Events that came from EventHive
// on the publisher's own network are left out: its members have them. An
// error means msg can never be encoded.
func (p *Publisher) Encode(msg *message.Message) (Item, bool, error) {
	if msg.Metadata.Get(events.HeaderRepeat) == "true" {
		return Item{}, false, nil // a no-op re-announcement for KOI-net targets
	}
	rec, err := events.Parse(msg)
	if err != nil {
		return Item{}, false, err
	}
	ridType, err := koi.RIDType(rec.Observation.RID)
	if err != nil {
		return Item{}, false, err
	}
	if ridType == messageRIDType && strings.HasPrefix(rec.Observation.RID, messageRIDType+":"+p.cfg.Network+wire.Separator) {
		return Item{}, false, nil
	}
	if !p.cfg.Filter.Match(ridType, rec.RoutingKey) {
		return Item{}, false, nil
	}
	v, err := events.ParseValue(rec.Value)
	if err != nil {
		return Item{}, false, err
	}
	pos, ok := topics.PositionFromContext(msg.Context())
	if !ok {
		return Item{}, false, errors.New("eventhive sink: message without a log position")
	}
	event := EventName(rec.RoutingKey)
	if err := wire.CheckEvent(event); err != nil {
		return Item{}, false, err
	}
	channel := wire.Channel(p.cfg.Network, p.cfg.Channel, event)
	b := make([]byte, 0, len(rec.Value)+256)
	b = append(b, `{"rid":`...)
	b = koi.AppendString(b, rec.Observation.RID)
	b = append(b, `,"event_type":`...)
	b = koi.AppendString(b, string(rec.EventType))
	b = append(b, `,"routing_key":`...)
	b = koi.AppendString(b, rec.RoutingKey)
	if v.Manifest != nil {
		b = append(b, `,"manifest":`...)
		b = append(b, v.Manifest...)
	}
	if v.Contents != nil {
		b = append(b, `,"contents":`...)
		b = append(b, v.Contents...)
	}
	b = append(b, `,"`+MetadataKey+`":{"time":`...)
	at := rec.Observation.ReceivedAt
	b = AppendFloat(b, float64(at.Unix())+float64(at.Nanosecond())/1e9)
	b = append(b, `,"version":"`+Version+`","event":`...)
	b = koi.AppendString(b, channel)
	b = append(b, `,"id":"`...)
	b = append(b, positionUUID(pos)...)
	b = append(b, `"}}`...)
	payload, err := p.codec.Seal(b)
	if err != nil {
		return Item{}, false, err
	}
	return Item{Channel: channel, Payload: payload}, true, nil
}

// uuidNamespace is the namespace of the sink's message ids: the UUIDv5 of
// "koistream eventhive sink" in the URL namespace, fixed forever.
var uuidNamespace = func() [16]byte {
	url := [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	return uuidV5(url, "koistream eventhive sink")
}()

// uuidV5 is RFC 9562's name-based UUID with SHA-1.
func uuidV5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

// positionUUID is the id of the message of the record at pos.
func positionUUID(pos topics.Position) string {
	u := uuidV5(uuidNamespace, pos.Topic+"/"+strconv.FormatInt(int64(pos.Partition), 10)+"/"+strconv.FormatInt(pos.Offset, 10))
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// Deliver is a topics.BatchHandler: it encodes every message of batches,
// on every core (topics.MapMessages), and PUBLISHes them in one pipelined
// round trip, returning nil only once Redis accepted every PUBLISH (then
// the consumer may commit them) and an error otherwise (the consumer
// offers the same batches again, which are published again with the same
// ids). Records that can never be encoded are logged, counted as failed
// ("invalid") and skipped, so that one malformed record does not stop the
// sink.
func (p *Publisher) Deliver(ctx context.Context, batches []topics.Batch) error {
	items := topics.MapMessages(batches, 0, func(b *topics.Batch, m *message.Message) (Item, bool) {
		it, ok, err := p.Encode(m)
		if err != nil {
			p.cfg.Logger.Error("event cannot be published to EventHive; skipped", "partition", b.Partition,
				"key", m.Metadata.Get(topics.RecordKey), "err", err)
			p.metrics.AddInvalid(ctx, 1)
			return Item{}, false
		}
		return it, ok
	})
	if len(items) == 0 {
		return nil
	}
	pipe := p.client.Pipeline()
	for _, it := range items {
		pipe.Publish(ctx, it.Channel, it.Payload)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		p.metrics.AddUnconfirmed(ctx, int64(len(items)))
		return fmt.Errorf("eventhive sink: publish %d messages: %w", len(items), err)
	}
	p.metrics.AddDelivered(ctx, int64(len(items)))
	return nil
}

// SinkConfig configures a Sink.
type SinkConfig struct {
	// URL is the Redis URL (redis:// or rediss://, redis.ParseURL).
	// Required.
	URL string
	// Brokers, Group and EventsTopic say what the sink consumes: the
	// events topic, in its own consumer group (its durable position).
	// Required.
	Brokers     []string
	Group       string
	EventsTopic string
	// Publisher configures the messages.
	Publisher PublisherConfig
}

// Validate reports whether the configuration is complete: a URL
// redis.ParseURL reads, the brokers, group and topic, and a valid
// Publisher configuration (its defaults applied).
func (c SinkConfig) Validate() error {
	if _, err := redis.ParseURL(c.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if len(c.Brokers) == 0 || c.Group == "" || c.EventsTopic == "" {
		return errors.New("eventhive sink: brokers, group and events topic are required")
	}
	pc := c.Publisher
	pc.setDefaults()
	return pc.Validate()
}

// Sink is a Publisher fed by a topics.BatchConsumer of the events topic.
// Its methods are safe for concurrent use.
type Sink struct {
	cfg      SinkConfig
	client   *redis.Client
	pub      *Publisher
	consumer *topics.BatchConsumer
}

// NewSink checks cfg and returns the sink; Run starts it. It does not
// connect to Redis: a Redis that is down at start is retried like one that
// goes away later.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	client := redis.NewClient(opts)
	pub, err := NewPublisher(client, cfg.Publisher)
	if err != nil {
		client.Close()
		return nil, err
	}
	bc, err := topics.NewBatchConsumer(topics.BatchConsumerConfig{
		Brokers: cfg.Brokers, Group: cfg.Group, Topic: cfg.EventsTopic, Logger: pub.cfg.Logger,
	})
	if err != nil {
		client.Close()
		return nil, err
	}
	return &Sink{cfg: cfg, client: client, pub: pub, consumer: bc}, nil
}

// Ready reports whether the sink's consumer has joined its group.
func (s *Sink) Ready() bool { return s.consumer.Ready() }

// Run consumes and publishes until ctx ends, then commits what Redis
// accepted, closes the Redis client and returns nil. While Redis is down
// the consumer retries the same poll with a backoff of up to 5 s, so
// nothing is skipped and the rest of the node is not slowed.
func (s *Sink) Run(ctx context.Context) error {
	defer s.client.Close()
	adm, err := kgo.NewClient(kgo.SeedBrokers(s.cfg.Brokers...))
	if err != nil {
		return fmt.Errorf("eventhive sink: %w", err)
	}
	defer adm.Close()
	reg, err := s.pub.metrics.RegisterLag(s.pub.cfg.Meter, func(ctx context.Context) (int64, bool) {
		return s.lag(ctx, kadm.NewClient(adm))
	})
	if err != nil {
		return fmt.Errorf("eventhive sink: %w", err)
	}
	defer func() { _ = reg.Unregister() }()
	return s.consumer.Run(ctx, s.pub.Deliver)
}

// lag is the sink group's lag on the events topic (topics.GroupLag).
func (s *Sink) lag(ctx context.Context, adm *kadm.Client) (int64, bool) {
	return topics.GroupLag(ctx, adm, s.cfg.Group, s.cfg.EventsTopic)
}
