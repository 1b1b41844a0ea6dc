// Package publish is the raw-topic format of the "publish" source: JSON
// objects PUT or POSTed to the stream listener (pipeline/streams), as
// GitPubSub and PyPubSub publishers send them. The listener writes these
// records with [NewMessage], the publish parser (stages/publish) reads them
// with [Parse]; nobody else builds or takes them apart.
//
// A publish raw record is
//
//   - key: a new ULID per publish, so that two identical objects published
//     twice are two messages, and keys sort by time of receipt.
//   - value: the body exactly as received, a JSON object.
//   - headers: raw's own (source kind "publish", receive time, content
//     type, user agent), [HeaderPath] (the stream path published to),
//     [HeaderRemote] (the publisher's address) and topics.HeaderPartitionKey
//     set to the path, so one path's messages share a partition and keep
//     their order.
package publish
