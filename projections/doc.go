// Package projections materialises koistream's state from the log into
// Pebble: the cache (RID → latest bundle, listable by RID type) that the KOI
// fetch endpoints serve from, the graph (the KOI-net nodes and edges the log
// announced, by source, target and provided type), and later the
// per-subscriber queues and the offsets-by-time index.
//
// Every projection implements [Projection] and lives in one [Store], a
// Pebble database that also holds the offsets the projections consumed. One
// [Runner] reads the events topic's partitions directly (no consumer group:
// every instance keeps a full replica) with a [PartitionReader] and commits
// each poll's effect on every projection together with the next offsets in
// one atomic Pebble batch ([Store.Apply]). On start it resumes from those
// offsets, and records below them are dropped, so each record takes effect
// exactly once although the log delivers at least once. [Reset] deletes a
// store; the next runner rebuilds it from the beginning of the log.
package projections
