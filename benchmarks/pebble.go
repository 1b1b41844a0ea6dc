package benchmarks

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/projections"
)

// pebbleBatch is how many bundles go into one Pebble batch.
const pebbleBatch = 1000

// pebbleResult is what measurePebbleCeiling measured.
type pebbleResult struct {
	elapsed time.Duration
	bundles int
	bytes   int64
	stats   dbStats // of the database when the last flush is done
	metrics string  // Pebble's own report then, for -v and debug logs
}

// measurePebbleCeiling writes, into a fresh Pebble database in dir opened
// with projections.StoreOptions, the keys the cache projection writes for
// bundles: per NEW or UPDATE event the bundle (b\0<rid>) and the manifest
// (m\0<rid>), per FORGET their deletion, plus an offset key per batch; in
// batches of pebbleBatch bundles, each committed as Store.Apply does (no
// WAL, the memtable reaches disk by flushes), and the last memtable
// flushed at the end. The specs
// come from the stages_cpu run, so the number, order, key lengths, repeats
// (UPDATEs of one RID hit one key) and value sizes are those the pipeline
// produces for the same deliveries; values are slices of corpus JSON, so
// they compress like real bundles. Nothing is parsed: this is Pebble's
// part of the projection alone.
func measurePebbleCeiling(dir string, specs []bundleSpec, filler []byte) (pebbleResult, error) {
	return measurePebbleWith(dir, specs, filler, projections.StoreOptions(slog.New(slog.DiscardHandler)), 0)
}

// measurePebbleWith is measurePebbleCeiling with the database opened with
// opts, to compare option sets on the same writes, and the batches written
// at pace bundles per second (0: as fast as Pebble takes them). Paced, it
// shows what the cache costs at the pipeline's speed: Pebble compacts
// eagerly when writes are slow, so its cost per bundle is not the same as
// at the ceiling's speed.
func measurePebbleWith(dir string, specs []bundleSpec, filler []byte, opts *pebble.Options, pace float64) (pebbleResult, error) {
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return pebbleResult{}, fmt.Errorf("pebble ceiling: %w", err)
	}
	defer db.Close()
	if len(filler) == 0 {
		filler = []byte("{}")
	}
	var (
		res   = pebbleResult{bundles: len(specs)}
		key   []byte
		off   int
		start = time.Now()
	)
	for i := 0; i < len(specs); i += pebbleBatch {
		if pace > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / pace * float64(time.Second)))))
		}
		b := db.NewBatch()
		for _, s := range specs[i:min(i+pebbleBatch, len(specs))] {
			rid := syntheticRID(s)
			if s.forget {
				// Batch.Delete copies the key, so one buffer serves both.
				if err := b.Delete(prefixedKey(&key, "b\x00", rid), nil); err != nil {
					return res, err
				}
				if err := b.Delete(prefixedKey(&key, "m\x00", rid), nil); err != nil {
					return res, err
				}
				continue
			}
			size := min(int(s.size), len(filler))
			if off+size > len(filler) {
				off = 0
			}
			value := filler[off : off+size]
			off += 4099
			manifest := filler[:min(len(rid)+110, len(filler))]
			if err := b.Set(prefixedKey(&key, "b\x00", rid), value, nil); err != nil {
				return res, err
			}
			if err := b.Set(prefixedKey(&key, "m\x00", rid), manifest, nil); err != nil {
				return res, err
			}
			res.bytes += int64(size)
		}
		if err := b.Set([]byte("o\x00koistream.events\x00\x00\x00\x00\x00"), binary.BigEndian.AppendUint64(nil, uint64(i)), nil); err != nil {
			return res, err
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return res, fmt.Errorf("pebble ceiling: commit: %w", err)
		}
		b.Close()
	}
	if err := db.Flush(); err != nil {
		return res, fmt.Errorf("pebble ceiling: flush: %w", err)
	}
	res.elapsed = time.Since(start)
	m := db.Metrics()
	res.stats, res.metrics = statsOf(m), m.String()
	return res, nil
}

// syntheticRID is an RID-shaped string of the spec's type and length (at
// least the type and 16 hex digits), the same for the same RID.
func syntheticRID(s bundleSpec) []byte {
	typ := ridTypes[s.typ]
	n := max(int(s.ridLen), len(typ)+1+16)
	rid := make([]byte, 0, n+16)
	rid = append(rid, typ...)
	rid = append(rid, ':')
	for len(rid) < n {
		rid = fmt.Appendf(rid, "%016x", s.ridHash)
	}
	return rid[:n]
}

func prefixedKey(buf *[]byte, prefix string, rid []byte) []byte {
	*buf = append(append((*buf)[:0], prefix...), rid...)
	return *buf
}
