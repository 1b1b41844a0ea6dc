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

// DefaultMaxPollRecords bounds how many records one poll hands to a
// BatchConsumer's handler.
const DefaultMaxPollRecords = 1024

// FetchOpts returns the fetch bounds every consumer of a node's topics
// uses, so that the stage segments and the projections behave alike:
//
//   - kgo.FetchMaxBytes 4 MiB, not kgo's 50 MiB: webhook records run to
//     tens of kilobytes, and three consumers (two segments and the cache
//     projection) share a node's memory. The bound is on compressed bytes
//     and a consumer holds a fetch decompressed (about 3.5 times larger
//     for webhook JSON) while the next one is buffered: at 8 MiB the
//     decompressed fetches were the largest part of a busy node's Go heap
//     (109 of 292 MB in a heap profile during a backlog). 4 MiB still
//     carries more than a poll's DefaultMaxPollRecords of webhooks;
//   - kgo.FetchMaxWait 200 ms: how late an idle consumer notices new
//     records at most, and so the lag's floor when input trickles;
//   - read_committed: the stages write the observed and events topics in
//     transactions (see TxnConsumer), and a record of an aborted or still
//     open transaction must never reach a stage, a projection or a
//     subscriber;
//   - control records kept: a transaction's commit or abort marker takes
//     an offset of its own, and a consumer that skipped them could never
//     tell that it reached a partition's end offset. Every consumer using
//     these options must skip records with Attrs.IsControl() but count
//     their offsets as handled.
//
// Options given after these override them.
func FetchOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.FetchMaxBytes(4 << 20),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	}
}

// Batch is the records of one partition that one poll returned, in offset
// order, as watermill messages. Each message's context carries its
// Position and the trace context of its headers, as with the Subscriber.
type Batch struct {
	Topic     string
	Partition int32
	Messages  []*message.Message
}

// BatchHandler processes everything one poll returned: one Batch per
// partition. It returns nil once the batches' effects are durable; any error
// makes the consumer offer the same batches again after a backoff, so a
// handler must tolerate seeing records again.
type BatchHandler func(ctx context.Context, batches []Batch) error

// BatchConsumerConfig configures a [BatchConsumer].
type BatchConsumerConfig struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Group is the consumer group. Required.
	Group string
	// Topic is the topic consumed. Required.
	Topic string
	// MaxPollRecords bounds a poll. Defaults to DefaultMaxPollRecords.
	MaxPollRecords int
	// CommitInterval is how often handled offsets are committed in the
	// background; they are also committed on revoke and on close. Defaults
	// to DefaultCommitInterval.
	CommitInterval time.Duration
	// Propagator extracts trace context from headers. Defaults to
	// otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// KgoOpts are extra franz-go options (TLS, SASL, group timing). They
	// must not replace the group, topic, commit mode or rebalance blocking.
	KgoOpts []kgo.Opt
}

func (c *BatchConsumerConfig) setDefaults() {
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultCommitInterval
	}
	if c.Propagator == nil {
		c.Propagator = otel.GetTextMapPropagator()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports whether the configuration is complete.
func (c BatchConsumerConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("batch consumer: brokers are required")
	case c.Group == "":
		return errors.New("batch consumer: group is required")
	case c.Topic == "":
		return errors.New("batch consumer: topic is required")
	case c.MaxPollRecords < 1:
		return fmt.Errorf("batch consumer: max poll records must be positive, got %d", c.MaxPollRecords)
	}
	return nil
}

// BatchConsumer consumes a topic in a consumer group and hands each poll's
// records to a handler as per-partition batches. It is how the stage
// segments run: a handler can then publish a whole batch's outputs in one
// produce request and make its state durable with one fsync, where a
// message-at-a-time subscriber pays a round trip and an fsync per message.
//
// Guarantees: a partition's records are handed over in offset order; an
// offset is committed only after the handler returned nil for the poll that
// held it (at-least-once); a failed poll is offered again, unchanged, until
// the handler succeeds or Run's context ends; rebalances wait for the
// handler (kgo.BlockRebalanceOnPoll), so revoked partitions are never
// in flight and their handled offsets are committed before they move.
// Its methods are safe for concurrent use.
type BatchConsumer struct {
	cfg   BatchConsumerConfig
	ready atomic.Bool

	mu   sync.Mutex
	next map[int32]int64 // next offset to handle, per partition
}

// NewBatchConsumer returns a consumer; Run starts it.
func NewBatchConsumer(cfg BatchConsumerConfig) (*BatchConsumer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &BatchConsumer{cfg: cfg, next: map[int32]int64{}}, nil
}

// Ready reports whether Run has joined the group and is polling.
func (c *BatchConsumer) Ready() bool { return c.ready.Load() }

// Handled returns, per partition this consumer has handled records of, the
// offset after the last handled record.
func (c *BatchConsumer) Handled() map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.next)
}

// Run consumes until ctx ends, then commits what was handled, leaves the
// group and returns nil. Other returns are errors that stopped consumption.
func (c *BatchConsumer) Run(ctx context.Context, handle BatchHandler) error {
	log := c.cfg.Logger.With("group", c.cfg.Group, "topic", c.cfg.Topic)
	commit := func(ctx context.Context, cl *kgo.Client, why string) {
		if err := cl.CommitMarkedOffsets(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("commit failed", "why", why, "err", err)
		}
	}
	opts := append(FetchOpts(),
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(c.cfg.CommitInterval),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			commit(ctx, cl, "revoke")
		}),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) {
			// Another member may own them already: committing now could
			// rewind it. What we handled but did not commit comes again.
		}),
	)
	opts = append(opts, c.cfg.KgoOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("batch consumer %s: %w", c.cfg.Group, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultCommitTimeout)
		commit(cctx, cl, "close")
		cancel()
		cl.Close()
	}()
	c.ready.Store(true)
	defer c.ready.Store(false)

	for {
		fetches := cl.PollRecords(ctx, c.cfg.MaxPollRecords)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			log.Warn("fetch error", "partition", p, "err", err)
		})
		batches := c.batches(ctx, fetches)
		if len(batches) > 0 && !c.handle(ctx, log, handle, batches) {
			cl.AllowRebalance()
			return nil // ctx ended mid-retry: nothing of the poll is marked
		}
		c.mu.Lock()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if n := len(fp.Records); n > 0 {
				c.next[fp.Partition] = fp.Records[n-1].Offset + 1
			}
		})
		c.mu.Unlock()
		fetches.EachRecord(func(r *kgo.Record) { cl.MarkCommitRecords(r) })
		cl.AllowRebalance()
	}
}

// handle runs the handler until it succeeds; false means ctx ended first.
func (c *BatchConsumer) handle(ctx context.Context, log *slog.Logger, handle BatchHandler, batches []Batch) bool {
	backoff := 100 * time.Millisecond
	for {
		err := handle(ctx, batches)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Error("batch failed; retrying", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (c *BatchConsumer) batches(ctx context.Context, fetches kgo.Fetches) []Batch {
	return toBatches(ctx, fetches, c.cfg.Propagator)
}

// toBatches converts a poll into one Batch per partition that has data
// records, leaving out the transaction markers FetchOpts keeps.
func toBatches(ctx context.Context, fetches kgo.Fetches, prop propagation.TextMapPropagator) []Batch {
	var out []Batch
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		var b Batch
		for _, rec := range fp.Records {
			if rec.Attrs.IsControl() {
				continue
			}
			msg := messageFromRecord(rec)
			msg.SetContext(messageContext(ctx, rec, prop))
			b.Messages = append(b.Messages, msg)
		}
		if len(b.Messages) == 0 {
			return
		}
		b.Topic, b.Partition = fp.Topic, fp.Partition
		out = append(out, b)
	})
	return out
}
