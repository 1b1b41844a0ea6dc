package pipeline

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// drained compares what each segment has handled with its input topic's end
// offsets, then what the projection applied with the events topic's.
func (n *Node) drained(ctx context.Context) (bool, error) {
	adm := n.admin
	// Segments in flow order: once a segment has handled its input's end,
	// its outputs are published, so the next segment's end is final.
	for i, seg := range n.cfg.Segments {
		topic := n.names.Resolve(seg.From)
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false, fmt.Errorf("drained: end offsets of %s: %w", topic, err)
		}
		handled := n.segments[i].consumer.Handled()
		behind := false
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > handled[o.Partition] {
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
