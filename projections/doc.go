// Package projections materialises koistream's state from the log into
// Pebble: the cache (RID → latest bundle, indexed by RID type) that the KOI
// fetch endpoints serve from, and later the per-subscriber queues, the graph
// and the offsets-by-time index.
//
// A projection consumes its topic's partitions directly (no consumer group:
// every instance keeps a full replica) and writes each batch of state
// changes together with the offsets it consumed in one atomic Pebble batch.
// On start it resumes from those offsets, so its effect is exactly-once even
// though the log delivers at least once, and deleting its folder rebuilds it
// from the log.
package projections
