package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// DefaultTransactionTimeout is how long the broker keeps a transaction open
// before it aborts it. It bounds how long the partitions of an instance that
// died mid-transaction stay blocked when another instance (or the restarted
// one) takes them over: the new owner cannot read their committed offsets
// (KIP-447 stable offsets) until that transaction is aborted. A broker that
// restarts aborts it at once. Kafka's default is 60 s and
// franz-go's 40 s; a poll's transaction here lasts milliseconds (one produce
// flush and two small requests), so 10 s leaves a wide margin.
const DefaultTransactionTimeout = 10 * time.Second

// DefaultSessionTimeout is how long the group coordinator waits for a
// member's heartbeat before it gives the member's partitions to others.
// Kafka's default is 45 s; a segment consumer heartbeats from its own
// goroutine every 3 s whatever its handler does, so only a dead process
// misses 10 s of them, and its partitions resume within about 10 s instead
// of 45 (measured in TestPartitionMovesBetweenInstances: the stages caught
// up about 50 s after a kill -9 with Kafka's default).
const DefaultSessionTimeout = 10 * time.Second

// endTimeout bounds how long ending a transaction may take. Ending is not
// tied to Run's context: cancelling it mid-way would leave the transactional
// producer in a state only a restart clears, so a shutdown lets the current
// transaction finish.
const endTimeout = 30 * time.Second

// TxnHandler is what a [TxnConsumer] runs each poll through. Handle, Ended
// and Revoked are called from Run's goroutine or, for Revoked, from the
// client's group management while no poll is being handled (rebalances wait
// for the current transaction), never concurrently with each other.
type TxnHandler interface {
	// Handle adds everything the poll's records cause to txn: outputs and
	// state changes alike. ctx ends when the consumer is told to stop; the
	// batches' messages carry a context that does not, so that a poll
	// under way finishes as a whole. A nil return asks for the transaction to be
	// committed; an error aborts it, and the same records are polled again
	// after a backoff. Handle must tolerate seeing records again after an
	// abort, but the effects of an aborted transaction are never visible
	// to read_committed readers.
	Handle(ctx context.Context, txn *Txn, batches []Batch) error
	// Ended reports how the transaction of the last Handle ended. When
	// committed is true, its records and its input offsets are in the log
	// together; when false, none of them are, and the records come again.
	// err says why it was aborted: Handle's error or a record that could
	// not be produced; nil when a rebalance overtook it.
	Ended(committed bool, err error)
	// Revoked reports partitions this consumer no longer owns (revoked in
	// a rebalance or lost with the group membership). State kept for them
	// may be changed by their new owner from now on. A partition given up
	// while the consumer committed nothing since an earlier revoke may be
	// reported only when it is assigned back, but always before its
	// records are handed to Handle again.
	Revoked(partitions []int32)
}

// TxnConsumerConfig configures a [TxnConsumer]. The zero value of every
// optional field selects its default.
type TxnConsumerConfig struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Group is the consumer group. Required.
	Group string
	// Topic is the topic consumed. Required.
	Topic string
	// TransactionalID names the consumer's transactional producer.
	// Required, and unique per running consumer: two live consumers
	// sharing an ID fence each other in turn. See the node's choice of a
	// new ID per process start (pipeline/node.go) for why it should not be
	// reused across restarts on the embedded broker.
	TransactionalID string
	// TransactionTimeout defaults to DefaultTransactionTimeout.
	TransactionTimeout time.Duration
	// SessionTimeout defaults to DefaultSessionTimeout.
	SessionTimeout time.Duration
	// MaxPollRecords bounds a poll, and so a transaction. Defaults to
	// DefaultMaxPollRecords.
	MaxPollRecords int
	// ManualPartitions reports whether records produced to a topic carry
	// their partition in kgo.Record.Partition (changelog topics, which are
	// partitioned like the input). Records to other topics are partitioned
	// by key as Kafka's default partitioner does. Nil means none.
	ManualPartitions func(topic string) bool
	// Propagator writes and reads trace context in headers. Defaults to
	// otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// KgoOpts are extra franz-go options (TLS, SASL, group timing). They
	// must not replace the group, topic, transactional ID, isolation level
	// or rebalance blocking.
	KgoOpts []kgo.Opt
}

func (c *TxnConsumerConfig) setDefaults() {
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.ManualPartitions == nil {
		c.ManualPartitions = func(string) bool { return false }
	}
	if c.Propagator == nil {
		c.Propagator = otel.GetTextMapPropagator()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports whether the configuration is complete.
func (c TxnConsumerConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("txn consumer: brokers are required")
	case c.Group == "":
		return errors.New("txn consumer: group is required")
	case c.Topic == "":
		return errors.New("txn consumer: topic is required")
	case c.TransactionalID == "":
		return errors.New("txn consumer: transactional id is required")
	case c.MaxPollRecords < 1:
		return fmt.Errorf("txn consumer: max poll records must be positive, got %d", c.MaxPollRecords)
	case c.TransactionTimeout < time.Second:
		return fmt.Errorf("txn consumer: transaction timeout must be at least 1s, got %s", c.TransactionTimeout)
	}
	return nil
}

// TxnConsumer consumes a topic in a consumer group and runs each poll in one
// Kafka transaction: the records the handler produces (outputs, dead
// letters, state changelogs) and the poll's input offsets are committed
// together or not at all (franz-go's GroupTransactSession, KIP-447). It is
// how the stage segments run exactly-once: a crash at any point leaves
// either the whole effect of a poll in the log or none of it, and the
// records of an uncommitted poll are handled again.
//
// It reads its input read_committed, so it never sees records of aborted or
// open transactions, and it keeps control records (transaction markers) in
// the offsets it commits, so that a consumer that has handled everything
// has committed its partitions' end offsets.
//
// Guarantees: a partition's records are handed over in offset order;
// rebalances wait for the current transaction to end
// (kgo.BlockRebalanceOnPoll); a transaction that a rebalance overtook is
// aborted rather than committed. Its methods are safe for concurrent use.
type TxnConsumer struct {
	cfg   TxnConsumerConfig
	ready atomic.Bool

	mu   sync.Mutex
	next map[int32]int64 // offset after the last committed record, per partition
}

// NewTxnConsumer returns a consumer; Run starts it.
func NewTxnConsumer(cfg TxnConsumerConfig) (*TxnConsumer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &TxnConsumer{cfg: cfg, next: map[int32]int64{}}, nil
}

// Ready reports whether Run has joined the group and is polling.
func (c *TxnConsumer) Ready() bool { return c.ready.Load() }

// Handled returns, per partition this consumer has committed records of,
// the offset after the last one (transaction markers included).
func (c *TxnConsumer) Handled() map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.next)
}

// Run consumes until ctx ends, then ends the transaction under way, leaves
// the group and returns nil. Other returns are errors that stopped
// consumption: the transactional producer failed in a way franz-go does not
// retry (fenced by a newer instance with the same transactional ID, or a
// broker that kept refusing), after which the records of the last poll come
// again to whichever instance owns them next.
func (c *TxnConsumer) Run(ctx context.Context, h TxnHandler) error {
	log := c.cfg.Logger.With("group", c.cfg.Group, "topic", c.cfg.Topic)
	// franz-go's GroupTransactSession passes on only the first revoke or
	// loss between two ends of a transaction: it drops later ones until
	// End resets its flags, so a member that handles nothing between two
	// rebalances can give a partition up unseen. owned is what the
	// handler was told it owns; a partition assigned while still in it
	// was lost unseen since, and the handler is told before it gets the
	// partition's records again.
	var ownedMu sync.Mutex
	owned := map[int32]bool{}
	revoked := func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
		if ps := parts[c.cfg.Topic]; len(ps) > 0 {
			ownedMu.Lock()
			for _, p := range ps {
				delete(owned, p)
			}
			ownedMu.Unlock()
			h.Revoked(ps)
		}
	}
	assigned := func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
		var missed []int32
		ownedMu.Lock()
		for _, p := range parts[c.cfg.Topic] {
			if owned[p] {
				missed = append(missed, p)
			}
			owned[p] = true
		}
		ownedMu.Unlock()
		if len(missed) > 0 {
			h.Revoked(missed)
		}
	}
	opts := append(FetchOpts(), ProducerOpts()...)
	opts = append(opts,
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(),
		kgo.TransactionalID(c.cfg.TransactionalID),
		kgo.TransactionTimeout(c.cfg.TransactionTimeout),
		kgo.SessionTimeout(c.cfg.SessionTimeout),
		kgo.RecordPartitioner(manualOr{manual: c.cfg.ManualPartitions, keyed: newKeyPartitioner()}),
		kgo.OnPartitionsAssigned(assigned),
		kgo.OnPartitionsRevoked(revoked),
		kgo.OnPartitionsLost(revoked),
		kgo.WithLogger(kgoSlog{log}),
	)
	opts = append(opts, c.cfg.KgoOpts...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("txn consumer %s: %w", c.cfg.Group, err)
	}
	defer sess.Close()
	c.ready.Store(true)
	defer c.ready.Store(false)

	backoff := 100 * time.Millisecond
	for {
		fetches := sess.PollRecords(ctx, c.cfg.MaxPollRecords)
		if ctx.Err() != nil {
			sess.AllowRebalance()
			return nil
		}
		closed := false
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, kgo.ErrClientClosed) {
				closed = true
				return
			}
			log.Warn("fetch error", "partition", p, "err", err)
		})
		if closed {
			return fmt.Errorf("txn consumer %s: %w", c.cfg.Group, kgo.ErrClientClosed)
		}
		if fetches.NumRecords() == 0 {
			sess.AllowRebalance()
			continue
		}
		committed, herr, err := c.transact(ctx, sess, h, fetches)
		sess.AllowRebalance()
		if err != nil {
			return fmt.Errorf("txn consumer %s: end transaction: %w", c.cfg.Group, err)
		}
		if committed {
			c.markHandled(fetches)
			backoff = 100 * time.Millisecond
			continue
		}
		if herr == nil {
			// A rebalance overtook the transaction: its records come
			// again to whichever instance owns them now.
			log.Info("transaction aborted by a rebalance; its records are handled again")
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Error("poll failed; transaction aborted, retrying", "err", herr, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// transact runs one poll in one transaction. herr is the handler's (or a
// produce's) error, which aborted it; err is a failure to end it at all.
func (c *TxnConsumer) transact(ctx context.Context, sess *kgo.GroupTransactSession, h TxnHandler, fetches kgo.Fetches) (committed bool, herr, err error) {
	if err := sess.Begin(); err != nil {
		return false, nil, fmt.Errorf("begin: %w", err)
	}
	// The records of a transaction are produced under a context that a
	// shutdown does not cancel (franz-go fails records whose context has
	// ended), bounded like the transaction's end: a node stopping
	// mid-poll finishes and commits the poll instead of aborting it.
	endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	txn := &Txn{sess: sess, ctx: endCtx, prop: c.cfg.Propagator}
	// The messages carry endCtx too, for the same reason: a message whose
	// context a shutdown cancelled fails in watermill's Retry middleware
	// without reaching its handler, and the poll would commit it as a dead
	// letter (TestSegmentShutdownMidPollLosesNothing).
	herr = h.Handle(ctx, txn, c.batches(endCtx, fetches))
	if herr == nil {
		// Flush before End so that a failed produce aborts the
		// transaction instead of failing its commit.
		if ferr := sess.Client().Flush(endCtx); ferr != nil {
			herr = fmt.Errorf("flush: %w", ferr)
		} else {
			herr = txn.Err()
		}
	}
	try := kgo.TryCommit
	if herr != nil {
		try = kgo.TryAbort
	}
	committed, err = sess.End(endCtx, try)
	h.Ended(committed, herr)
	return committed, herr, err
}

func (c *TxnConsumer) markHandled(fetches kgo.Fetches) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if n := len(fp.Records); n > 0 {
			c.next[fp.Partition] = fp.Records[n-1].Offset + 1
		}
	})
}

// batches converts a poll into per-partition batches of messages, without
// the transaction markers FetchOpts keeps.
func (c *TxnConsumer) batches(ctx context.Context, fetches kgo.Fetches) []Batch {
	return toBatches(ctx, fetches, c.cfg.Propagator)
}

// Txn is the transaction of one poll of a [TxnConsumer]: what is produced
// through it is committed with the poll's input offsets, or discarded with
// them. Produce and Publish are safe for concurrent use; the Txn must not be
// used after the handler returned.
type Txn struct {
	sess *kgo.GroupTransactSession
	ctx  context.Context
	prop propagation.TextMapPropagator

	mu  sync.Mutex
	err error
}

// Produce adds rec to the transaction without waiting. Once the transaction
// has committed, rec.Offset holds the offset the record got. A failure is
// reported by Err and aborts the transaction.
func (t *Txn) Produce(rec *kgo.Record) {
	t.sess.Produce(t.ctx, rec, func(r *kgo.Record, err error) {
		if err != nil {
			t.mu.Lock()
			if t.err == nil {
				t.err = fmt.Errorf("produce to %s: %w", r.Topic, err)
			}
			t.mu.Unlock()
		}
	})
}

// Publish implements message.Publisher: msgs are produced to topic in the
// transaction, each with its message's trace context in its headers. It
// returns without waiting for the broker; the transaction's end does.
func (t *Txn) Publish(topic string, msgs ...*message.Message) error {
	if topic == "" {
		return errors.New("txn publish: empty topic")
	}
	for _, msg := range msgs {
		t.Produce(recordFromMessage(topic, msg, t.prop))
	}
	return nil
}

// Flush waits until every record produced so far in the transaction has
// reached the broker (still uncommitted), or ctx ends. The transaction's end
// flushes anyway; Flush lets a handler bound what it holds in memory.
func (t *Txn) Flush(ctx context.Context) error {
	if err := t.sess.Client().Flush(ctx); err != nil {
		return fmt.Errorf("txn flush: %w", err)
	}
	return t.Err()
}

// Close implements message.Publisher; the transaction is ended by its
// consumer, not by Close.
func (t *Txn) Close() error { return nil }

// Err returns the first failure of a record produced in the transaction.
func (t *Txn) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// manualOr partitions records of the topics manual reports by their own
// Partition field and all others with keyed.
type manualOr struct {
	manual func(topic string) bool
	keyed  kgo.Partitioner
}

func (m manualOr) ForTopic(topic string) kgo.TopicPartitioner {
	if m.manual(topic) {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return m.keyed.ForTopic(topic)
}
