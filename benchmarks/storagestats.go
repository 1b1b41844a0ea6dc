package benchmarks

import "github.com/cockroachdb/pebble/v2"

// dbStats is what one Pebble database did during a measurement: how much it
// wrote (flushes of memtables, compactions rewriting tables and blob files),
// how often a block it needed was in its block cache, and how large it was
// at the end. They tell which of the node's databases a growing cost per
// delivery comes from.
type dbStats struct {
	flushedMB, compactedMB float64
	blockCacheHitRatio     float64
	sizeMB                 float64
}

// statsOf summarises m. The metrics are cumulative since the database was
// opened, which for the e2e measurement is the node's start.
func statsOf(m *pebble.Metrics) dbStats {
	t := m.Total()
	s := dbStats{
		flushedMB:   float64(t.TableBytesFlushed+t.BlobBytesFlushed) / 1e6,
		compactedMB: float64(t.TableBytesCompacted+t.BlobBytesCompacted) / 1e6,
		sizeMB:      float64(m.DiskSpaceUsage()) / 1e6,
	}
	if n := m.BlockCache.Hits + m.BlockCache.Misses; n > 0 {
		s.blockCacheHitRatio = float64(m.BlockCache.Hits) / float64(n)
	}
	return s
}
