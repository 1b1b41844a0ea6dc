package topics

import "github.com/twmb/franz-go/pkg/kgo"

// MaxRecordBytes is the largest record koistream writes to any of its
// topics. GitHub sends webhook bodies of up to 25 MiB; the record that
// carries one (raw), and the observation and event derived from it, add
// headers and an envelope, so every producer, every topic's
// max.message.bytes and the embedded broker's message.max.bytes allow
// this much and not Kafka's default of 1,048,588 bytes, which refused every
// delivery of about 1 MiB or more.
const MaxRecordBytes = 32 << 20

// ProducerOpts returns the options every producer of a node's topics uses
// so that a record of up to MaxRecordBytes is accepted by the client.
// Options given after these override them.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.ProducerBatchMaxBytes(MaxRecordBytes + 1<<20),
	}
}
