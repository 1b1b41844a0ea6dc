package pipeline

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
)

// legacyPrefixes are the Pebble key prefixes under which builds before
// exactly-once segments kept dedupe's and ridify's state, one database-wide
// key space per stage: "<stage>\x00<key>", unpartitioned, no changelog.
var legacyPrefixes = []string{stages.DedupeName, stages.RidifyName}

// migrateLegacyState moves stage state written by a build before
// exactly-once segments into the changelogs, so that an upgraded node
// keeps dropping redeliveries it saw before and does not announce known
// RIDs as NEW again. Each legacy key is produced to the changelog of the
// first placement of its stage, to the partition its input record's key
// hashes to (the raw record's key is the dedupe key's source key, the
// observed record's key the RID; Kafka's default partitioner, as the
// pipeline's producers use), and then deleted; the restore on assignment
// materialises it like any other changelog record. It runs before the
// segments start. A crash half-way leaves the legacy keys in place and
// the next start produces them again, which a compacted changelog absorbs.
func (n *Node) migrateLegacyState(ctx context.Context, states []*segmentState) error {
	type target struct {
		changelog, input string
		stage            string
	}
	targets := map[string]target{}
	for i, seg := range n.cfg.Segments {
		for j, spec := range seg.Stages {
			if _, seen := targets[spec.Name]; seen {
				continue
			}
			name := n.changelogTopic(seg.ID(), spec.Name, j)
			for _, sp := range states[i].spaces {
				if sp == name {
					targets[spec.Name] = target{changelog: name, input: n.names.Resolve(seg.From), stage: spec.Name}
				}
			}
		}
	}
	// Records go out in chunks as the keys are read: dedupe keeps one key
	// per delivery ever seen, millions on an old node, too many to hold.
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	var recs []*kgo.Record
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		if cl == nil {
			var err error
			if cl, err = kgo.NewClient(append(topics.ProducerOpts(), kgo.SeedBrokers(n.kafka...),
				kgo.RecordPartitioner(kgo.ManualPartitioner()))...); err != nil {
				return fmt.Errorf("legacy stage state: %w", err)
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("legacy stage state: produce to changelog: %w", err)
		}
		recs = recs[:0]
		return nil
	}
	var del [][2][]byte
	for _, stage := range legacyPrefixes {
		lo := append([]byte(stage), 0)
		hi := append([]byte(stage), 1)
		it, err := n.state.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return fmt.Errorf("legacy stage state: %w", err)
		}
		found := 0
		tg, ok := targets[stage]
		var parts int
		if ok {
			if parts, err = partitionCount(ctx, n.admin, tg.input); err != nil {
				it.Close()
				return err
			}
		}
		for it.First(); it.Valid(); it.Next() {
			found++
			if !ok {
				continue
			}
			key := bytes.Clone(it.Key()[len(lo):])
			recKey := key
			if stage == stages.DedupeName {
				// "<source kind>\x00<source key>": the raw record's key
				// is the source key.
				if i := bytes.IndexByte(key, 0); i >= 0 {
					recKey = key[i+1:]
				}
			}
			p := kgo.StickyKeyPartitioner(nil).ForTopic(tg.input).Partition(&kgo.Record{Key: recKey}, parts)
			recs = append(recs, &kgo.Record{Topic: tg.changelog, Partition: int32(p), Key: key, Value: bytes.Clone(it.Value())})
			if len(recs) == legacyChunk {
				if err := flush(); err != nil {
					it.Close()
					return err
				}
			}
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("legacy stage state: %w", err)
		}
		if found == 0 {
			continue
		}
		del = append(del, [2][]byte{lo, hi})
		if ok {
			n.log.Info("moving stage state of an earlier build into its changelog", "stage", stage, "keys", found, "changelog", tg.changelog)
		} else {
			n.log.Warn("dropping stage state of an earlier build: no segment runs the stage now", "stage", stage, "keys", found)
		}
	}
	if len(del) == 0 {
		return nil
	}
	if err := flush(); err != nil {
		return err
	}
	b := n.state.NewBatch()
	defer b.Close()
	for _, r := range del {
		if err := b.DeleteRange(r[0], r[1], nil); err != nil {
			return fmt.Errorf("legacy stage state: %w", err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("legacy stage state: %w", err)
	}
	return nil
}

// legacyChunk is how many legacy keys are produced to the changelogs at a
// time.
const legacyChunk = 10000

// partitionCount returns how many partitions topic has.
func partitionCount(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	d, ok := td[topic]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return 0, fmt.Errorf("partitions of %s: the topic has none", topic)
	}
	return len(d.Partitions), nil
}
