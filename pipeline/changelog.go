package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
)

// changelogTopic names the changelog topic of the stage at index i of a
// segment's chain. The index keeps two placements of one stage in a segment
// apart; the names follow the segment's consumer group (groupOf) so that
// kcat -L lists a segment's topics together.
func (n *Node) changelogTopic(segment, stage string, i int) string {
	return fmt.Sprintf("%sstage.%s.%d-%s.changelog", n.cfg.TopicPrefix, segment, i, stage)
}

// restoreBatch bounds how many changelog records a restore writes to Pebble
// in one batch, so a long changelog is not held in memory at once.
const restoreBatch = 4096

// restoreOpenTxnWait bounds how long a restore waits for a transaction
// still open on the changelog (a previous owner that died mid-poll) to be
// aborted by the broker: twice the transaction timeout. Until then the
// committed state of the partition cannot be known, and the poll that needs
// it is aborted and retried.
const restoreOpenTxnWait = 2 * topics.DefaultTransactionTimeout

// restoreFetchBytes bounds one restore fetch.
const restoreFetchBytes = 4 << 20

// ensureChangelogs creates the changelog topics of a segment: compacted
// (only the latest value of each key is needed to restore), keeping
// everything else, with as many partitions as the segment's input topic,
// since partition p of the input owns partition p of the state. A changelog
// that already exists with another partition count is refused: its
// partitions would not line up with the input's.
func ensureChangelogs(ctx context.Context, adm *kadm.Client, input string, changelogs []string) error {
	if len(changelogs) == 0 {
		return nil
	}
	td, err := adm.ListTopics(ctx, append([]string{input}, changelogs...)...)
	if err != nil {
		return fmt.Errorf("changelogs of %s: list topics: %w", input, err)
	}
	in, ok := td[input]
	if !ok || in.Err != nil || len(in.Partitions) == 0 {
		return fmt.Errorf("changelogs of %s: the input topic has no partitions", input)
	}
	parts := len(in.Partitions)
	var create []string
	for _, cl := range changelogs {
		d, ok := td[cl]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			create = append(create, cl)
		case d.Err != nil:
			return fmt.Errorf("changelog %s: %w", cl, d.Err)
		case len(d.Partitions) != parts:
			return fmt.Errorf("changelog %s has %d partitions but its input %s has %d: stage state would not line up with the input's partitions",
				cl, len(d.Partitions), input, parts)
		}
	}
	if len(create) == 0 {
		return nil
	}
	configs := map[string]*string{
		"cleanup.policy": new("compact"),
		"retention.ms":   new("-1"),
	}
	resp, err := adm.CreateTopics(ctx, int32(parts), -1, configs, create...)
	if err != nil {
		return fmt.Errorf("create changelogs %v: %w", create, err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create changelog %s: %w", r.Topic, r.Err)
		}
	}
	// A topic just created is not served at once (the leader learns of
	// it after the controller): wait, so that the first restore does not
	// fail with UNKNOWN_TOPIC_OR_PARTITION.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		ends, err := adm.ListCommittedOffsets(ctx, create...)
		if err == nil && ends.Error() == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("changelogs %v are not served: %w", create, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// restoreState brings partition p of a changelog's local copy up to the
// changelog's end: it reads from the local checkpoint (the whole changelog
// when there is none) and writes what it reads to the store. A checkpoint
// beyond the changelog's end means the log lost records the local copy
// holds (a broker's data folder replaced): the local copy of the partition
// is then rebuilt from the start of the changelog, since the log is the
// source of truth.
//
// It reads with its own Fetch requests, read_committed, and parses them with
// kgo.ProcessFetchPartition, because that reports the offset of the last
// record a response held even when the record is not returned: a consumer
// client hides records of aborted transactions and so could not tell a
// partition that ends in aborted records (kfake aborts a crashed run's open
// transactions without writing markers) from a fetch that has not arrived.
// The restore ends exactly at the high watermark. While a transaction is
// still open on the partition (its last stable offset below the high
// watermark: a previous owner that died mid-poll), the records above it are
// not yet decided, so it waits for the broker to abort it, up to
// restoreOpenTxnWait, and otherwise fails: the poll that needed the state
// is aborted and retried, and nothing is marked restored. Any fetch error
// fails the restore the same way.
func restoreState(ctx context.Context, brokers []string, adm *kadm.Client, store *stages.StateStore, changelog string, p int32, log *slog.Logger) error {
	from, err := store.Checkpoint(changelog, p)
	if err != nil {
		return err
	}
	td, err := adm.ListTopics(ctx, changelog)
	if err != nil {
		return fmt.Errorf("restore %s/%d: metadata: %w", changelog, p, err)
	}
	topic, ok := td[changelog]
	if !ok || topic.Err != nil {
		return fmt.Errorf("restore %s/%d: the changelog is not served: %v", changelog, p, topic.Err)
	}
	part, ok := topic.Partitions[p]
	if !ok || part.Err != nil {
		return fmt.Errorf("restore %s/%d: the changelog has no such partition", changelog, p)
	}
	end, err := stableEnd(ctx, adm, changelog, p)
	if err != nil {
		return err
	}
	if from > end {
		log.Warn("stage state is ahead of its changelog; rebuilding it from the changelog",
			"changelog", changelog, "partition", p, "checkpoint", from, "end", end)
		if err := store.Drop(changelog, p); err != nil {
			return err
		}
		from = 0
	}
	if from >= end {
		return nil
	}
	started := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("restore %s/%d: client: %w", changelog, p, err)
	}
	defer cl.Close()
	broker := cl.Broker(int(part.Leader))
	decompressor := kgo.DefaultDecompressor()
	var (
		chunk []stages.Change
		next  = from
		read  int
	)
	for next < end {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 500
		req.MinBytes = 1
		req.MaxBytes = restoreFetchBytes
		req.IsolationLevel = 1 // read_committed
		req.SessionEpoch = -1  // no fetch session
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = changelog, topic.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = next
		rp.PartitionMaxBytes = restoreFetchBytes
		rp.CurrentLeaderEpoch = -1
		rp.LogStartOffset = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := broker.Request(ctx, req)
		if err != nil {
			return fmt.Errorf("restore %s/%d: fetch at %d: %w", changelog, p, next, err)
		}
		resp := kresp.(*kmsg.FetchResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("restore %s/%d: fetch at %d: %w", changelog, p, next, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return fmt.Errorf("restore %s/%d: fetch at %d: the response names no partition", changelog, p, next)
		}
		got := &resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(got.ErrorCode); err != nil {
			return fmt.Errorf("restore %s/%d: fetch at %d: %w", changelog, p, next, err)
		}
		fp, last := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
			KeepControlRecords: true,
			Offset:             next,
			IsolationLevel:     kgo.ReadCommitted(),
			Topic:              changelog,
			Partition:          p,
		}, got, decompressor, nil)
		if fp.Err != nil {
			return fmt.Errorf("restore %s/%d: fetch at %d: %w", changelog, p, next, fp.Err)
		}
		for _, r := range fp.Records {
			if r.Offset >= end || r.Attrs.IsControl() {
				continue
			}
			chunk = append(chunk, stages.Change{Space: changelog, Key: r.Key, Value: r.Value})
		}
		switch {
		case last >= next:
			next = min(last+1, end)
		case len(got.RecordBatches) > 0:
			return fmt.Errorf("restore %s/%d: fetch at %d: the response held no record at or after it", changelog, p, next)
		default:
			// The broker answered, read_committed, with nothing at or
			// after next: either a transaction opened after we listed the
			// end (wait until it is decided), or the records below the end
			// are gone (compacted away). With the end stable and unchanged,
			// it is the latter.
			newEnd, err := waitStable(ctx, adm, changelog, p, next, end, log)
			if err != nil {
				return err
			}
			if newEnd == end {
				next = end
			}
			end = newEnd
		}
		if len(chunk) >= restoreBatch || next >= end {
			if err := store.Restore(changelog, p, chunk, next); err != nil {
				return err
			}
			read += len(chunk)
			chunk = chunk[:0]
		}
	}
	log.Info("stage state restored", "changelog", changelog, "partition", p,
		"from", from, "to", next, "records", read, "took", time.Since(started).Round(time.Millisecond))
	return nil
}

// stableEnd returns the end of partition p of topic once no transaction is
// open on it: its high watermark, when the last stable offset has reached
// it. It waits up to restoreOpenTxnWait for that.
func stableEnd(ctx context.Context, adm *kadm.Client, topic string, p int32) (int64, error) {
	deadline := time.Now().Add(restoreOpenTxnWait)
	for {
		hwm, lso, err := partitionEnds(ctx, adm, topic, p)
		if err != nil {
			return 0, err
		}
		if lso >= hwm {
			return hwm, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("restore %s/%d: a transaction has stayed open on the changelog for %s (stable offset %d, end %d)",
				topic, p, restoreOpenTxnWait, lso, hwm)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitStable is called when a fetch at next returned nothing below end: the
// records there are not readable yet. It returns the partition's end once
// it is stable again, and fails if it cannot make progress.
func waitStable(ctx context.Context, adm *kadm.Client, topic string, p int32, next, end int64, log *slog.Logger) (int64, error) {
	newEnd, err := stableEnd(ctx, adm, topic, p)
	if err != nil {
		return 0, err
	}
	if newEnd < next {
		return 0, fmt.Errorf("restore %s/%d: the changelog ends at %d, below the offset %d being read", topic, p, newEnd, next)
	}
	log.Debug("restore fetch returned nothing; the end is stable again", "changelog", topic, "partition", p, "at", next, "end", end, "new_end", newEnd)
	return newEnd, nil
}

// partitionEnds returns the high watermark and the last stable offset of
// partition p of topic.
func partitionEnds(ctx context.Context, adm *kadm.Client, topic string, p int32) (hwm, lso int64, err error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("restore %s/%d: end offsets: %w", topic, p, err)
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("restore %s/%d: stable offsets: %w", topic, p, err)
	}
	h, ok1 := ends.Lookup(topic, p)
	l, ok2 := stable.Lookup(topic, p)
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("restore %s/%d: the changelog has no such partition", topic, p)
	}
	return h.Offset, l.Offset, nil
}
