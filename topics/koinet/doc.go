// Package koinet is the raw-topic format of the "koi-net" source: KOI-net
// events that reached the node from other nodes (a /events/broadcast, the
// answer to a poll or to a fetch) and the node's own KOI-net knowledge (its
// profile, the edges it proposes and approves). The intakes write these
// records with [NewMessage], the koi-net parser (stages/koinet) reads them
// with [Parse]; nobody else builds or takes them apart.
//
// A koi-net raw record is
//
//   - key: for input from a peer, the hex sha256 of the sender's RID, a zero
//     byte and the body, so the same batch sent twice (the reference re-sends
//     a failed batch with the next one, KOI-2.1.md 1f) is the same input and
//     the dedupe stage drops the copy; for local knowledge, a new UUID.
//   - value: the body exactly as received: a signed envelope (koi-net 1.1+),
//     a bare payload (1.0), or for local knowledge a bare events_payload. The
//     payload is an events_payload or, for fetch answers, a bundles_payload.
//   - headers: raw's own (source kind "koi-net", receive time, content type)
//     and [HeaderSender], [HeaderReceiver], [HeaderVia], [HeaderTargets].
package koinet
