// Package stages holds koistream's processing stages: the steps that turn
// raw inputs into canonical observations (normalize), drop inputs already
// seen (dedupe), and turn observations into KOI events with RIDs, manifests
// and NEW/UPDATE/FORGET (ridify). Stages are registered by name in one
// [Registry] and composed into [Segment]s by configuration, so an extra
// stage plugs in without touching the others; a segment's [Chain] is the
// watermill handler the pipeline's segment runner calls.
//
// Sources plug in the same way: normalize hands each raw record to the
// [Parser] registered for its source kind in [BuiltinParsers], so a new
// source is a package that writes raw records of its own kind plus one
// registration. Records are read and written through the topic schemas of
// topics/raw, topics/observed, topics/events and topics/dead.
//
// A stage sees one message at a time and returns the messages it produces.
// Stage state (seen keys, RID hashes) is a [State]: the local Pebble copy of
// a changelog topic per stage placement, written in the same Kafka
// transaction as the segment's outputs and input offsets, so every input's
// effect reaches the next topic exactly once and nothing acknowledged is
// lost, across crashes and partitions moving between instances.
package stages
