package benchmarks

import (
	"runtime/metrics"

	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/pipeline"
)

// memoryAttrs returns log attributes that split the process's resident
// memory (MiB) into the parts a node is known to hold: the Go heap
// (in-use objects, and all the runtime has mapped, released pages
// included, so an upper bound of its resident share), and
// for each of the node's Pebble databases its memtables and block cache,
// which Pebble allocates outside the Go heap. Peak RSS is a target, and
// these say which part to shrink when it is near it.
func memoryAttrs(node *pipeline.Node) []any {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
	}
	metrics.Read(samples)
	mib := func(b uint64) float64 { return round(float64(b)/(1<<20), 1) }
	rss, _ := procField("/proc/self/status", "VmRSS:")
	state, cache := node.StateMetrics(), node.ProjectionMetrics()
	memtable := func(m *pebble.Metrics) float64 { return mib(m.MemTable.Size) }
	blockCache := func(m *pebble.Metrics) float64 { return mib(uint64(m.BlockCache.Size)) }
	return []any{
		"rss_mib", round(float64(rss)/1024, 1),
		"go_heap_objects_mib", mib(samples[0].Value.Uint64()),
		"go_runtime_total_mib", mib(samples[1].Value.Uint64()),
		"state_memtables_mib", memtable(state), "state_block_cache_mib", blockCache(state),
		"cache_memtables_mib", memtable(cache), "cache_block_cache_mib", blockCache(cache),
	}
}
