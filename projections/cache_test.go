package projections_test

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/projections"
)

const (
	manifest1 = `{"rid":"orn:github.issue:o/r:1","timestamp":"2025-01-02T03:04:05.123456Z","sha256_hash":"c823c275099e9446e747b73e2ba6b23593ef29c603b75d52649b502334e5ce17"}`
	contents1 = `{"title": "keep my spacing",  "n": 1.0}`
)

// openCache opens the store in dir with the cache attached; the caller
// closes the store.
func openCache(t *testing.T, dir string) (*projections.Store, *projections.Cache) {
	t.Helper()
	s, err := projections.OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := projections.NewCache(s)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	if err := s.Attach(c); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s, c
}

// apply applies recs to s and returns what the cache skipped.
func apply(t *testing.T, s *projections.Store, recs ...projections.Record) []error {
	t.Helper()
	res, err := s.Apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	return res.Skipped[0]
}

func rec(p int32, off int64, v string) projections.Record {
	return projections.Record{Topic: "koistream.events", Partition: p, Offset: off, Value: []byte(v)}
}

func newEvent(rid, manifest, contents string) string {
	return `{"rid":"` + rid + `","event_type":"NEW","manifest":` + manifest + `,"contents":` + contents + `}`
}

func TestCacheApply(t *testing.T) {
	t.Parallel()
	s, c := openCache(t, t.TempDir())
	defer s.Close()
	prMan := `{"rid":"orn:github.pr:o/r:2","timestamp":"2025-01-02T03:04:05Z","sha256_hash":"00"}`
	skipped := apply(t, s,
		rec(0, 0, newEvent("orn:github.issue:o/r:1", manifest1, contents1)),
		rec(1, 0, newEvent("orn:github.pr:o/r:2", prMan, `{}`)),
		rec(1, 1, `not json`),
		rec(0, 1, `{"rid":"orn:github.pr:o/r:2","event_type":"FORGET"}`),
		rec(2, 5, `{"rid":"orn:github.repo:o/r","event_type":"NEW"}`),
	)
	if len(skipped) != 2 {
		t.Fatalf("skipped %v, want the non-JSON record and the NEW without manifest", skipped)
	}
	b, ok, err := c.Bundle("orn:github.issue:o/r:1")
	if err != nil || !ok {
		t.Fatalf("bundle: %v %v", ok, err)
	}
	if want := `{"manifest":` + manifest1 + `,"contents":` + contents1 + `}`; string(b) != want {
		t.Fatalf("bundle\n got %s\nwant %s (byte for byte)", b, want)
	}
	if _, ok, _ := c.Bundle("orn:github.pr:o/r:2"); ok {
		t.Fatal("forgotten RID still cached")
	}
	for _, tc := range []struct {
		types []string
		want  []string
	}{
		{nil, []string{"orn:github.issue:o/r:1"}},
		{[]string{"orn:github.issue"}, []string{"orn:github.issue:o/r:1"}},
		{[]string{"orn:github.pr"}, nil},
		{[]string{"orn:github.iss"}, nil},
	} {
		got, err := c.RIDs(tc.types)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("RIDs(%v) = %v, %v; want %v", tc.types, got, err, tc.want)
		}
	}
	offs, err := s.Offsets("koistream.events")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int32]int64{0: 2, 1: 2, 2: 6}; !reflect.DeepEqual(offs, want) {
		t.Fatalf("offsets %v, want %v (past skipped records too)", offs, want)
	}
}

// TestCacheApplyIsIdempotent: the log delivers at least once, so the same
// records may be offered again, after newer ones. Whatever comes again must
// change nothing: not the bundles (an older NEW replayed after a FORGET
// must not bring the RID back, an older UPDATE must not replace a newer
// one), not the offsets (they must not move back), and not after a reopen.
func TestCacheApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	const rid = "orn:github.issue:o/r:1"
	manifest2 := strings.Replace(manifest1, "05.123456Z", "06Z", 1)
	var (
		created = rec(0, 0, newEvent(rid, manifest1, contents1))
		updated = rec(0, 1, strings.Replace(newEvent(rid, manifest2, `{"v":2}`), `"NEW"`, `"UPDATE"`, 1))
		forgot  = rec(0, 2, `{"rid":"`+rid+`","event_type":"FORGET"}`)
		other   = rec(1, 0, newEvent("orn:github.pr:o/r:2", manifest1, `{}`))
	)
	for _, tc := range []struct {
		name       string
		batches    [][]projections.Record
		wantBundle string // "" for none
		wantOffs   map[int32]int64
	}{
		{"a batch twice", [][]projections.Record{{created}, {created}},
			`{"manifest":` + manifest1 + `,"contents":` + contents1 + `}`, map[int32]int64{0: 1}},
		{"an older NEW after a FORGET", [][]projections.Record{{created}, {updated, forgot}, {created}},
			"", map[int32]int64{0: 3}},
		{"an older batch after a FORGET, with a new record of another partition", [][]projections.Record{{created, updated}, {forgot}, {created, other}},
			"", map[int32]int64{0: 3, 1: 1}},
		{"an older UPDATE after a newer one", [][]projections.Record{{created}, {updated}, {created}},
			`{"manifest":` + manifest2 + `,"contents":{"v":2}}`, map[int32]int64{0: 2}},
		{"a record repeated within a batch", [][]projections.Record{{created, updated, forgot, created}},
			"", map[int32]int64{0: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, _ := openCache(t, dir)
			for _, b := range tc.batches {
				if skipped := apply(t, s, b...); len(skipped) != 0 {
					t.Fatalf("skipped %v", skipped)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, c := openCache(t, dir)
			defer s.Close()
			b, ok, err := c.Bundle(rid)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); ok != (tc.wantBundle != "") || got != tc.wantBundle {
				t.Errorf("bundle of %s after reopen: %q (found %v), want %q", rid, got, ok, tc.wantBundle)
			}
			if _, ok, _ := c.Manifest(rid); ok != (tc.wantBundle != "") {
				t.Errorf("manifest of %s found: %v, want %v", rid, ok, tc.wantBundle != "")
			}
			offs, err := s.Offsets("koistream.events")
			if err != nil || !reflect.DeepEqual(offs, tc.wantOffs) {
				t.Errorf("offsets after reopen %v (%v), want %v", offs, err, tc.wantOffs)
			}
		})
	}
}

// TestPebbleOptionsCacheBlocks checks that a database opened with each of
// the node's option sets keeps blocks in its block cache: Pebble charges
// memtables to the block cache, and a cache no larger than the memtables
// caches nothing, so every lookup reads and decompresses its blocks again.
func TestPebbleOptionsCacheBlocks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts func(*slog.Logger) *pebble.Options
	}{
		{"stage state", projections.StageStateOptions},
		{"projection store", projections.StoreOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, err := pebble.Open(t.TempDir(), tc.opts(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			b := db.NewBatch()
			for i := range 20000 {
				if err := b.Set(fmt.Appendf(nil, "key-%06d", i), []byte("value"), nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Commit(pebble.NoSync); err != nil {
				t.Fatal(err)
			}
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
			// The same lookups twice: the second pass finds every block
			// the first one read.
			for range 2 {
				for i := range 100 {
					v, closer, err := db.Get(fmt.Appendf(nil, "key-%06d", i*200))
					if err != nil {
						t.Fatal(err)
					}
					if string(v) != "value" {
						t.Fatalf("got %q", v)
					}
					closer.Close()
				}
			}
			m := db.Metrics().BlockCache
			if m.Hits < 100 || m.Size == 0 {
				t.Errorf("block cache: %d hits, %d misses, %d bytes held; want at least 100 hits on repeated lookups", m.Hits, m.Misses, m.Size)
			}
		})
	}
}

// TestCacheRIDsByType lists RIDs of several types, including one type that
// is another followed by a byte below ':' (so sorting by RID alone would put
// it first) and a scheme-only type, which must not match the orn RIDs whose
// keys share its prefix.
func TestCacheRIDsByType(t *testing.T) {
	t.Parallel()
	s, c := openCache(t, t.TempDir())
	defer s.Close()
	rids := []string{
		"orn:github.issue:o/r:2", "orn:github.issue:o/r:10", "orn:github.issue-x:o/r:1",
		"orn:github.pr:o/r:3", "https://example.com/a", "orn:github.repo:o/r",
	}
	var recs []projections.Record
	for i, rid := range rids {
		man := `{"rid":"` + rid + `","timestamp":"2025-01-02T03:04:05Z","sha256_hash":"00"}`
		recs = append(recs, rec(0, int64(i), newEvent(rid, man, `{}`)))
	}
	if skipped := apply(t, s, recs...); len(skipped) != 0 {
		t.Fatalf("apply: skipped %v", skipped)
	}
	for _, tc := range []struct {
		name  string
		types []string
		want  []string
	}{
		{"all, by type then RID as bytes", nil, []string{
			"https://example.com/a",
			"orn:github.issue:o/r:10", "orn:github.issue:o/r:2",
			"orn:github.issue-x:o/r:1",
			"orn:github.pr:o/r:3",
			"orn:github.repo:o/r",
		}},
		{"one type", []string{"orn:github.issue"}, []string{"orn:github.issue:o/r:10", "orn:github.issue:o/r:2"}},
		{"types in any order, repeated", []string{"orn:github.repo", "https", "orn:github.repo"},
			[]string{"https://example.com/a", "orn:github.repo:o/r"}},
		{"a type that is a prefix of another", []string{"orn:github.issue-x"}, []string{"orn:github.issue-x:o/r:1"}},
		{"a scheme alone is not the type of orn RIDs", []string{"orn"}, nil},
		{"no such type", []string{"orn:github.commit"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.RIDs(tc.types)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RIDs(%v) = %q, %v; want %q", tc.types, got, err, tc.want)
			}
		})
	}
}
