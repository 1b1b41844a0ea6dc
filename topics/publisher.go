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
// Keyed messages (see RecordKey) are partitioned with murmur2 exactly like
// Kafka's Java client, so every Kafka client agrees on where a key lives;
// unkeyed messages stick to one partition per batch and spread over time.
type Publisher struct {
	cfg    PublisherConfig
	client *kgo.Client

	mu       sync.RWMutex // orders Publish's inflight.Add before Close's Wait
	closed   bool
	inflight sync.WaitGroup // Publish calls under way

	// Calls waiting for the next produce; see coalesce.
	qmu   sync.Mutex
	queue []*publishCall
	kick  chan struct{} // capacity 1: the queue is not empty
	stop  chan struct{} // closed by Close once no call is under way
	done  chan struct{} // closed when coalesce returns

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
	opts := append(ProducerOpts(),
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default; idempotency requires it
		kgo.RecordPartitioner(newKeyPartitioner()),
		kgo.ProducerLinger(publisherLinger),
		kgo.WithLogger(kgoLogger{logger}),
	)
	opts = append(opts, cfg.KgoOpts...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("topics publisher: new client for %v: %w", cfg.Brokers, err)
	}
	p := &Publisher{
		cfg:    cfg,
		client: client,
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go p.coalesce()
	return p, nil
}

// publishCall is one Publish call waiting for its records' acknowledgement.
type publishCall struct {
	topic string
	recs  []*kgo.Record
	bytes int        // keys and values
	done  chan error // capacity 1
}

// maxCoalescedBytes bounds the keys and values of calls coalesced into
// one produce. A call with more is not coalesced at all: it is produced at
// once, concurrently with the coalesced produce, as franz-go pipelines
// produce requests. Coalescing large calls measured slower: an appender
// with four goroutines publishing 1,000-record calls took 11-14 s instead
// of 7.5 s for 100,000 records, one produce at a time.
const maxCoalescedBytes = 1 << 20

// coalesce produces the records of queued Publish calls, one ProduceSync
// at a time, each carrying every call queued while the previous one was
// waiting for its acknowledgement.
//
// This is group commit on the client side. Calls produced one by one leave
// franz-go to pipeline them as up to five produce requests on its one
// connection to a broker, and a broker (Kafka, the embedded one) serves a
// connection's requests one at a time, each acknowledged only after its
// own sync to disk; each request then carried a few records and a record
// waited for the syncs of up to five requests ahead of it. Coalesced, the
// records that arrive during one acknowledgement travel in the next
// request together and share its sync: measured with 64 webhook
// connections, the records per produce request rose from about 8 to the
// number of callers waiting.
func (p *Publisher) coalesce() {
	defer close(p.done)
	for {
		select {
		case <-p.kick:
		case <-p.stop:
			return
		}
		for {
			batch := p.takeQueued()
			if len(batch) == 0 {
				break
			}
			p.produce(batch)
		}
	}
}

// queuedCalls reports how many calls wait for the next produce.
func (p *Publisher) queuedCalls() int {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	return len(p.queue)
}

// takeQueued removes and returns the calls to produce next: all queued,
// up to maxCoalescedBytes of keys and values.
func (p *Publisher) takeQueued() []*publishCall {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	n, size := 0, 0
	for n < len(p.queue) && (n == 0 || size+p.queue[n].bytes <= maxCoalescedBytes) {
		size += p.queue[n].bytes
		n++
	}
	batch := slices.Clone(p.queue[:n])
	p.queue = slices.Delete(p.queue, 0, n)
	return batch
}

// produce produces the records of batch in one ProduceSync and answers each
// call with its own first error.
func (p *Publisher) produce(batch []*publishCall) {
	recs := batch[0].recs
	if len(batch) > 1 {
		n := 0
		for _, c := range batch {
			n += len(c.recs)
		}
		recs = make([]*kgo.Record, 0, n)
		for _, c := range batch {
			recs = append(recs, c.recs...)
		}
	}
	res := p.client.ProduceSync(context.Background(), recs...)
	if res.FirstErr() == nil {
		for _, c := range batch {
			c.done <- nil
		}
		return
	}
	failed := make(map[*kgo.Record]error, len(res))
	for _, r := range res {
		if r.Err != nil {
			failed[r.Record] = r.Err
		}
	}
	for _, c := range batch {
		c.done <- firstError(c.topic, c.recs, failed)
	}
}

// Publish produces msgs to topic and returns once the broker has
// acknowledged every one of them (acks=all), or one has failed.
//
// All the messages of a call are enqueued at once and flushed together, so
// they travel in as few produce requests as the partitions allow (one per
// broker), and a single message is sent without lingering. Calls of up
// to 1 MiB of keys and values made while an earlier such produce waits for
// its acknowledgement are coalesced into the next one, so their messages
// share one request and one sync on the broker; each call still gets only
// its own messages' outcome. Larger calls are produced at once. Messages
// that land on the same partition are written in argument order, and a
// call made after another returned is written after it. Publish is not
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

	call := &publishCall{topic: topic, recs: recs, done: make(chan error, 1)}
	for _, r := range recs {
		call.bytes += len(r.Key) + len(r.Value)
	}
	if call.bytes > maxCoalescedBytes {
		// A call this large fills produce requests on its own; franz-go
		// pipelines it with other calls, which coalescing would not.
		go p.produce([]*publishCall{call})
	} else {
		p.qmu.Lock()
		p.queue = append(p.queue, call)
		p.qmu.Unlock()
		select {
		case p.kick <- struct{}{}:
		default: // the coalescer is kicked already
		}
	}

	// Most messages carry a context that cannot end (watermill defaults to
	// context.Background): wait for the acknowledgement only.
	ctx, cancel := mergedDone(msgs)
	if ctx == nil {
		defer p.inflight.Done()
		return <-call.done
	}
	defer cancel()
	select {
	case err := <-call.done:
		p.inflight.Done()
		return err
	case <-ctx.Done():
		select {
		case err := <-call.done: // answered at the same time: report it
			p.inflight.Done()
			return err
		default:
		}
		// The call stays under way (Close waits for it) until answered.
		go func() { <-call.done; p.inflight.Done() }()
		return fmt.Errorf("publish %d messages to %s: stopped waiting for acknowledgement, records may still be written: %w",
			len(msgs), topic, context.Cause(ctx))
	}
}

// firstError returns the error of the first record of recs, in order, that
// failed, wrapped with the topic and the message UUID, or nil.
func firstError(topic string, recs []*kgo.Record, failed map[*kgo.Record]error) error {
	for i, rec := range recs {
		if err, ok := failed[rec]; ok {
			if errors.Is(err, kgo.ErrClientClosed) {
				err = fmt.Errorf("%w: %w", ErrPublisherClosed, err)
			}
			return fmt.Errorf("publish message %s (%d of %d) to %s: %w",
				headerValue(rec, UUIDHeader), i+1, len(recs), topic, err)
		}
	}
	return nil
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
		<-waited // the client is closed, so every queued call has been answered
		close(p.stop)
		<-p.done
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
