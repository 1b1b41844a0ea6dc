// Package eventhive is the raw-topic format of the "eventhive" source:
// messages EventHive processes PUBLISH to the Redis channels
// <network>/<input_channel>/<event> that a node's eventhive source
// subscribes to (pipeline/eventhive, configured in pipeline's sources:
// list). The intake writes these records with [NewMessage], the eventhive
// parser (stages/eventhive) reads them with [Parse]; nobody else builds or
// takes them apart. The names of EventHive's own format (the metadata and
// signature members) are here too, since both halves and the sink use
// them.
//
// An eventhive raw record is
//
//   - key: the message's __eventhive__.id when that is a UUID in its
//     canonical lower-case text form (EventHive writes a uuid4 there), so
//     that a message received twice (two subscriptions, a publisher's
//     retry) is one input to the dedupe stage; otherwise a new ULID.
//   - value: the message as an EventHive hook gets it: the JSON object
//     received, or, on a channel with a secret, the decrypted plaintext
//     (Python's canonical JSON, its __sign__ member still in it) whose
//     signature the intake verified.
//   - headers: raw's own (source kind "eventhive", receive time, content
//     type application/json), [HeaderNetwork], [HeaderChannel] and
//     [HeaderEvent] (the three parts of the Redis channel name),
//     [HeaderVerification] (how the intake verified it: "none", "signed"
//     or "encrypted") and topics.HeaderPartitionKey set to [Path], so one
//     event name's messages share a partition and keep their order.
package eventhive
