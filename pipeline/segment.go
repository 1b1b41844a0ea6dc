package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
)

// segmentRunner runs one segment exactly-once: it consumes the segment's
// input topic in per-partition batches, passes every message through the
// segment's watermill handler (the stage chain wrapped in the dead-letter,
// retry and recoverer middlewares), and produces the poll's outputs, its
// dead letters and its stages' state changes (to their changelog topics) in
// the same Kafka transaction that commits its input offsets
// (topics.TxnConsumer). The stages' local state is written to Pebble only
// once that transaction committed, and restored from the changelogs when a
// partition is (re)assigned, so a crash or a partition moving to another
// instance neither loses nor repeats anything.
//
// Why not watermill's Router: it handles one message at a time per
// partition and publishes each message's outputs on their own, so every
// input costs a produce round trip (fsynced by the broker); measured end to
// end that was 183 events/s against a log ceiling of 8,916
// (benchmarks/RESULTS.md). One transaction per poll amortises the
// transaction's own requests (AddPartitionsToTxn, TxnOffsetCommit, EndTxn
// and the markers) over up to topics.DefaultMaxPollRecords inputs.
type segmentRunner struct {
	name     string
	to       string
	handler  message.HandlerFunc
	state    *stages.StateStore // nil when no stage of the segment keeps state
	spaces   []string           // changelog topics of state
	consumer *topics.TxnConsumer
	brokers  []string
	admin    *kadm.Client
	log      *slog.Logger

	// txn is the transaction of the poll being handled, for the
	// dead-letter publisher the middlewares were built with.
	txn atomic.Pointer[topics.Txn]

	mu       sync.Mutex
	restored map[int32]bool          // partitions whose state is restored since assigned
	written  map[int32][]*kgo.Record // changelog records of the current transaction
}

// txnPublisher publishes into the transaction of the poll being handled; the
// dead-letter middleware publishes through it, so a dead letter commits or
// aborts with the poll that produced it.
type txnPublisher struct{ s *segmentRunner }

func (p txnPublisher) Publish(topic string, msgs ...*message.Message) error {
	txn := p.s.txn.Load()
	if txn == nil {
		return fmt.Errorf("segment %s: publish to %s outside a transaction", p.s.name, topic)
	}
	return txn.Publish(topic, msgs...)
}

func (txnPublisher) Close() error { return nil }

// Handle implements topics.TxnHandler: partitions concurrently, each in
// order, then the state changes of every partition.
func (s *segmentRunner) Handle(ctx context.Context, txn *topics.Txn, batches []topics.Batch) error {
	s.txn.Store(txn)
	defer s.txn.Store(nil)
	// Restore every newly assigned partition before anything is produced:
	// the broker starts the transaction's timeout with its first record,
	// and a restore that ran after another partition's outputs went out
	// could outlast it (a long changelog) and get the producer fenced.
	if err := s.restoreAll(ctx, batches); err != nil {
		return err
	}
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.handleBatch(ctx, txn, batches[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if s.state == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.written)
	for _, b := range batches {
		for _, c := range s.state.Changes(b.Partition) {
			rec := &kgo.Record{Topic: c.Space, Partition: b.Partition, Key: c.Key, Value: c.Value}
			txn.Produce(rec)
			s.written[b.Partition] = append(s.written[b.Partition], rec)
		}
	}
	return nil
}

// attempt wraps the stage chain, inside the retry middleware, so that each
// attempt at a message starts from the stage state as it was before the
// message: a failed attempt's writes are rolled back (a message that ends
// in the dead topic leaves no state behind), and only the attempt that
// succeeds keeps its writes.
func (s *segmentRunner) attempt(h message.HandlerFunc) message.HandlerFunc {
	if s.state == nil {
		return h
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		pos, ok := topics.PositionFromContext(msg.Context())
		if !ok {
			return h(msg)
		}
		s.state.Savepoint(pos.Partition)
		defer s.state.Release(pos.Partition)
		defer func() {
			if r := recover(); r != nil {
				s.state.Rollback(pos.Partition) // the Recoverer outside turns it into an error
				panic(r)
			}
		}()
		out, err := h(msg)
		if err != nil {
			s.state.Rollback(pos.Partition)
		}
		return out, err
	}
}

// restoreAll restores the partitions of the poll concurrently.
func (s *segmentRunner) restoreAll(ctx context.Context, batches []topics.Batch) error {
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() {
			if err := s.restore(ctx, b.Partition); err != nil {
				errs[i] = fmt.Errorf("segment %s: partition %d: %w", s.name, b.Partition, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *segmentRunner) handleBatch(ctx context.Context, txn *topics.Txn, b topics.Batch) error {
	var outs []*message.Message
	for _, msg := range b.Messages {
		produced, err := s.handler(msg)
		if err != nil {
			// Only infrastructure failures get here (the dead-letter
			// middleware absorbs bad records): abort and retry the poll.
			return fmt.Errorf("segment %s: partition %d: %w", s.name, b.Partition, err)
		}
		outs = append(outs, produced...)
	}
	return txn.Publish(s.to, outs...)
}

// restore brings the stage state of partition p up to its changelogs once
// per assignment, before the partition's first records are processed.
func (s *segmentRunner) restore(ctx context.Context, p int32) error {
	if s.state == nil {
		return nil
	}
	s.mu.Lock()
	done := s.restored[p]
	s.mu.Unlock()
	if done {
		return nil
	}
	for _, space := range s.spaces {
		if err := restoreState(ctx, s.brokers, s.admin, s.state, space, p, s.log); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.restored[p] = true
	s.mu.Unlock()
	return nil
}

// Ended implements topics.TxnHandler: a committed transaction's state
// changes go to Pebble with their changelog offsets as checkpoints; an
// aborted one's are dropped.
func (s *segmentRunner) Ended(committed bool, _ error) {
	if s.state == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !committed {
		s.state.Abort()
		return
	}
	for p, recs := range s.written {
		ckpt := map[string]int64{}
		for _, r := range recs {
			ckpt[r.Topic] = max(ckpt[r.Topic], r.Offset+1)
		}
		if err := s.state.Commit(p, ckpt); err != nil {
			// The changelog holds the change; the local copy does not.
			// Restoring the partition again makes them agree.
			s.log.Error("stage state could not be written locally; restoring the partition from its changelog",
				"partition", p, "err", err)
			s.state.Forget([]int32{p})
			delete(s.restored, p)
		}
	}
	clear(s.written)
}

// Revoked implements topics.TxnHandler: another instance owns the
// partitions now and may change their state, so they are restored again if
// they come back.
func (s *segmentRunner) Revoked(partitions []int32) {
	if s.state == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range partitions {
		delete(s.restored, p)
	}
	s.state.Forget(partitions)
}
