// Package observed is the schema of the observed topic: canonical
// observations, each one statement about one RID, that the normalize stage
// derives from raw records (topics/raw) and the ridify stage turns into KOI
// events (topics/events). Every writer builds its records with [NewMessage]
// and every reader takes them apart with [Parse].
//
// An observed record is
//
//   - key: the RID, so all observations of one RID land on one partition,
//     in order.
//   - value: for an upsert, the RID's contents, a JSON object; for a forget,
//     empty.
//   - headers: [HeaderRID] (the key again, readable by tools that show only
//     headers); [HeaderOp], "upsert" or "forget"; [HeaderRouting], the
//     routing-key stem the source chose ("evt.push", "ent.issue");
//     [HeaderImmutable], "true" when the RID never changes once announced
//     (absent otherwise); and where the observation came from:
//     [HeaderSource], [HeaderSourceKey], [HeaderReceivedAt],
//     [HeaderRawPartition] and [HeaderRawOffset]; for KOI-net, the node it
//     came from ([HeaderPeer]) and the nodes it must reach whatever the
//     edges say ([HeaderTargets]), both absent when empty; the stream path
//     ([HeaderPath]) and partition key ([HeaderPartitionKey]) when the
//     source chose them; and the trace
//     context the publisher adds (traceparent).
//
// Records written before the routing and immutable headers existed, all
// from the GitHub webhook source, carried X-GitHub-Event instead: Parse
// derives both from it and from the RID's type, as the ridify stage of that
// build did, so a log written then replays unchanged.
package observed
