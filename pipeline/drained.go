package pipeline

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// drained compares each segment's committed offsets with its input topic's
// end offsets, then checks the projection's lag.
func (n *Node) drained(ctx context.Context) (bool, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafka...))
	if err != nil {
		return false, fmt.Errorf("drained: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, seg := range n.cfg.Segments {
		topic := n.names.Resolve(seg.From)
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false, fmt.Errorf("drained: end offsets of %s: %w", topic, err)
		}
		committed, err := adm.FetchOffsets(ctx, n.groupOf(seg.HandlerName()))
		if err != nil {
			return false, fmt.Errorf("drained: offsets of segment %s: %w", seg.HandlerName(), err)
		}
		behind := false
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := committed.Lookup(topic, o.Partition)
			if o.Offset > 0 && (!ok || c.At < o.Offset) {
				behind = true
			}
		})
		if behind {
			return false, nil
		}
	}
	ends, err := adm.ListEndOffsets(ctx, n.names.Events)
	if err != nil {
		return false, fmt.Errorf("drained: end offsets of %s: %w", n.names.Events, err)
	}
	next := n.runner.Next()
	caughtUp := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > next[o.Partition] {
			caughtUp = false
		}
	})
	return caughtUp, nil
}

// groupOf names the consumer group of a segment.
func (n *Node) groupOf(segment string) string {
	return n.cfg.TopicPrefix + "stage." + segment
}
