package projections_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/projections"
)

// stub is a projection that writes nothing, or fails when told to.
type stub struct {
	name   string
	tables []byte
	fail   bool
}

func (s stub) Name() string   { return s.name }
func (s stub) Tables() []byte { return s.tables }
func (s stub) Apply(*pebble.Batch, []projections.Record) ([]error, error) {
	if s.fail {
		return nil, errors.New("stub failure")
	}
	return nil, nil
}

func openStore(t *testing.T, dir string) *projections.Store {
	t.Helper()
	s, err := projections.OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStoreAttach: a store remembers the projections that built it and
// refuses another set, which would leave a projection behind the others'
// shared offsets; a cache folder from before stores recorded their
// projections counts as the cache's.
func TestStoreAttach(t *testing.T) {
	t.Parallel()
	other := stub{name: "other", tables: []byte{'x'}}
	consume := func(t *testing.T, s *projections.Store) {
		t.Helper()
		if _, err := s.Apply([]projections.Record{rec(0, 0, `not an event`)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		first    []string // projections of the first run ("" for none: a legacy cache folder)
		consumed bool     // whether the first run applied a record
		second   []string
		wantErr  error // nil for success, ErrStoreMismatch, or errAny
	}{
		{"same projections again", []string{"cache", "other"}, true, []string{"other", "cache"}, nil},
		{"a projection added after records were applied", []string{"cache"}, true, []string{"cache", "other"}, projections.ErrStoreMismatch},
		{"a projection added before any record", []string{"cache"}, false, []string{"cache", "other"}, projections.ErrStoreMismatch},
		{"a projection removed", []string{"cache", "other"}, true, []string{"cache"}, projections.ErrStoreMismatch},
		{"a legacy cache folder, opened by the cache", []string{""}, true, []string{"cache"}, nil},
		{"a legacy cache folder, opened by more", []string{""}, true, []string{"cache", "other"}, projections.ErrStoreMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			byName := func(s *projections.Store, names []string) []projections.Projection {
				var ps []projections.Projection
				for _, n := range names {
					switch n {
					case "cache":
						c, err := projections.NewCache(s)
						if err != nil {
							t.Fatal(err)
						}
						ps = append(ps, c)
					case "other":
						ps = append(ps, other)
					}
				}
				return ps
			}
			if tc.first[0] == "" {
				// What an older koistream left: offsets and bundles, no
				// record of the projections.
				db, err := pebble.Open(dir, projections.StoreOptions(slog.New(slog.DiscardHandler)))
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Set([]byte("o\x00koistream.events\x00\x00\x00\x00\x00"), make([]byte, 8), pebble.NoSync); err != nil {
					t.Fatal(err)
				}
				// No write-ahead log: only a flush keeps the write.
				if err := db.Flush(); err != nil {
					t.Fatal(err)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				s := openStore(t, dir)
				if err := s.Attach(byName(s, tc.first)...); err != nil {
					t.Fatal(err)
				}
				if tc.consumed {
					consume(t, s)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			s := openStore(t, dir)
			defer s.Close()
			err := s.Attach(byName(s, tc.second)...)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("attach: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("attach: %v, want %v", err, tc.wantErr)
			}
		})
	}

	t.Run("refused sets", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name string
			ps   []projections.Projection
			want string
		}{
			{"none", nil, "no projections"},
			{"two of one name", []projections.Projection{other, stub{name: "other", tables: []byte{'y'}}}, "two projections named"},
			{"a table of another projection", []projections.Projection{other, stub{name: "b", tables: []byte{'x'}}}, "writes table"},
			{"a table of the store", []projections.Projection{stub{name: "b", tables: []byte{'o'}}}, "writes table"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := openStore(t, t.TempDir())
				defer s.Close()
				if err := s.Attach(tc.ps...); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("attach: %v, want an error saying %q", err, tc.want)
				}
			})
		}
	})

	t.Run("twice", func(t *testing.T) {
		t.Parallel()
		s := openStore(t, t.TempDir())
		defer s.Close()
		if err := s.Attach(other); err != nil {
			t.Fatal(err)
		}
		if err := s.Attach(other); err == nil {
			t.Error("second Attach succeeded")
		}
	})
}

// TestStoreApplyIsAtomic: when one projection fails, what the others staged
// for the batch is not written, and neither are the offsets.
func TestStoreApplyIsAtomic(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir())
	defer s.Close()
	c, err := projections.NewCache(s)
	if err != nil {
		t.Fatal(err)
	}
	// The cache comes first, so it has staged its writes when the stub fails.
	if err := s.Attach(c, stub{name: "failing", tables: []byte{'x'}, fail: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply([]projections.Record{rec(0, 0, newEvent("orn:github.issue:o/r:1", manifest1, contents1))}); err == nil {
		t.Fatal("Apply succeeded with a failing projection")
	}
	if rids, err := c.RIDs(nil); err != nil || len(rids) != 0 {
		t.Errorf("cache holds %v (%v) after a failed batch, want nothing", rids, err)
	}
	if offs, err := s.Offsets("koistream.events"); err != nil || len(offs) != 0 {
		t.Errorf("offsets %v (%v) after a failed batch, want none", offs, err)
	}
}

// TestReset: Reset deletes a closed store, so the next one starts empty, and
// refuses to delete what is not a store or a store in use.
func TestReset(t *testing.T) {
	t.Parallel()
	t.Run("a closed store", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "cache")
		s, c := openCache(t, dir)
		apply(t, s, rec(0, 0, newEvent("orn:github.issue:o/r:1", manifest1, contents1)))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := projections.Reset(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("store folder still there: %v", err)
		}
		s, c = openCache(t, dir)
		defer s.Close()
		offs, err := s.Offsets("koistream.events")
		rids, err2 := c.RIDs(nil)
		if err != nil || err2 != nil || len(offs) != 0 || len(rids) != 0 {
			t.Errorf("after reset: offsets %v (%v), rids %v (%v); want an empty store", offs, err, rids, err2)
		}
	})
	t.Run("a missing folder", func(t *testing.T) {
		t.Parallel()
		if err := projections.Reset(filepath.Join(t.TempDir(), "nothing")); err != nil {
			t.Errorf("Reset of a missing folder: %v", err)
		}
	})
	t.Run("an empty folder", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := projections.Reset(dir); err != nil {
			t.Errorf("Reset of an empty folder: %v", err)
		}
	})
	t.Run("a folder that is not a store", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		keep := filepath.Join(dir, "precious.txt")
		if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := projections.Reset(dir); err == nil {
			t.Error("Reset deleted a folder that holds no store")
		}
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("file in the folder: %v", err)
		}
	})
	t.Run("a store in use", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		s, _ := openCache(t, dir)
		defer s.Close()
		if err := projections.Reset(dir); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Errorf("Reset of an open store: %v, want an error saying it is in use", err)
		}
		if _, err := s.Offsets("koistream.events"); err != nil {
			t.Errorf("store after a refused Reset: %v", err)
		}
	})
}
