package topics

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// GroupLag returns how many records of topic the consumer group has not
// committed yet: the sum over partitions of the end offset minus the
// group's committed offset (transaction markers count, as they take
// offsets). A group that never committed lags by the whole topic. It
// reports false when the offsets cannot be read within a second, so a
// metrics callback never blocks on a broker that is down. Safe for
// concurrent use.
func GroupLag(ctx context.Context, adm *kadm.Client, group, topic string) (int64, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		return 0, false
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		committed = nil // a group that never committed: everything is lag
	}
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if c, ok := committed.Lookup(topic, o.Partition); ok && c.At >= 0 {
			at = c.At
		}
		lag += max(o.Offset-at, 0)
	})
	return lag, true
}
