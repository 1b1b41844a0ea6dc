package topics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// DefaultPublisherCloseTimeout is how long Publisher.Close waits for records
// already handed to Publish to be acknowledged when
// PublisherConfig.CloseTimeout is zero.
const DefaultPublisherCloseTimeout = 30 * time.Second

// publisherLinger is the kgo ProducerLinger the Publisher runs with. It
// never delays a Publish call in steady state.
//
// Publish enqueues all the records of a call and then, as
// kgo.Client.ProduceSync does, stops the linger of every partition it wrote
// to, so the records leave as soon as the call has enqueued them: a single
// webhook record is sent at once, with no linger at all. The linger exists
// for calls with many records: with ProducerLinger 0 the first record
// triggers a produce request on its own while the others are still being
// enqueued, and since an idempotent producer has one request in flight per
// broker the rest wait for that round trip (and, on the embedded broker,
// that fsync) before they can go. The linger only has to outlast
// enqueueing one call's records, which a busy CPU or -race slows down.
// Measured on 2 cores, a 100-message call went out as more than one batch
// with linger 0 in 1 of 50 calls, and under -race in 16 of 40 with linger
// 0, 1 of 60 with 5ms and 0 of 60 with 10ms.
// The only records that wait the full linger are those of the first Publish
// to a topic the client has no metadata for yet, which are partitioned when
// the metadata arrives.
const publisherLinger = 10 * time.Millisecond

// ErrPublisherClosed is returned by Publish once Close has been called.
var ErrPublisherClosed = errors.New("topics: publisher is closed")

// PublisherConfig configures a Publisher. The zero value of every optional
// field selects its default.
type PublisherConfig struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// KgoOpts are extra franz-go client options (TLS, SASL, client id,
	// compression, timeouts...). They are applied after the Publisher's own,
	// so they override them; overriding acks, idempotency or the
	// partitioner breaks the guarantees documented on Publish.
	KgoOpts []kgo.Opt
	// Propagator injects the trace context of each message's context into
	// its record's headers. Defaults to otel.GetTextMapPropagator(), which
	// follows whatever otel.SetTextMapPropagator installs, even later.
	Propagator propagation.TextMapPropagator
	// CloseTimeout bounds how long Close waits for records already handed
	// to Publish to be acknowledged before it closes the client anyway,
	// failing them. Defaults to DefaultPublisherCloseTimeout.
	CloseTimeout time.Duration
}

func (c *PublisherConfig) setDefaults() {
	if c.Propagator == nil {
		c.Propagator = otel.GetTextMapPropagator()
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultPublisherCloseTimeout
	}
}

// Validate reports whether the configuration can build a Publisher. It is
// called by NewPublisher after defaults are applied.
func (c PublisherConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("topics publisher: at least one broker is required")
	}
	if c.CloseTimeout < 0 {
		return fmt.Errorf("topics publisher: close timeout must not be negative, got %s", c.CloseTimeout)
	}
	return nil
}

// Publisher is a watermill message.Publisher that produces to Kafka with
// franz-go. It is safe for concurrent use; one Publisher (one kgo client) is
// meant to be shared by everything in a process that publishes, since
// concurrent Publish calls batch together.
//
// Records are produced with acks=all by an idempotent producer, so a
// broker-side retry never duplicates or reorders a partition's records.
// Keyed messages (see MetadataKey) are partitioned with murmur2 exactly like
// Kafka's Java client, so every Kafka client agrees on where a key lives;
// unkeyed messages stick to one partition per batch and spread over time.
type Publisher struct {
	cfg    PublisherConfig
	client *kgo.Client

	mu       sync.RWMutex // orders Publish's inflight.Add before Close's Wait
	closed   bool
	inflight sync.WaitGroup // Publish calls under way

	closeOnce sync.Once
	closeErr  error
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher for cfg. It does not contact the brokers:
// connection problems surface as Publish errors. A nil logger discards logs.
func NewPublisher(cfg PublisherConfig, logger watermill.LoggerAdapter) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default; idempotency requires it
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(publisherLinger),
		kgo.WithLogger(kgoLogger{logger}),
	}
	opts = append(opts, cfg.KgoOpts...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("topics publisher: new client for %v: %w", cfg.Brokers, err)
	}
	return &Publisher{cfg: cfg, client: client}, nil
}

// Publish produces msgs to topic and returns once the broker has
// acknowledged every one of them (acks=all), or one has failed.
//
// All the messages of a call are enqueued at once and flushed together, so
// they travel in as few produce requests as the partitions allow (one per
// broker), and a single message is sent without lingering. Messages that
// land on the same partition are written in argument order. Publish is not
// atomic: if it returns an error, some messages may have been written; the
// error names the first failed message in argument order.
//
// Each message's Context supplies the trace context written to its headers,
// and bounds how long Publish waits. If a context has already ended, Publish
// produces nothing and returns its error. If one ends while Publish waits,
// Publish returns its error at once, but the records stay queued and may
// still be written: an idempotent producer cannot take back a record that
// may have reached the broker, and failing it early would also fail other
// callers' records batched with it.
//
// The topic must exist (see EnsureTopics and
// Subscriber.SubscribeInitialize): Publish does not ask the broker to create
// topics, so a missing topic fails with UNKNOWN_TOPIC_OR_PARTITION after
// about a second of retries, unless KgoOpts include
// kgo.AllowAutoTopicCreation().
//
// Publish is safe for concurrent use. After Close it returns
// ErrPublisherClosed.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if topic == "" {
		return errors.New("topics publisher: publish: empty topic")
	}
	recs := make([]*kgo.Record, len(msgs))
	for i, msg := range msgs {
		if err := msg.Context().Err(); err != nil {
			return fmt.Errorf("publish message %s (%d of %d) to %s: nothing produced: %w",
				msg.UUID, i+1, len(msgs), topic, context.Cause(msg.Context()))
		}
		rec := recordFromMessage(topic, msg, p.cfg.Propagator)
		// Hooks (e.g. kotel) see the message's values, but cancelling the
		// message context must not fail the record: see the doc above.
		rec.Context = context.WithoutCancel(msg.Context())
		recs[i] = rec
	}

	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return fmt.Errorf("publish %d messages to %s: %w", len(msgs), topic, ErrPublisherClosed)
	}
	p.inflight.Add(1)
	p.mu.RUnlock()

	// Most messages carry a context that cannot end (watermill defaults to
	// context.Background): produce inline. Otherwise produce in a goroutine
	// so that the wait can end with the context.
	ctx, cancel := mergedDone(msgs)
	if ctx == nil {
		defer p.inflight.Done()
		return p.firstError(topic, recs, p.client.ProduceSync(context.Background(), recs...))
	}
	defer cancel()
	results := make(chan kgo.ProduceResults, 1)
	go func() {
		defer p.inflight.Done()
		results <- p.client.ProduceSync(context.Background(), recs...)
	}()
	select {
	case res := <-results:
		return p.firstError(topic, recs, res)
	case <-ctx.Done():
		select {
		case res := <-results: // finished at the same time: report it
			return p.firstError(topic, recs, res)
		default:
		}
		return fmt.Errorf("publish %d messages to %s: stopped waiting for acknowledgement, records may still be written: %w",
			len(msgs), topic, context.Cause(ctx))
	}
}

// firstError returns the error of the first record, in argument order, that
// failed, wrapped with the topic and the message UUID.
func (p *Publisher) firstError(topic string, recs []*kgo.Record, res kgo.ProduceResults) error {
	if res.FirstErr() == nil {
		return nil
	}
	failed := make(map[*kgo.Record]error, len(res))
	for _, r := range res {
		if r.Err != nil {
			failed[r.Record] = r.Err
		}
	}
	for i, rec := range recs {
		if err, ok := failed[rec]; ok {
			if errors.Is(err, kgo.ErrClientClosed) {
				err = fmt.Errorf("%w: %w", ErrPublisherClosed, err)
			}
			return fmt.Errorf("publish message %s (%d of %d) to %s: %w",
				headerValue(rec, UUIDHeader), i+1, len(recs), topic, err)
		}
	}
	return fmt.Errorf("publish %d messages to %s: %w", len(recs), topic, res.FirstErr())
}

// Close stops accepting messages, waits up to CloseTimeout for the records
// of Publish calls already under way to be acknowledged, and closes the
// client; anything still unacknowledged then fails, and its Publish returns
// the error. Close is idempotent and safe for concurrent use; every call
// returns the result of the first.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.CloseTimeout)
		defer cancel()
		waited := make(chan struct{})
		go func() { p.inflight.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
			p.closeErr = fmt.Errorf("topics publisher: close: records still unacknowledged after %s: %w", p.cfg.CloseTimeout, ctx.Err())
		}
		if err := p.client.Flush(ctx); err != nil && p.closeErr == nil {
			p.closeErr = fmt.Errorf("topics publisher: close: flush: %w", err)
		}
		p.client.Close()
		<-waited // the client is closed, so every pending promise has fired
	})
	return p.closeErr
}

// mergedDone returns a context that ends when any message context ends, or
// nil if none can end.
func mergedDone(msgs []*message.Message) (context.Context, context.CancelFunc) {
	var ctxs []context.Context
	for _, m := range msgs {
		c := m.Context()
		if c.Done() == nil || slices.Contains(ctxs, c) {
			continue
		}
		ctxs = append(ctxs, c)
	}
	switch len(ctxs) {
	case 0:
		return nil, nil
	case 1:
		return ctxs[0], func() {}
	}
	merged, cancel := context.WithCancelCause(context.Background())
	stops := make([]func() bool, 0, len(ctxs))
	for _, c := range ctxs {
		stops = append(stops, context.AfterFunc(c, func() { cancel(context.Cause(c)) }))
	}
	return merged, func() {
		for _, stop := range stops {
			stop()
		}
		cancel(nil)
	}
}

// headerValue returns the value of the first header named key.
func headerValue(rec *kgo.Record, key string) string {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// kgoLogger routes franz-go's warnings and errors to a watermill logger.
// franz-go logs every rebalance step at info level, which is noise here.
type kgoLogger struct{ l watermill.LoggerAdapter }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	fields := make(watermill.LogFields, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fields[fmt.Sprint(keyvals[i])] = keyvals[i+1]
	}
	switch level {
	case kgo.LogLevelError:
		k.l.Error("kafka client: "+msg, nil, fields)
	case kgo.LogLevelWarn:
		k.l.Info("kafka client: "+msg, fields)
	default:
		k.l.Debug("kafka client: "+msg, fields)
	}
}
