package amqpsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/koistream/koistream/pipeline/sinkmetrics"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
)

// Deps is what a Sink runs with besides its Config.
type Deps struct {
	// Name is the sink's name (its sinks: entry's), the sink attribute of
	// its metrics. Required.
	Name string
	// Brokers, EventsTopic and Group: the Kafka seed brokers, the events
	// topic's full name and the sink's consumer group (its durable
	// position). Required.
	Brokers     []string
	EventsTopic string
	Group       string
	// Getenv reads the variable Config.URLEnv names; os.Getenv's
	// behaviour is the caller's to give. Required.
	Getenv func(string) string
	// Logger defaults to slog.Default(); Meter to a no-op meter.
	Logger *slog.Logger
	Meter  metric.Meter
	// KgoOpts are extra options of the sink's Kafka clients (group
	// timings in tests).
	KgoOpts []kgo.Opt
}

// Sink publishes the events topic to an AMQP exchange; see the package
// documentation. Create it with New and run it with Run.
type Sink struct {
	cfg      Config
	d        Deps
	log      *slog.Logger
	pub      *Publisher
	filter   *compiledFilter
	consumer *topics.BatchConsumer

	metrics *sinkmetrics.Metrics
}

// New checks cfg (Config.Validate) and d and returns the sink. It does not
// connect to RabbitMQ: a broker that is down at start only delays the
// first delivery, as one that goes down later does.
func New(cfg Config, d Deps) (*Sink, error) {
	if d.Getenv == nil {
		return nil, errors.New("amqpsink: Deps.Getenv is required")
	}
	if err := cfg.Validate(d.Getenv); err != nil {
		return nil, err
	}
	if d.Name == "" {
		return nil, errors.New("amqpsink: Deps.Name is required")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Meter == nil {
		d.Meter = noopMeter()
	}
	f, err := compileFilter(cfg.Filter)
	if err != nil {
		return nil, err
	}
	c, err := topics.NewBatchConsumer(topics.BatchConsumerConfig{
		Brokers: d.Brokers, Group: d.Group, Topic: d.EventsTopic, Logger: d.Logger, KgoOpts: d.KgoOpts,
	})
	if err != nil {
		return nil, fmt.Errorf("amqpsink: %w", err)
	}
	s := &Sink{
		cfg: cfg, d: d, log: d.Logger, filter: f, consumer: c,
		pub: NewPublisher(cfg.URI(d.Getenv), cfg.Exchange, cfg.Persistent),
	}
	if s.metrics, err = sinkmetrics.New(d.Meter, d.Name); err != nil {
		return nil, fmt.Errorf("amqpsink: %w", err)
	}
	return s, nil
}

// Run consumes the events topic and publishes it until ctx ends, then
// commits what RabbitMQ confirmed, closes the connection and returns nil.
// Failures to publish are retried, with a backoff, from the sink's
// position; Run returns an error only when it cannot start consuming.
func (s *Sink) Run(ctx context.Context) error {
	adm, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.d.Brokers...)}, s.d.KgoOpts...)...)
	if err != nil {
		return fmt.Errorf("amqpsink: %w", err)
	}
	defer adm.Close()
	reg, err := s.metrics.RegisterLag(s.d.Meter, func(ctx context.Context) (int64, bool) {
		return s.lag(ctx, kadm.NewClient(adm))
	})
	if err != nil {
		return fmt.Errorf("amqpsink: %w", err)
	}
	defer func() { _ = reg.Unregister() }()
	defer func() { _ = s.pub.Close() }()
	s.log.Info("amqp sink started", "exchange", s.cfg.Exchange, "group", s.d.Group)
	return s.consumer.Run(ctx, s.Handle)
}

// lag is the sink group's lag on the events topic (topics.GroupLag).
func (s *Sink) lag(ctx context.Context, adm *kadm.Client) (int64, bool) {
	return topics.GroupLag(ctx, adm, s.d.Group, s.d.EventsTopic)
}

// Ready reports whether the sink's consumer has joined its group.
func (s *Sink) Ready() bool { return s.consumer.Ready() }

// Handle is the sink's topics.BatchHandler: it makes each record of the
// batches a message (Build), leaving out repeats (events.HeaderRepeat: an
// event announced again for KOI-net peers, which is not new activity),
// events the filter does not select and records that cannot be read
// (counted as failed, reason invalid, and logged), publishes them in
// order and returns nil only once RabbitMQ confirmed every one. Each
// message's id is <events topic>/<partition>/<offset>, the same whenever
// the record is sent again.
func (s *Sink) Handle(ctx context.Context, batches []topics.Batch) error {
	type built struct {
		m  Message
		id string
	}
	out := topics.MapMessages(batches, 0, func(b *topics.Batch, wm *message.Message) (built, bool) {
		if wm.Metadata.Get(events.HeaderRepeat) == "true" {
			return built{}, false
		}
		pos, _ := topics.PositionFromContext(wm.Context())
		id := b.Topic + "/" + strconv.FormatInt(int64(b.Partition), 10) + "/" + strconv.FormatInt(pos.Offset, 10)
		rec, err := events.Parse(wm)
		var m Message
		if err == nil {
			if !s.filter.selects(RIDType(rec.Observation.RID), events.GHTorrentKey(rec.RoutingKey)) {
				return built{}, false
			}
			m, err = Build(rec)
		}
		if err != nil {
			s.metrics.AddInvalid(ctx, 1)
			s.log.Error("amqp sink: skipping an events record it cannot publish", "id", id, "err", err)
			return built{}, false
		}
		return built{m, id}, true
	})
	msgs := make([]Message, len(out))
	ids := make([]string, len(out))
	for i, o := range out {
		msgs[i], ids[i] = o.m, o.id
	}
	if len(msgs) == 0 {
		return nil
	}
	n, err := s.pub.Publish(ctx, msgs, ids)
	if n > 0 {
		s.metrics.AddDelivered(ctx, int64(n))
	}
	if err != nil {
		s.metrics.AddUnconfirmed(ctx, int64(len(msgs)-n))
		return err
	}
	return nil
}

func noopMeter() metric.Meter { return noop.NewMeterProvider().Meter("amqpsink") }
