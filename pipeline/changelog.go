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

// restoreIdle is how long a restore waits for the next changelog record
// before it decides the log has nothing more below its end offset. The
// records just below the listed end may never arrive: kfake aborts the
// transactions a crash left open when it loads its data (persist.go,
// "Implicitly abort in-flight transactions") without writing abort markers,
// so a read_committed reader skips those records silently and never sees an
// offset at the end. A fetch waits at most FetchMaxWait (200 ms) for data
// below the last stable offset, which is there at once when it exists, so
// one second of nothing is several empty fetches.
const restoreIdle = time.Second

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
// changelog's committed end: it reads from the local checkpoint (the whole
// changelog when there is none) and writes what it reads to the store. A
// checkpoint beyond the changelog's end means the log lost records the
// local copy holds (a broker's data folder replaced): the local copy of the
// partition is then rebuilt from the start of the changelog, since the log
// is the source of truth.
func restoreState(ctx context.Context, brokers []string, adm *kadm.Client, store *stages.StateStore, changelog string, p int32, log *slog.Logger) error {
	from, err := store.Checkpoint(changelog, p)
	if err != nil {
		return err
	}
	// The committed end (last stable offset): records of a transaction
	// still open are not state yet, and a reader waiting for them would
	// wait for the transaction's timeout.
	ends, err := adm.ListCommittedOffsets(ctx, changelog)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("restore %s/%d: end offsets: %w", changelog, p, err)
	}
	end, ok := ends.Lookup(changelog, p)
	if !ok {
		return fmt.Errorf("restore %s/%d: the changelog has no such partition", changelog, p)
	}
	if from > end.Offset {
		log.Warn("stage state is ahead of its changelog; rebuilding it from the changelog",
			"changelog", changelog, "partition", p, "checkpoint", from, "end", end.Offset)
		if err := store.Drop(changelog, p); err != nil {
			return err
		}
		from = 0
	}
	if from >= end.Offset {
		return nil
	}
	started := time.Now()
	opts := append(topics.FetchOpts(), kgo.SeedBrokers(brokers...), kgo.DisableFetchSessions(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{changelog: {p: kgo.NewOffset().At(from)}}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("restore %s/%d: client: %w", changelog, p, err)
	}
	defer cl.Close()
	var (
		chunk []stages.Change
		next  = from
		read  int
	)
	for next < end.Offset {
		pctx, cancel := context.WithTimeout(ctx, restoreIdle)
		fetches := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if fetches.NumRecords() == 0 {
			if pctx.Err() != nil {
				log.Warn("changelog ended below its listed end offset; restored what it holds",
					"changelog", changelog, "partition", p, "at", next, "end", end.Offset)
				break
			}
			fetches.EachError(func(_ string, _ int32, err error) {
				log.Warn("changelog fetch error", "changelog", changelog, "partition", p, "err", err)
			})
			continue
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end.Offset {
				return
			}
			next = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			chunk = append(chunk, stages.Change{Space: changelog, Key: r.Key, Value: r.Value})
		})
		if len(chunk) >= restoreBatch || next >= end.Offset {
			if err := store.Restore(changelog, p, chunk, next); err != nil {
				return err
			}
			read += len(chunk)
			chunk = chunk[:0]
		}
	}
	if len(chunk) > 0 {
		if err := store.Restore(changelog, p, chunk, next); err != nil {
			return err
		}
		read += len(chunk)
	}
	log.Info("stage state restored", "changelog", changelog, "partition", p,
		"from", from, "to", next, "records", read, "took", time.Since(started).Round(time.Millisecond))
	return nil
}
