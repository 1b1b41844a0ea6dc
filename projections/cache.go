package projections

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/topics/koi"
)

// Key layout. Every key starts with a one-byte table tag and a zero byte.
var (
	prefixBundle   = []byte("b\x00") // b\0<rid> → {"manifest":…,"contents":…}
	prefixManifest = []byte("m\x00") // m\0<rid> → manifest JSON
	// prefixLegacyType held a type index (t\0<rid type>\0<rid> → empty)
	// until the manifest keys took its place; OpenCache deletes it.
	prefixLegacyType = []byte("t\x00")
	prefixOffset     = []byte("o\x00") // o\0<topic>\0<partition u32> → next offset u64
)

// Cache is the cache projection: for every RID the latest bundle announced
// on the events topic and its manifest, listable by RID type. NEW and
// UPDATE events store the bundle; FORGET deletes it. Reads see only whole
// batches. A Cache is safe for concurrent use; Apply must not be called
// concurrently with itself.
type Cache struct {
	db *pebble.DB
}

// OpenCache opens (creating if needed) the cache in dir. logger receives
// Pebble's messages; nil means slog.Default().
func OpenCache(dir string, logger *slog.Logger) (*Cache, error) {
	db, err := pebble.Open(dir, CacheOptions(logger))
	if err != nil {
		return nil, fmt.Errorf("open cache projection in %s: %w", dir, err)
	}
	if err := dropLegacyTypeIndex(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open cache projection in %s: %w", dir, err)
	}
	return &Cache{db: db}, nil
}

// dropLegacyTypeIndex deletes the type index a cache written by an older
// koistream holds: nothing reads it any more, and it would take space for
// as long as the cache lives. Without a write-ahead log the deletion is
// durable with the next flush; if it is lost, the next open does it again.
func dropLegacyTypeIndex(db *pebble.DB) error {
	hi := upperBound(prefixLegacyType)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefixLegacyType, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("look for the old type index: %w", err)
	}
	found := it.First()
	if err := it.Close(); err != nil {
		return fmt.Errorf("look for the old type index: %w", err)
	}
	if !found {
		return nil
	}
	if err := db.DeleteRange(prefixLegacyType, hi, pebble.NoSync); err != nil {
		return fmt.Errorf("delete the old type index: %w", err)
	}
	return nil
}

// Close writes the memtables to disk and closes the database. Without the
// flush a clean shutdown would lose the applied batches still in memory
// (the cache has no write-ahead log), and the next start would re-apply them.
func (c *Cache) Close() error {
	if err := c.db.Flush(); err != nil {
		c.db.Close()
		return fmt.Errorf("close cache projection: flush: %w", err)
	}
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("close cache projection: %w", err)
	}
	return nil
}

// Metrics returns Pebble's metrics of the cache's database: compactions,
// block cache hits, level sizes. Safe for concurrent use.
func (c *Cache) Metrics() *pebble.Metrics { return c.db.Metrics() }

// Record is one record of the events topic as the cache consumes it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Value     []byte
}

// eventRecord is the part of a KOI event the cache needs; manifest and
// contents stay raw so they are served byte for byte.
type eventRecord struct {
	RID       string
	EventType koi.EventType
	Manifest  []byte
	Contents  []byte
}

// ErrBadEvent wraps the reason a record of the events topic could not be
// applied. Such records are skipped (and counted by the runner), never
// retried: they would fail the same way forever.
var ErrBadEvent = errors.New("bad event record")

// Apply writes the effect of recs and the offsets after them in one atomic
// batch. The batch is visible to readers at once and reaches disk with its
// memtable (see [CacheOptions]): a crash loses a suffix of batches together
// with their offsets, never one without the other. Records that are not valid KOI events are skipped and
// reported in the returned slice, the offsets still advance past them.
func (c *Cache) Apply(recs []Record) (skipped []error, err error) {
	b := c.db.NewBatch()
	defer b.Close()
	next := map[string]map[int32]int64{}
	for _, r := range recs {
		if next[r.Topic] == nil {
			next[r.Topic] = map[int32]int64{}
		}
		next[r.Topic][r.Partition] = r.Offset + 1
		if err := applyEvent(b, r.Value); err != nil {
			skipped = append(skipped, fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
		}
	}
	for topic, parts := range next {
		for p, off := range parts {
			if err := b.Set(offsetKey(topic, p), binary.BigEndian.AppendUint64(nil, uint64(off)), nil); err != nil {
				return skipped, fmt.Errorf("cache: stage offset: %w", err)
			}
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return skipped, fmt.Errorf("cache: commit batch of %d: %w", len(recs), err)
	}
	return skipped, nil
}

func applyEvent(b *pebble.Batch, value []byte) error {
	ev, err := splitEvent(value)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if _, err := koi.ParseRID(ev.RID); err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	switch ev.EventType {
	case koi.EventNew, koi.EventUpdate:
		if len(ev.Manifest) == 0 || len(ev.Contents) == 0 || bytes.Equal(ev.Manifest, []byte("null")) || bytes.Equal(ev.Contents, []byte("null")) {
			return fmt.Errorf("%w: %s %s without manifest and contents", ErrBadEvent, ev.EventType, ev.RID)
		}
		bundle := make([]byte, 0, len(ev.Manifest)+len(ev.Contents)+26)
		bundle = append(bundle, `{"manifest":`...)
		bundle = append(bundle, ev.Manifest...)
		bundle = append(bundle, `,"contents":`...)
		bundle = append(bundle, ev.Contents...)
		bundle = append(bundle, '}')
		if err := b.Set(prefixed(prefixBundle, ev.RID), bundle, nil); err != nil {
			return err
		}
		return b.Set(prefixed(prefixManifest, ev.RID), ev.Manifest, nil)
	case koi.EventForget:
		if err := b.Delete(prefixed(prefixBundle, ev.RID), nil); err != nil {
			return err
		}
		return b.Delete(prefixed(prefixManifest, ev.RID), nil)
	default:
		return fmt.Errorf("%w: unknown event type %q", ErrBadEvent, ev.EventType)
	}
}

// Offsets returns, for topic, the next offset to consume per partition, as
// committed with the state. Partitions never applied are absent.
func (c *Cache) Offsets(topic string) (map[int32]int64, error) {
	lo := prefixed(prefixOffset, topic+"\x00")
	it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: upperBound(lo)})
	if err != nil {
		return nil, fmt.Errorf("cache: offsets: %w", err)
	}
	out := map[int32]int64{}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()[len(lo):]
		v, err := it.ValueAndErr()
		if err != nil || len(k) != 4 || len(v) != 8 {
			it.Close()
			return nil, fmt.Errorf("cache: corrupt offset entry %q: %v", it.Key(), err)
		}
		out[int32(binary.BigEndian.Uint32(k))] = int64(binary.BigEndian.Uint64(v))
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("cache: offsets: %w", err)
	}
	return out, nil
}

// Bundle returns the stored bundle JSON of rid, or ok=false if the cache has
// none. The returned bytes are the caller's.
func (c *Cache) Bundle(rid string) ([]byte, bool, error) {
	return c.get(prefixed(prefixBundle, rid))
}

// Manifest returns the stored manifest JSON of rid, or ok=false.
func (c *Cache) Manifest(rid string) ([]byte, bool, error) {
	return c.get(prefixed(prefixManifest, rid))
}

func (c *Cache) get(key []byte) ([]byte, bool, error) {
	v, closer, err := c.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cache: get %q: %w", key, err)
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// RIDs returns the cached RIDs whose type is in types (all RIDs when types is
// empty), sorted by type then RID.
//
// There is no separate type index: a RID's type is its prefix up to the
// colon that follows it ("orn:github.issue" of "orn:github.issue:o/r:1",
// "https" of "https://example.com/"), so the manifest keys, sorted by RID,
// are already grouped by type. A type index cost a third key per bundle in
// every flush and compaction.
func (c *Cache) RIDs(types []string) ([]string, error) {
	var out []string
	// scan appends the RIDs of the manifest keys from lo on whose type is
	// typ (any type when typ is empty): the prefix "orn:" also covers
	// "orn:github.issue:…", whose type is not "orn".
	scan := func(lo []byte, typ string) error {
		it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: upperBound(lo)})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			rid := string(it.Key()[len(prefixManifest):])
			if typ != "" {
				if t, err := koi.RIDType(rid); err != nil || t != typ {
					continue
				}
			}
			out = append(out, rid)
		}
		return it.Close()
	}
	if len(types) == 0 {
		if err := scan(prefixManifest, ""); err != nil {
			return nil, fmt.Errorf("cache: list rids: %w", err)
		}
		// By RID is by type except where one type is another followed by
		// a byte below ':' ("orn:a.b-c" sorts before "orn:a.b:"), so sort
		// by type, keeping the RID order within one.
		typeOf := make(map[string]string, len(out))
		for _, rid := range out {
			typeOf[rid], _ = koi.RIDType(rid)
		}
		sort.SliceStable(out, func(i, j int) bool { return typeOf[out[i]] < typeOf[out[j]] })
		return out, nil
	}
	uniq := append([]string(nil), types...)
	sort.Strings(uniq)
	for i, t := range uniq {
		if i > 0 && uniq[i-1] == t {
			continue
		}
		if err := scan(prefixed(prefixManifest, t+":"), t); err != nil {
			return nil, fmt.Errorf("cache: list rids of %s: %w", t, err)
		}
	}
	return out, nil
}

func prefixed(p []byte, s string) []byte {
	k := make([]byte, 0, len(p)+len(s))
	return append(append(k, p...), s...)
}

func offsetKey(topic string, p int32) []byte {
	return binary.BigEndian.AppendUint32(prefixed(prefixOffset, topic+"\x00"), uint32(p))
}

// upperBound returns the smallest key greater than every key with prefix p.
func upperBound(p []byte) []byte {
	ub := bytes.Clone(p)
	for i := len(ub) - 1; i >= 0; i-- {
		if ub[i] < 0xff {
			ub[i]++
			return ub[:i+1]
		}
	}
	return nil
}
