package pipeline

import (
	"maps"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/koistream/koistream/topics"
)

// TestRestoreBeforeAnythingIsProduced: a poll holds a partition that is
// already restored (1) and one that is newly assigned (0) whose restore
// takes longer than the transaction timeout (its changelog's offsets are
// listed 12 s late). The restore must run before the poll produces
// anything, since the broker's transaction timer starts with the first
// record: restoring after partition 1's output went out got the producer
// fenced and stopped the segment (the node would exit).
func TestRestoreBeforeAnythingIsProduced(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(2),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(topics.MaxBatchBytes)}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	seg := newTestSegment(t, addr, "rv.", t.TempDir(), countName)
	cl := seg.spaces[0]
	seg.restored[1] = true // restored by an earlier poll

	var slowed atomic.Bool
	c.ControlKey(kmsg.ListOffsets.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, tp := range req.(*kmsg.ListOffsetsRequest).Topics {
			if tp.Topic == cl && slowed.CompareAndSwap(false, true) {
				c.SleepControl(func() { time.Sleep(12 * time.Second) }) // a long restore
			}
		}
		return nil, nil, false
	})

	seg.input(t, 0, "a")
	seg.input(t, 1, "b")
	seg.run(t, seg.segmentRunner, false)
	seg.waitCommitted(t)
	if got, want := seg.outputs(t), map[string]int{"a#1": 1, "b#1": 1}; !maps.Equal(got, want) {
		t.Errorf("outputs %v, want %v", got, want)
	}
}
