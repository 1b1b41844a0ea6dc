package projections

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// StageStateOptions returns the options of the stages' state database (the
// dedupe keys and ridify's per-RID state, which pipeline.Node opens), whose
// settings are also the base of [StoreOptions]: the newest format (a zero
// value would pick the oldest supported), Pebble's logging routed to logger
// (its info chatter goes to debug; nil means slog.Default()), 32 MiB
// memtables (default 4 MiB, which kept Pebble flushing and compacting; the
// stage state takes ~370 bytes per delivery, so 32 MiB flushes every ~90,000
// deliveries, and each memtable is held twice, live and recycled, so larger
// ones cost memory), and bloom filters on every level, L0 included, because
// the stages' hot path is point lookups of keys that mostly do not exist yet
// (a new delivery, a new RID), which without filters search every level's
// index.
//
// The write-ahead log is on: the stage state exists nowhere else, and a
// lost write would let a redelivery pass dedupe or make ridify announce a
// RID again.
//
// The block cache is sized on top of the memtables: Pebble charges every
// memtable it allocates to the block cache, so with its default 8 MB cache
// and 64 MiB memtables nothing was ever cached (measured: a hit ratio of 0
// over a whole run) and every lookup read its filter, index and data blocks
// from the file and decompressed them, a cost that grew with the database.
// CacheSize is therefore MemTableStopWritesThreshold memtables plus
// [BlockCacheBytes] for blocks.
func StageStateOptions(logger *slog.Logger) *pebble.Options {
	return baseOptions(logger)
}

// baseOptions builds the settings that [StageStateOptions] and
// [StoreOptions] share; StageStateOptions says why each is set.
func baseOptions(logger *slog.Logger) *pebble.Options {
	if logger == nil {
		logger = slog.Default()
	}
	o := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       32 << 20,
		Logger:             pebbleLogger{logger.With("component", "pebble")},
	}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	sizeBlockCache(o)
	return o
}

// BlockCacheBytes is how much of each database's block cache is left for
// blocks when its memtables are full: room for the filter and index blocks
// of a database of a few million keys and the hottest data blocks.
const BlockCacheBytes = 32 << 20

// memTableStopWrites is Pebble's default MemTableStopWritesThreshold, set
// explicitly because the block cache is sized from it.
const memTableStopWrites = 2

// sizeBlockCache sets o's block cache to hold its memtables and
// BlockCacheBytes of blocks. Call it again after changing MemTableSize.
func sizeBlockCache(o *pebble.Options) {
	o.MemTableStopWritesThreshold = memTableStopWrites
	o.CacheSize = int64(memTableStopWrites)*int64(o.MemTableSize) + BlockCacheBytes
}

// StoreOptions returns the options of the projections' [Store], where the
// cache projection lives: the shared base (see [StageStateOptions]) without
// the write-ahead log and with large values kept apart from the keys.
//
// No write-ahead log, because the events topic is the store's log: every
// batch carries the offsets it consumed, and a memtable reaches disk whole,
// so after a crash the database holds a prefix of the applied batches and
// the offsets that go with it, and the runner re-applies the rest from the
// topic. Writing each bundle to a WAL as well doubled the projection's disk
// writes for nothing.
//
// Value separation (blob files) keeps bundle bodies, kilobytes each, out of
// the LSM's compactions: a compaction rewrites keys and small values and
// references the bodies where they are, so the cost of writing a bundle
// stays flat as the cache grows instead of rising with every level it
// passes through. The reference depth is set high because RIDs spread over
// the whole key space, so every table soon references every blob file; at
// Pebble's suggested depth of 10, compactions kept reading and recompressing
// the bodies into new blob files, and the cache's write ceiling at 300,000
// deliveries was 4,603 events/s against 11,675 with this depth
// (BenchmarkPebbleCeiling). The cache reads bodies one at a time by
// handle, so locality across blob files does not matter to it.
func StoreOptions(logger *slog.Logger) *pebble.Options {
	o := baseOptions(logger)
	o.DisableWAL = true
	// 64 MiB memtables: bundles are kilobytes each, and with the default
	// 4 MiB the cache spent a quarter of the pipeline's CPU in flushes and
	// compactions (measured).
	o.MemTableSize = 64 << 20
	sizeBlockCache(o)
	// Fewer, larger levels and tables: less rewriting of keys as the cache
	// grows, and room in L0 to absorb 64 MiB flushes while a compaction
	// runs. Measured (BenchmarkPebbleCeiling): 11,299 -> 13,012 events/s at
	// 100,000 deliveries, 5,375 -> 7,855 at 1,000,000.
	o.LBaseMaxBytes = 512 << 20     // default 64 MiB
	o.TargetFileSizes[0] = 16 << 20 // default 2 MiB
	// Let L0 gather 32 flushes, not 4, before merging them into the base
	// level. RIDs are spread over the whole key space, so every flush
	// overlaps all of the base level and every L0 compaction rewrites it
	// whole: with 4 flushes (~1.6 MB of keys and manifests each; the
	// bodies go to blob files) the base level was rewritten ~40 times per
	// 1,000,000 deliveries (11 GB written for 276 MB held). At the
	// pipeline's pace (1,800 deliveries/s) Pebble's CPU for 200,000
	// deliveries went from 43.7 s to 26.7 s (measured with the bench's
	// Pebble ceiling paced to that rate). Lookups in the cache, rare next
	// to writes, check up to 32 more bloom filters.
	o.L0CompactionThreshold = 32 // default 4
	o.L0StopWritesThreshold = 96 // default 12
	for i := range o.Levels {
		o.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.MinLZCompression }
	}
	o.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           512,
			MaxBlobReferenceDepth: 1000,
			RewriteMinimumAge:     5 * time.Minute,
			TargetGarbageRatio:    0.2,
		}
	}
	return o
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

// Fatalf logs and exits, as Pebble's contract for a fatal error requires:
// Pebble calls it only when continuing could corrupt data.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}
