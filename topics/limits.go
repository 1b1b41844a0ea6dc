package topics

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// MaxRecordBytes is the largest record koistream writes to any of its
// topics. GitHub sends webhook bodies of up to 25 MiB; the record that
// carries one (raw), and the observation and event derived from it, add
// headers and an envelope, so every producer, every topic's
// max.message.bytes and the embedded broker's message.max.bytes allow
// this much and not Kafka's default of 1,048,588 bytes, which refused every
// delivery of about 1 MiB or more.
const MaxRecordBytes = 32 << 20

// MaxBatchBytes is the largest record batch a producer sends and a topic
// or the embedded broker accepts: MaxRecordBytes plus 1 MiB for the
// batch's framing and the other, small records that share a batch with the
// largest one. Kafka checks its max.message.bytes against whole batches,
// so the broker's and the topics' limits must be at least the producers'
// batch size, or a full batch of small records would be refused where a
// single record of the same size is accepted.
const MaxBatchBytes = MaxRecordBytes + 1<<20

// MaxMessageBytesConfig is the topic configuration key (Kafka's and
// Redpanda's) that bounds a record batch, and BrokerMaxMessageBytesConfig
// the broker-wide default it overrides.
const (
	MaxMessageBytesConfig       = "max.message.bytes"
	BrokerMaxMessageBytesConfig = "message.max.bytes"
)

// ProducerOpts returns the options every producer of a node's topics uses
// so that a record of up to MaxRecordBytes is accepted by the client: its
// batches may reach MaxBatchBytes (franz-go's default is 1,000,012 bytes, and
// it fails a larger record without sending it). Options given after these
// override them.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.ProducerBatchMaxBytes(MaxBatchBytes),
	}
}

// TopicConfigs returns the configuration every topic koistream creates
// gets, as Kafka's CreateTopics takes it:
//
//   - retention.ms=-1: the raw topic is the system of record and replay by
//     offset needs the rest, so nothing expires; said at topic level so
//     that neither Kafka nor the embedded broker applies its 7-day default;
//   - max.message.bytes=MaxBatchBytes, so that a cluster whose broker-wide
//     message.max.bytes is Kafka's default takes a 25 MiB webhook.
//
// The map is new on every call; callers may change it.
func TopicConfigs() map[string]*string {
	return map[string]*string{
		"retention.ms":        new("-1"),
		MaxMessageBytesConfig: new(strconv.Itoa(MaxBatchBytes)),
	}
}
