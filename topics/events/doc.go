// Package events is the schema of the events topic: the KOI-net events the
// ridify stage announces, which the projections apply and subscribers read.
// The writer builds its records with [NewMessage]; readers of the headers use
// [Parse], readers of the value [ParseValue].
//
// An events record is
//
//   - key: the RID, so all events of one RID are on one partition, in order.
//   - value: the KOI event, {"rid","event_type","manifest"?,"contents"?}, as
//     koi.Event.AppendJSON writes it: the contents byte for byte as observed,
//     manifest and contents absent for FORGET.
//   - headers: the headers of the observation it came from (topics/observed:
//     RID, op, routing stem, source, source key, receive time, raw partition
//     and offset), [HeaderEventType] ("NEW", "UPDATE" or "FORGET"),
//     [HeaderRoutingKey] (the GHTorrent-style key, "evt.push.insert",
//     "ent.issue.update"), and the trace context the publisher adds.
//
// [ParseValue] takes the value apart without validating the contents
// again: ridify validated and hashed them before it wrote the record.
package events
