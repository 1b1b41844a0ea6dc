package topics

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKeyPartitioner: a record with HeaderPartitionKey lands where a record
// keyed by that value would, whatever its own key; without the header the
// key decides, as Kafka's Java client would place it.
func TestKeyPartitioner(t *testing.T) {
	const n = 8
	plain := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	ours := newKeyPartitioner().ForTopic("t")
	spread := map[int]bool{}
	for i := range 64 {
		path := fmt.Sprintf("/git/repo%d/commit", i)
		want := plain.Partition(&kgo.Record{Key: []byte(path)}, n)
		spread[want] = true
		t.Run(path, func(t *testing.T) {
			for j := range 4 {
				r := &kgo.Record{Key: []byte(fmt.Sprintf("orn:pubsub.message:%d-%d", i, j)),
					Headers: []kgo.RecordHeader{{Key: "other", Value: []byte("x")}, {Key: HeaderPartitionKey, Value: []byte(path)}}}
				if !ours.RequiresConsistency(r) {
					t.Fatalf("record %d with a partition key does not require consistency", j)
				}
				if got := ours.Partition(r, n); got != want {
					t.Fatalf("record %d: partition %d, want %d (that of its partition key)", j, got, want)
				}
			}
			keyed := &kgo.Record{Key: []byte(path)}
			if got := ours.Partition(keyed, n); got != want {
				t.Fatalf("keyed record without the header: partition %d, want %d", got, want)
			}
		})
	}
	if len(spread) < n/2 {
		t.Fatalf("64 paths spread over only %d of %d partitions", len(spread), n)
	}
}
