package topics

import (
	"github.com/twmb/franz-go/pkg/kgo"
)

// HeaderPartitionKey, when a record carries it, names the key the record is
// partitioned by in place of its record key: murmur2 of this header's value,
// exactly as Kafka's Java client hashes a key. The record key stays what the
// topic's schema says (a raw record's source key, an events record's RID),
// so compaction and readers keyed by it are unaffected; only the partition
// changes. Writers set it to keep an ordering group together when its
// records have distinct keys: the messages published to one stream path,
// each its own RID, must reach subscribers in the order they were sent, and
// only one partition orders them. Whoever sets it must derive it from the
// record key alone (the path is part of a published message's RID), so that
// every record of one key still lands on one partition.
const HeaderPartitionKey = "koistream-partition-key"

// keyPartitioner partitions records by HeaderPartitionKey when they carry
// it and by their key otherwise, both with Kafka's murmur2; unkeyed records
// stick to one partition per batch (kgo.StickyKeyPartitioner).
type keyPartitioner struct{ keyed kgo.Partitioner }

// newKeyPartitioner returns the partitioner every koistream producer uses.
func newKeyPartitioner() kgo.Partitioner {
	return keyPartitioner{keyed: kgo.StickyKeyPartitioner(nil)}
}

func (p keyPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return keyTopicPartitioner{p.keyed.ForTopic(topic)}
}

type keyTopicPartitioner struct{ kgo.TopicPartitioner }

// RequiresConsistency: a record with a partition key must hash, like a
// keyed one.
func (p keyTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return partitionKey(r) != nil || p.TopicPartitioner.RequiresConsistency(r)
}

// Partition hashes the partition key when there is one, by handing the
// keyed partitioner a copy of the record whose key is that value.
func (p keyTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if k := partitionKey(r); k != nil {
		shadow := kgo.Record{Key: k}
		return p.TopicPartitioner.Partition(&shadow, n)
	}
	return p.TopicPartitioner.Partition(r, n)
}

func partitionKey(r *kgo.Record) []byte {
	for i := range r.Headers {
		if r.Headers[i].Key == HeaderPartitionKey {
			return r.Headers[i].Value
		}
	}
	return nil
}

// OnNewBatch forwards to the keyed partitioner, whose sticky choice for
// unkeyed records moves on with each new batch.
func (p keyTopicPartitioner) OnNewBatch() {
	if nb, ok := p.TopicPartitioner.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
