// Package topics owns koistream's log: the Kafka topics every input and every
// derived record lands in, the embedded Kafka-protocol broker that serves them
// when no external cluster is configured, and the clients built on franz-go
// that read and write them: the Publisher (a watermill Publisher that
// coalesces concurrent calls into one produce request), the BatchConsumer
// that the stage segments run on (each poll handed over as per-partition
// batches of watermill messages, offsets committed only after the handler
// made the batch's effects durable; see pipeline/segment.go for the runner
// around it), and a watermill Subscriber for readers that want one message
// at a time.
//
// What each topic holds is exported one package per topic, each with its
// key, header names, constructor and parser, and used by every writer and
// reader: topics/raw, topics/observed, topics/events and topics/dead. The
// wire format of each source lives with the source (topics/github for
// GitHub webhooks); the KOI-net types with topics/koi.
//
// Everything above this package (stages, projections, replay, pipeline)
// reaches Kafka only through it, so switching from the embedded broker to a
// Kafka or Redpanda cluster changes a list of seed brokers and nothing else.
package topics
