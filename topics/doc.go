// Package topics owns koistream's log: the Kafka topics every input and every
// derived record lands in, the embedded Kafka-protocol broker that serves them
// when no external cluster is configured, and the watermill Publisher and
// Subscriber built on franz-go that the stages use to read and write them.
//
// Everything above this package (stages, projections, replay, pipeline)
// reaches Kafka only through it, so switching from the embedded broker to a
// Kafka or Redpanda cluster changes a list of seed brokers and nothing else.
package topics
