package projections

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble/v2"

	eventstopic "github.com/koistream/koistream/topics/events" // "events" names a helper of runner_test.go
	"github.com/koistream/koistream/topics/koi"
)

// The cache's key tables. Every key starts with a one-byte table tag and a
// zero byte; the store keeps o and p (store.go).
var (
	prefixBundle   = []byte("b\x00") // b\0<rid> → {"manifest":…,"contents":…}
	prefixManifest = []byte("m\x00") // m\0<rid> → manifest JSON
	// prefixLegacyType held a type index (t\0<rid type>\0<rid> → empty)
	// until the manifest keys took its place; NewCache deletes it.
	prefixLegacyType = []byte("t\x00")
)

// cacheName is the cache's Name, and what a store written before stores
// recorded their projections holds.
const cacheName = "cache"

// Cache is the cache projection: for every RID the latest bundle announced
// on the events topic and its manifest, listable by RID type. NEW and
// UPDATE events store the bundle; FORGET deletes it. Its reads see only
// whole batches. A Cache is safe for concurrent use under the [Projection]
// contract: Apply is called by one goroutine at a time, reads by any.
type Cache struct {
	db    *pebble.DB
	store *Store
}

// Version is the version of the store the cache lives in (Store.Version):
// unchanged between two reads, the cache answered both from the same state.
func (c *Cache) Version() uint64 { return c.store.Version() }

// NewCache returns the cache projection kept in s; attach it with
// [Store.Attach]. It deletes the type index a cache written by an older
// koistream holds.
func NewCache(s *Store) (*Cache, error) {
	if err := dropLegacyTypeIndex(s.db); err != nil {
		return nil, fmt.Errorf("cache projection in %s: %w", s.dir, err)
	}
	return &Cache{db: s.db, store: s}, nil
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

// Name returns "cache".
func (c *Cache) Name() string { return cacheName }

// Tables returns the tags of the bundle and manifest tables, and of the
// type index older caches held.
func (c *Cache) Tables() []byte {
	return []byte{prefixBundle[0], prefixManifest[0], prefixLegacyType[0]}
}

// ErrBadEvent wraps the reason a record of the events topic could not be
// applied. Such records are skipped (and counted by the runner), never
// retried: they would fail the same way forever.
var ErrBadEvent = errors.New("bad event record")

// Apply stages the effect of recs into b: NEW and UPDATE store the bundle
// and its manifest, FORGET deletes them. Records that are not valid KOI
// events are skipped and reported in the returned slice; Apply itself fails
// only if b does. The bundle is written through [koi.RawBundle], its
// manifest and contents byte for byte as the event carries them.
func (c *Cache) Apply(b *pebble.Batch, recs []Record) (skipped []error, err error) {
	for _, r := range recs {
		if err := applyEvent(b, r.Value); err != nil {
			if !errors.Is(err, ErrBadEvent) {
				return skipped, fmt.Errorf("cache: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			skipped = append(skipped, fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
		}
	}
	return skipped, nil
}

// applyEvent stages one event. Keys and values are written straight into
// the batch (SetDeferred), so a record costs no allocation here: the
// bundle, kilobytes each, is assembled in place rather than built and then
// copied.
func applyEvent(b *pebble.Batch, value []byte) error {
	ev, err := eventstopic.ParseValue(value)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if _, err := koi.ParseRID(ev.RID); err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	switch ev.EventType {
	case koi.EventNew, koi.EventUpdate:
		if len(ev.Manifest) == 0 || len(ev.Contents) == 0 { // absent or null
			return fmt.Errorf("%w: %s %s without manifest and contents", ErrBadEvent, ev.EventType, ev.RID)
		}
		bundle := koi.RawBundle{Manifest: ev.Manifest, Contents: ev.Contents}
		n := bundle.JSONLen()
		op := b.SetDeferred(len(prefixBundle)+len(ev.RID), n)
		putKey(op.Key, prefixBundle, ev.RID)
		// op.Value has room for exactly n bytes and shares its array with
		// the rest of the batch: check that the bundle filled it exactly.
		if v := bundle.AppendJSON(op.Value[:0]); len(v) != n {
			return fmt.Errorf("bundle of %s is %d bytes, %d expected", ev.RID, len(v), n)
		}
		if err := op.Finish(); err != nil {
			return err
		}
		op = b.SetDeferred(len(prefixManifest)+len(ev.RID), len(ev.Manifest))
		putKey(op.Key, prefixManifest, ev.RID)
		copy(op.Value, ev.Manifest)
		return op.Finish()
	case koi.EventForget:
		op := b.DeleteDeferred(len(prefixBundle) + len(ev.RID))
		putKey(op.Key, prefixBundle, ev.RID)
		if err := op.Finish(); err != nil {
			return err
		}
		op = b.DeleteDeferred(len(prefixManifest) + len(ev.RID))
		putKey(op.Key, prefixManifest, ev.RID)
		return op.Finish()
	default:
		return fmt.Errorf("%w: unknown event type %q", ErrBadEvent, ev.EventType)
	}
}

// putKey writes prefix and rid into key, which is exactly their length.
func putKey(key, prefix []byte, rid string) {
	copy(key[copy(key, prefix):], rid)
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
