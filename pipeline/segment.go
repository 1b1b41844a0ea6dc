package pipeline

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/topics"
)

// segmentRunner runs one segment: it consumes the segment's input topic in
// per-partition batches, passes every message through the segment's
// watermill handler (the stage chain wrapped in the dead-letter, retry and
// recoverer middlewares), publishes all of a batch's outputs in one call,
// and makes the stage state durable with one fsync per poll before the
// consumer may commit.
//
// Why not watermill's Router: it handles one message at a time per
// partition and publishes each message's outputs on their own, so every
// input costs a produce round trip (fsynced by the broker) and every ridify
// write an fsync; measured end to end that was 183 events/s against a log
// ceiling of 8,916 (benchmarks/RESULTS.md). The handler, middlewares and
// Publisher are watermill's; only the loop around them batches.
type segmentRunner struct {
	name     string
	to       string
	handler  message.HandlerFunc
	pub      message.Publisher
	state    *pebble.DB
	consumer *topics.BatchConsumer
}

// handle processes one poll: partitions concurrently, each in order.
func (s *segmentRunner) handle(ctx context.Context, batches []topics.Batch) error {
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	for i := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.handleBatch(batches[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return s.syncState()
}

func (s *segmentRunner) handleBatch(b topics.Batch) error {
	var outs []*message.Message
	for _, msg := range b.Messages {
		produced, err := s.handler(msg)
		if err != nil {
			// Only infrastructure failures get here (the dead-letter
			// middleware absorbs bad records): retry the whole poll.
			return fmt.Errorf("segment %s: partition %d: %w", s.name, b.Partition, err)
		}
		outs = append(outs, produced...)
	}
	if len(outs) == 0 {
		return nil
	}
	if err := s.pub.Publish(s.to, outs...); err != nil {
		return fmt.Errorf("segment %s: publish %d messages to %s: %w", s.name, len(outs), s.to, err)
	}
	return nil
}

// syncMarker is the WAL record whose fsynced commit makes every earlier
// stage state write durable: Pebble's WAL is sequential, so syncing it up
// to this record syncs all that came before.
var syncMarker = []byte("koistream-sync")

func (s *segmentRunner) syncState() error {
	b := s.state.NewBatch()
	defer b.Close()
	if err := b.LogData(syncMarker, nil); err != nil {
		return fmt.Errorf("segment %s: sync stage state: %w", s.name, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("segment %s: sync stage state: %w", s.name, err)
	}
	return nil
}
