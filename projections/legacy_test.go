package projections

import (
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestNewCacheDropsLegacyTypeIndex opens a cache written with the old type
// index (t\0<type>\0<rid>) and checks that NewCache removed it and kept
// everything else.
func TestNewCacheDropsLegacyTypeIndex(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := pebble.Open(dir, StoreOptions(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"t\x00orn:github.issue\x00orn:github.issue:o/r:1", "m\x00orn:github.issue:o/r:1"} {
		if err := db.Set([]byte(k), []byte("{}"), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := NewCache(s)
	if err != nil {
		t.Fatal(err)
	}
	it, err := c.db.NewIter(&pebble.IterOptions{LowerBound: prefixLegacyType, UpperBound: upperBound(prefixLegacyType)})
	if err != nil {
		t.Fatal(err)
	}
	if it.First() {
		t.Errorf("old type index key %q still there", it.Key())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Manifest("orn:github.issue:o/r:1"); err != nil || !ok {
		t.Errorf("manifest: ok %v, err %v; want it kept", ok, err)
	}
}
