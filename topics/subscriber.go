package topics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Initial offsets a SubscriberConfig accepts: where a consumer group starts
// on a partition it has never committed an offset for.
const (
	// OffsetEarliest starts at the oldest record still in the log. It also
	// decides where to resume if the committed offset is no longer in the
	// log: at the start, so nothing that still exists is skipped.
	OffsetEarliest = "earliest"
	// OffsetLatest starts after the newest record, delivering only records
	// produced from then on; a committed offset no longer in the log
	// resumes at the end.
	OffsetLatest = "latest"
)

// Subscriber defaults, used when the matching SubscriberConfig field is zero.
const (
	// DefaultNackResendSleep is how long a Nacked message waits before it is
	// delivered again.
	DefaultNackResendSleep = 100 * time.Millisecond
	// DefaultCommitInterval is how often acknowledged offsets are committed
	// in the background.
	DefaultCommitInterval = time.Second
	// DefaultCommitTimeout bounds each synchronous commit (on rebalance and
	// on close).
	DefaultCommitTimeout = 10 * time.Second
)

// Bounds of the records fetched ahead and queued for one partition, in
// bytes (see recordSize). When a partition's queue reaches
// partitionQueueHigh its fetching pauses, and it resumes when the queue is
// down to partitionQueueLow, so a partition whose handler is slow (or Nacks
// in a loop) neither holds an unbounded backlog in memory nor stalls
// fetching for the other partitions.
//
// The bounds are bytes, not records, and well above the 1 MiB franz-go
// fetches per partition by default, because pausing is not free: a fetch
// already buffered for a partition when it pauses is dropped and fetched
// again after it resumes. With the high mark near one fetch, a fast
// consumer paused and re-fetched every other fetch (measured: 50-85k msgs/s
// against 110-160k without pausing); with 4 MiB / 1 MiB a fast consumer
// seldom pauses, and a slow one re-fetches at most one fetch per 3 MiB it
// consumes.
const (
	partitionQueueHigh = 4 << 20
	partitionQueueLow  = 1 << 20
)

// recordOverhead approximates the memory a queued record costs beyond its
// key, value and headers (the kgo.Record and its slice headers), so that
// queues of tiny records are bounded too.
const recordOverhead = 256

func recordSize(r *kgo.Record) int {
	n := recordOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// ErrSubscriberClosed is returned by Subscribe once Close has been called.
var ErrSubscriberClosed = errors.New("topics: subscriber is closed")

// SubscriberConfig configures a Subscriber. The zero value of every optional
// field selects its default.
type SubscriberConfig struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// ConsumerGroup is the Kafka consumer group every subscription joins.
	// Required: koistream always consumes in groups, so that instances
	// share partitions and resume from committed offsets.
	ConsumerGroup string
	// InitialOffset is where the group starts on a partition without a
	// committed offset: OffsetEarliest (the default) or OffsetLatest.
	InitialOffset string
	// NackResendSleep is how long a Nacked message waits before it is
	// delivered again. Defaults to DefaultNackResendSleep.
	NackResendSleep time.Duration
	// CommitInterval is how often acknowledged offsets are committed in the
	// background. Defaults to DefaultCommitInterval. Offsets are also
	// committed synchronously when partitions are revoked and on close.
	CommitInterval time.Duration
	// CommitTimeout bounds each synchronous commit. Defaults to
	// DefaultCommitTimeout.
	CommitTimeout time.Duration
	// Partitions is the partition count SubscribeInitialize creates topics
	// with. Defaults to DefaultPartitions.
	Partitions int
	// TopicConfigs are the topic-level configs SubscribeInitialize creates
	// topics with. Nil selects {"retention.ms": "-1"}, the same as
	// EnsureTopics: koistream's topics keep everything, and a topic created
	// here first must not silently get the broker's 7-day retention. Pass an
	// empty non-nil map for the broker defaults.
	TopicConfigs map[string]*string
	// Propagator extracts the trace context from each record's headers
	// into the delivered message's context. Defaults to
	// otel.GetTextMapPropagator(), which follows whatever
	// otel.SetTextMapPropagator installs, even later.
	Propagator propagation.TextMapPropagator
	// KgoOpts are extra franz-go client options, applied after the
	// Subscriber's own: TLS, SASL, and group timing such as
	// kgo.SessionTimeout, kgo.RebalanceTimeout, kgo.HeartbeatInterval and
	// kgo.FetchMaxWait. They must not replace the consumer group, the
	// consumed topics, the commit mode or the partition callbacks, which
	// the delivery guarantees rest on.
	KgoOpts []kgo.Opt
}

func (c *SubscriberConfig) setDefaults() {
	if c.InitialOffset == "" {
		c.InitialOffset = OffsetEarliest
	}
	if c.NackResendSleep == 0 {
		c.NackResendSleep = DefaultNackResendSleep
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.TopicConfigs == nil {
		c.TopicConfigs = TopicConfigs()
	}
	if c.Propagator == nil {
		c.Propagator = otel.GetTextMapPropagator()
	}
}

// Validate reports whether the configuration can build a Subscriber. It is
// called by NewSubscriber after defaults are applied.
func (c SubscriberConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("topics subscriber: at least one broker is required")
	}
	if c.ConsumerGroup == "" {
		return errors.New("topics subscriber: consumer group is required")
	}
	if c.InitialOffset != OffsetEarliest && c.InitialOffset != OffsetLatest {
		return fmt.Errorf("topics subscriber: initial offset must be %q or %q, got %q", OffsetEarliest, OffsetLatest, c.InitialOffset)
	}
	if c.NackResendSleep < 0 {
		return fmt.Errorf("topics subscriber: nack resend sleep must not be negative, got %s", c.NackResendSleep)
	}
	if c.CommitInterval < 0 || c.CommitTimeout < 0 {
		return fmt.Errorf("topics subscriber: commit interval and timeout must not be negative, got %s and %s", c.CommitInterval, c.CommitTimeout)
	}
	if c.Partitions < 1 {
		return fmt.Errorf("topics subscriber: partitions must be at least 1, got %d", c.Partitions)
	}
	return nil
}

func (c SubscriberConfig) startOffset() kgo.Offset {
	if c.InitialOffset == OffsetLatest {
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().AtStart()
}

// Subscriber is a watermill message.Subscriber (and
// message.SubscribeInitializer) that consumes Kafka topics in a consumer
// group with franz-go. It is safe for concurrent use.
//
// Delivery is at least once. Each Subscribe call is one group member (one
// kgo client). Each partition assigned to it is delivered by its own
// goroutine, in offset order, one message at a time: the next message of a
// partition is delivered only after the previous one is Acked. Messages of
// different partitions interleave on the output channel, so order holds per
// partition, i.e. per key (see RecordKey), not across a topic.
//
// A Nacked message is delivered again (as a fresh *message.Message with the
// same UUID, payload and metadata) after NackResendSleep, and nothing after
// it on its partition is delivered first.
//
// Only acknowledged offsets are committed, and never past a message that
// was not Acked: Ack marks the message's offset, marked offsets are
// committed every CommitInterval, and synchronously when partitions are
// revoked and when the subscription ends. A message delivered but not Acked
// when its subscription ends is therefore delivered again to whichever
// member owns its partition next.
//
// Rebalances: before a partition is given up, delivery for it stops, the
// in-flight message of that partition (if any) is waited for until it is
// Acked or Nacked or the subscription ends, the acknowledged offsets are
// committed, and only then does the rebalance proceed; so the next owner
// starts exactly after the last Acked message, and two members never
// process the same partition at once. The group waits for this only up to
// its rebalance timeout (kgo.RebalanceTimeout, 60s by default): a handler
// that holds a message longer than that while its partition is being
// revoked gets its member removed from the group, and the member's
// partitions are then lost.
//
// Lost partitions (the member was fenced out of the group, e.g. after
// missing its session or rebalance timeout) may already belong to another
// member, so they are handled differently: delivery stops at once, the
// in-flight message is abandoned (its context is cancelled and a later Ack
// has no effect) and nothing is committed, since a commit from a fenced
// member would be rejected or could rewind the new owner. The member then
// rejoins the group.
type Subscriber struct {
	cfg    SubscriberConfig
	logger watermill.LoggerAdapter

	ctx    context.Context // cancelled by Close; parent of every subscription
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	subs   sync.WaitGroup // running subscriptions

	closeOnce sync.Once
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber returns a Subscriber for cfg. It does not contact the
// brokers. A nil logger discards logs.
func NewSubscriber(cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Subscriber{cfg: cfg, logger: logger, ctx: ctx, cancel: cancel}, nil
}

// Subscribe joins the consumer group for topic with a new group member and
// returns the channel its messages are delivered on; see Subscriber for the
// delivery guarantees. The channel is unbuffered.
//
// Every message's context derives from ctx (so it carries ctx's values),
// carries the record's Position (see PositionFromContext) and the trace
// context extracted from its headers, and is cancelled once the message is
// Acked or Nacked, or when the subscription ends.
//
// The subscription ends when ctx ends or Close is called: delivery stops,
// acknowledged offsets are committed, the member leaves the group, and then
// the channel is closed. Subscribe returns ErrSubscriberClosed after Close.
// The topic need not exist yet: consuming starts once it does.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		return nil, errors.New("topics subscriber: subscribe: empty topic")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("subscribe to %s: %w", topic, ErrSubscriberClosed)
	}
	s.subs.Add(1)
	s.mu.Unlock()

	subCtx, cancel := context.WithCancel(ctx)
	stopClose := context.AfterFunc(s.ctx, cancel)
	sub := &subscription{
		s:       s,
		topic:   topic,
		ctx:     subCtx,
		out:     make(chan *message.Message),
		workers: make(map[int32]*partitionWorker),
		fields: watermill.LogFields{
			"topic":          topic,
			"consumer_group": s.cfg.ConsumerGroup,
		},
	}
	start := s.cfg.startOffset()
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ConsumerGroup(s.cfg.ConsumerGroup),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeStartOffset(start),
		kgo.ConsumeResetOffset(start),
		// Records of aborted or open transactions (the stages write
		// derived topics transactionally) are never delivered.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(s.cfg.CommitInterval),
		kgo.AutoCommitCallback(sub.onAutoCommit),
		kgo.OnPartitionsAssigned(sub.onAssigned),
		kgo.OnPartitionsRevoked(sub.onRevoked),
		kgo.OnPartitionsLost(sub.onLost),
		kgo.WithLogger(kgoLogger{s.logger}),
	}
	opts = append(opts, s.cfg.KgoOpts...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		stopClose()
		cancel()
		s.subs.Done()
		return nil, fmt.Errorf("subscribe to %s in group %s: new client: %w", topic, s.cfg.ConsumerGroup, err)
	}
	sub.client = client
	go func() {
		defer s.subs.Done()
		defer stopClose()
		defer cancel()
		sub.run()
	}()
	return sub.out, nil
}

// SubscribeInitialize creates topic with the configured Partitions and
// TopicConfigs (replication factor: the broker default) if it does not
// exist yet. An existing topic is left as it is, whatever its partition
// count. It is safe to call concurrently and repeatedly.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	if topic == "" {
		return errors.New("topics subscriber: initialize: empty topic")
	}
	client, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...)}, s.cfg.KgoOpts...)...)
	if err != nil {
		return fmt.Errorf("initialize topic %s: new client: %w", topic, err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(client).CreateTopic(ctx, int32(s.cfg.Partitions), -1, s.cfg.TopicConfigs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("initialize topic %s with %d partitions: %w", topic, s.cfg.Partitions, err)
	}
	return nil
}

// Close ends every subscription as its context ending would (stop
// delivering, commit acknowledged offsets, leave the group, close the
// channel) and waits for all of them to finish. A message delivered but not
// yet Acked is not waited for: its context is cancelled and it will be
// delivered again. Close is idempotent and safe for concurrent use; it
// always returns nil, and commit failures are logged.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
	})
	s.subs.Wait()
	return nil
}

// subscription is one Subscribe call: one kgo group client and one worker
// goroutine per assigned partition.
//
// Concurrency: the poll loop (run), the partition callbacks and the workers
// run on different goroutines. BlockRebalanceOnPoll makes the callbacks and
// the poll loop's handling of a poll mutually exclusive (the loop calls
// AllowRebalance right after handing records to workers), so a callback
// never races with a dispatch of records for the partitions it handles, and
// no poll after a revoke returns records of the revoked partitions. Workers
// run independently of both; mu guards the workers map.
type subscription struct {
	s      *Subscriber
	topic  string
	ctx    context.Context // ends with the Subscribe ctx or Subscriber.Close
	client *kgo.Client
	out    chan *message.Message
	fields watermill.LogFields

	mu      sync.Mutex
	workers map[int32]*partitionWorker
}

func (sub *subscription) run() {
	defer close(sub.out)
	for {
		fetches := sub.client.PollFetches(sub.ctx)
		if sub.ctx.Err() != nil {
			sub.client.AllowRebalance()
			break
		}
		closed := false
		fetches.EachError(func(topic string, partition int32, err error) {
			switch {
			case errors.Is(err, kgo.ErrClientClosed):
				closed = true
			case errors.Is(err, context.Canceled):
			default:
				sub.s.logger.Error("Kafka fetch error", err, sub.fields.Add(watermill.LogFields{
					"fetch_topic": topic, "partition": partition,
				}))
			}
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 && p.Topic == sub.topic {
				sub.dispatch(p.Partition, p.Records)
			}
		})
		sub.client.AllowRebalance()
		if closed {
			break
		}
	}

	// The subscription is over: stop the workers (they see ctx), commit
	// what was acknowledged, and leave the group. Leaving calls onRevoked
	// for whatever is still assigned; by then there is nothing left to
	// stop or commit.
	sub.stopWorkers(nil, true)
	sub.commit(context.Background(), sub.client, "close")
	sub.client.CloseAllowingRebalance()
}

// dispatch queues records fetched for partition. Called only from the poll
// loop, between a poll and AllowRebalance.
func (sub *subscription) dispatch(partition int32, recs []*kgo.Record) {
	sub.mu.Lock()
	w := sub.workers[partition]
	if w == nil {
		// onAssigned runs before fetches for new partitions begin, so
		// this does not happen; if it ever does, the records are still
		// ours to deliver.
		w = sub.startWorkerLocked(sub.client, partition)
	}
	sub.mu.Unlock()
	w.enqueue(recs)
}

func (sub *subscription) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	ps := assigned[sub.topic]
	if len(ps) == 0 {
		return
	}
	sub.mu.Lock()
	for _, p := range ps {
		if sub.workers[p] == nil {
			sub.startWorkerLocked(cl, p)
		}
	}
	sub.mu.Unlock()
	// A partition paused under a previous assignment would otherwise stay
	// paused forever.
	cl.ResumeFetchPartitions(map[string][]int32{sub.topic: ps})
	sub.s.logger.Debug("Partitions assigned", sub.fields.Add(watermill.LogFields{"partitions": ps}))
}

// onRevoked runs before the group rebalances away from this member's
// partitions (and at the end of every group session, with nothing revoked,
// and when the member leaves). It returns, letting the rebalance proceed,
// only once the revoked partitions' in-flight messages are settled and the
// acknowledged offsets are committed.
func (sub *subscription) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	ps := revoked[sub.topic]
	if len(ps) > 0 {
		sub.stopWorkers(ps, false)
		cl.ResumeFetchPartitions(map[string][]int32{sub.topic: ps})
		sub.s.logger.Debug("Partitions revoked", sub.fields.Add(watermill.LogFields{"partitions": ps}))
	}
	sub.commit(ctx, cl, "revoke")
}

// onLost runs when the member was fenced out of the group: the partitions
// may already belong to another member, so delivery stops at once, the
// in-flight messages are abandoned and nothing is committed.
func (sub *subscription) onLost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	ps := lost[sub.topic]
	if len(ps) == 0 {
		return
	}
	sub.stopWorkers(ps, true)
	cl.ResumeFetchPartitions(map[string][]int32{sub.topic: ps})
	sub.s.logger.Info("Partitions lost", sub.fields.Add(watermill.LogFields{"partitions": ps}))
}

func (sub *subscription) onAutoCommit(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err == nil && resp != nil {
	topics:
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err = kerr.ErrorForCode(p.ErrorCode); err != nil {
					break topics
				}
			}
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		sub.s.logger.Error("Kafka autocommit failed; offsets will be committed again", err, sub.fields)
	}
}

// commit synchronously commits the marked (acknowledged) offsets.
func (sub *subscription) commit(ctx context.Context, cl *kgo.Client, why string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sub.s.cfg.CommitTimeout)
	defer cancel()
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		sub.s.logger.Error("Kafka offset commit failed", err, sub.fields.Add(watermill.LogFields{"on": why}))
	}
}

// startWorkerLocked starts the worker of partition. cl is the
// subscription's client, passed in because the partition callbacks can run
// before Subscribe has stored it in sub.client.
func (sub *subscription) startWorkerLocked(cl *kgo.Client, partition int32) *partitionWorker {
	w := &partitionWorker{
		sub:       sub,
		client:    cl,
		partition: partition,
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		abandon:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	sub.workers[partition] = w
	go w.run()
	return w
}

// stopWorkers stops the workers of partitions (all of them if partitions
// is nil) and waits for them to exit. Stopped workers deliver nothing more;
// with abandon they also stop waiting for their in-flight message, and
// without it they wait until it is Acked or Nacked (or the subscription
// ends).
func (sub *subscription) stopWorkers(partitions []int32, abandon bool) {
	sub.mu.Lock()
	var stopped []*partitionWorker
	if partitions == nil {
		partitions = make([]int32, 0, len(sub.workers))
		for p := range maps.Keys(sub.workers) {
			partitions = append(partitions, p)
		}
	}
	for _, p := range partitions {
		w := sub.workers[p]
		if w == nil {
			continue
		}
		delete(sub.workers, p)
		close(w.stop)
		if abandon {
			close(w.abandon)
		}
		stopped = append(stopped, w)
	}
	sub.mu.Unlock()
	for _, w := range stopped {
		<-w.done
	}
}

// partitionWorker delivers one partition's records in offset order, one at
// a time.
type partitionWorker struct {
	sub       *subscription
	client    *kgo.Client
	partition int32

	mu     sync.Mutex
	queue  []*kgo.Record // queue[head:] are waiting for delivery
	head   int
	queued int  // recordSize of queue[head:]
	paused bool // fetching of this partition is paused (queue is full)

	wake    chan struct{} // records were queued
	stop    chan struct{} // closed: deliver nothing more
	abandon chan struct{} // closed: stop waiting for the in-flight message too
	done    chan struct{} // closed when run returns
}

func (w *partitionWorker) tp() map[string][]int32 {
	return map[string][]int32{w.sub.topic: {w.partition}}
}

// enqueue appends records and pauses fetching the partition when the queue
// is full.
func (w *partitionWorker) enqueue(recs []*kgo.Record) {
	w.mu.Lock()
	w.queue = append(w.queue, recs...)
	for _, r := range recs {
		w.queued += recordSize(r)
	}
	if !w.paused && w.queued >= partitionQueueHigh {
		w.paused = true
		w.client.PauseFetchPartitions(w.tp())
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// next returns the next record to deliver, waiting for one; nil means stop.
func (w *partitionWorker) next() *kgo.Record {
	for {
		select {
		case <-w.stop:
			return nil
		case <-w.sub.ctx.Done():
			return nil
		default:
		}
		w.mu.Lock()
		if w.head < len(w.queue) {
			rec := w.queue[w.head]
			w.queue[w.head] = nil
			w.head++
			w.queued -= recordSize(rec)
			if w.head == len(w.queue) {
				w.queue, w.head = w.queue[:0], 0
			}
			if w.paused && w.queued <= partitionQueueLow {
				w.paused = false
				w.client.ResumeFetchPartitions(w.tp())
			}
			w.mu.Unlock()
			return rec
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-w.stop:
			return nil
		case <-w.sub.ctx.Done():
			return nil
		}
	}
}

func (w *partitionWorker) run() {
	defer close(w.done)
	for {
		rec := w.next()
		if rec == nil || !w.deliver(rec) {
			return
		}
	}
}

// deliver delivers rec until it is Acked, redelivering it after each Nack.
// It reports false if the worker must stop before rec was Acked.
func (w *partitionWorker) deliver(rec *kgo.Record) bool {
	sub := w.sub
	base := messageContext(sub.ctx, rec, sub.s.cfg.Propagator)
	for {
		msg := messageFromRecord(rec)
		ctx, cancel := context.WithCancel(base)
		msg.SetContext(ctx)

		select {
		case sub.out <- msg:
		case <-w.stop:
			cancel()
			return false
		case <-sub.ctx.Done():
			cancel()
			return false
		}

		select {
		case <-msg.Acked():
			cancel()
			w.client.MarkCommitRecords(rec)
			return true
		case <-msg.Nacked():
			cancel()
			if !w.sleep(sub.s.cfg.NackResendSleep) {
				return false
			}
		case <-w.abandon:
			cancel()
			return false
		case <-sub.ctx.Done():
			cancel()
			// An Ack that raced with the end of the subscription still
			// counts: the final commit happens after the workers exit.
			select {
			case <-msg.Acked():
				w.client.MarkCommitRecords(rec)
			default:
			}
			return false
		}
	}
}

// sleep waits d, reporting false if the worker must stop meanwhile.
func (w *partitionWorker) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.stop:
		return false
	case <-w.sub.ctx.Done():
		return false
	}
}
