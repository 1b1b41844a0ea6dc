package stages_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
)

// These tests hold the StateStore to the transactional half of the State
// contract (stages/state.go, stages/statestore.go): writes wait per input
// partition until the segment's transaction commits or aborts, committed
// writes and checkpoints live in Pebble, and what the store holds in memory
// never hides a newer Pebble copy after a partition was forgotten.

// at is the context of an input record of partition p, the only place a
// State reads its partition from.
func at(p int32) context.Context {
	return topics.ContextWithPosition(context.Background(), topics.Position{Topic: "koistream.raw", Partition: p, Offset: 1})
}

// get reads key of space in partition p and fails the test on an error.
func get(t *testing.T, st stages.State, p int32, key string) (string, bool) {
	t.Helper()
	v, found, err := st.Get(at(p), []byte(key))
	if err != nil {
		t.Fatalf("Get(%d, %q): %v", p, key, err)
	}
	return string(v), found
}

// set writes key of space in partition p and fails the test on an error.
func set(t *testing.T, st stages.State, p int32, key, value string) {
	t.Helper()
	if err := st.Set(at(p), []byte(key), []byte(value)); err != nil {
		t.Fatalf("Set(%d, %q, %q): %v", p, key, value, err)
	}
}

// wantGet fails the test unless key of partition p reads as want (found is
// want != "").
func wantGet(t *testing.T, st stages.State, p int32, key, want string) {
	t.Helper()
	got, found := get(t, st, p, key)
	if found != (want != "") || got != want {
		t.Errorf("Get(partition %d, %q) = %q, found %v; want %q, found %v", p, key, got, found, want, want != "")
	}
}

// commit commits partition p with checkpoints and fails the test on an
// error.
func commit(t *testing.T, store *stages.StateStore, p int32, checkpoints map[string]int64) {
	t.Helper()
	if err := store.Commit(p, checkpoints); err != nil {
		t.Fatalf("Commit(%d): %v", p, err)
	}
}

// checkpoint returns the checkpoint of space in partition p.
func checkpoint(t *testing.T, store *stages.StateStore, space string, p int32) int64 {
	t.Helper()
	off, err := store.Checkpoint(space, p)
	if err != nil {
		t.Fatalf("Checkpoint(%s, %d): %v", space, p, err)
	}
	return off
}

// TestStateGetSeesPendingWritesOfItsPartitionOnly: a Set is visible to Gets
// of the same input partition at once, before any commit, and to no other
// partition, whether the other has nothing or a committed value of its own
// under the key.
func TestStateGetSeesPendingWritesOfItsPartitionOnly(t *testing.T) {
	t.Parallel()
	store := openState(t)
	st := store.Space("sp")
	set(t, st, 2, "k", "other")
	commit(t, store, 2, nil)

	set(t, st, 0, "k", "v0")
	tests := []struct {
		name      string
		partition int32
		want      string
	}{
		{"the writing partition sees its pending write", 0, "v0"},
		{"a partition without the key sees nothing", 1, ""},
		{"a partition with a committed value keeps it", 2, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantGet(t, st, tt.partition, "k", tt.want)
		})
	}
	// A later write of the same partition replaces the pending one.
	set(t, st, 0, "k", "v0b")
	wantGet(t, st, 0, "k", "v0b")
}

// TestStateNeedsAPosition: Get and Set of a message without a log position
// cannot know the partition; the error is Permanent, so the segment sends
// the input to dead instead of retrying it forever.
func TestStateNeedsAPosition(t *testing.T) {
	t.Parallel()
	st := openState(t).Space("sp")
	ops := map[string]func() error{
		"Get": func() error { _, _, err := st.Get(context.Background(), []byte("k")); return err },
		"Set": func() error { return st.Set(context.Background(), []byte("k"), []byte("v")) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op()
			if err == nil {
				t.Fatalf("%s without a position returned no error", name)
			}
			if !stages.IsPermanent(err) {
				t.Errorf("%s without a position returned %v, want a Permanent error", name, err)
			}
		})
	}
}

// TestStateAbortDropsPendingKeepsCommitted: Abort forgets every
// partition's uncommitted writes (a new key reads as absent again, an
// overwritten key reads its committed value) and leaves nothing for the
// next Changes or Commit; committed values stay.
func TestStateAbortDropsPendingKeepsCommitted(t *testing.T) {
	t.Parallel()
	store := openState(t)
	st := store.Space("sp")
	set(t, st, 0, "kept", "committed")
	commit(t, store, 0, nil)

	set(t, st, 0, "kept", "overwritten")
	set(t, st, 0, "new", "pending")
	set(t, st, 1, "other", "pending")
	store.Abort()

	wantGet(t, st, 0, "kept", "committed")
	wantGet(t, st, 0, "new", "")
	wantGet(t, st, 1, "other", "")
	for _, p := range []int32{0, 1} {
		if c := store.Changes(p); len(c) != 0 {
			t.Errorf("Changes(%d) after Abort = %v, want none", p, c)
		}
	}
	// A commit after the abort must not write the aborted values.
	commit(t, store, 0, nil)
	store.Forget([]int32{0})
	wantGet(t, st, 0, "kept", "committed")
	wantGet(t, st, 0, "new", "")
}

// TestStateCommitIsDurable: Commit writes the partition's pending values and
// the checkpoints to Pebble: after the database is closed and opened again,
// under a new store, Get returns the values and Checkpoint the offsets.
// Another partition's pending writes are not committed with it.
func TestStateCommitIsDurable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openDB(t, dir)
	store := stages.NewStateStore(db)
	a, b := store.Space("a"), store.Space("b")
	set(t, a, 0, "k1", "v1")
	set(t, b, 0, "k2", "v2")
	set(t, a, 1, "k3", "uncommitted")
	commit(t, store, 0, map[string]int64{"a": 17, "b": 4})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, dir)
	t.Cleanup(func() { db.Close() })
	store = stages.NewStateStore(db)
	a, b = store.Space("a"), store.Space("b")
	wantGet(t, a, 0, "k1", "v1")
	wantGet(t, b, 0, "k2", "v2")
	wantGet(t, a, 1, "k3", "")
	for _, c := range []struct {
		space string
		p     int32
		want  int64
	}{{"a", 0, 17}, {"b", 0, 4}, {"a", 1, 0}} {
		if got := checkpoint(t, store, c.space, c.p); got != c.want {
			t.Errorf("Checkpoint(%s, %d) after reopening = %d, want %d", c.space, c.p, got, c.want)
		}
	}
}

// TestStateChangesLastValuePerKey: Changes returns each written key of the
// partition once, with its last value and its space, and nothing of other
// partitions; after Commit there are none.
func TestStateChangesLastValuePerKey(t *testing.T) {
	t.Parallel()
	store := openState(t)
	a, b := store.Space("a"), store.Space("b")
	set(t, a, 0, "k", "1")
	set(t, a, 0, "k", "2")
	set(t, a, 0, "j", "x")
	set(t, b, 0, "k", "b")
	set(t, a, 1, "k", "other partition")

	got := map[string]string{}
	for _, c := range store.Changes(0) {
		id := c.Space + "/" + string(c.Key)
		if _, dup := got[id]; dup {
			t.Errorf("Changes(0) holds %s twice", id)
		}
		got[id] = string(c.Value)
	}
	want := map[string]string{"a/k": "2", "a/j": "x", "b/k": "b"}
	if !maps.Equal(got, want) {
		t.Errorf("Changes(0) = %v, want %v", got, want)
	}
	commit(t, store, 0, nil)
	if c := store.Changes(0); len(c) != 0 {
		t.Errorf("Changes(0) after Commit = %v, want none", c)
	}
	if c := store.Changes(1); len(c) != 1 || string(c[0].Value) != "other partition" {
		t.Errorf("Changes(1) after committing partition 0 = %v, want its one pending write", c)
	}
}

// TestStateChangesRestoreToWhatGetRead: a change, written to the changelog
// and restored by the partition's next owner, reads as the value its writer
// read: Restore deletes a key only for a nil value (a tombstone), so a Set
// of an empty value must not come out of Changes as nil.
func TestStateChangesRestoreToWhatGetRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value []byte
	}{
		{"a value", []byte("v")},
		{"an empty value", []byte{}},
		{"a nil value", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			writer := openState(t)
			if err := writer.Space("sp").Set(at(0), []byte("k"), tt.value); err != nil {
				t.Fatal(err)
			}
			before, foundBefore, err := writer.Space("sp").Get(at(0), []byte("k"))
			if err != nil {
				t.Fatal(err)
			}
			changes := writer.Changes(0)
			if len(changes) != 1 {
				t.Fatalf("Changes(0) = %v, want one", changes)
			}
			owner := openState(t)
			if err := owner.Restore("sp", 0, changes, 1); err != nil {
				t.Fatal(err)
			}
			after, foundAfter, err := owner.Space("sp").Get(at(0), []byte("k"))
			if err != nil {
				t.Fatal(err)
			}
			if foundAfter != foundBefore || string(after) != string(before) {
				t.Errorf("restored from its change, the key reads %q, found %v; its writer read %q, found %v",
					after, foundAfter, before, foundBefore)
			}
		})
	}
}

// TestStateForgetRereadsPebble: after Forget, a Get reads what Pebble holds
// now, not what the store held in memory: a value committed (and so
// memoised) here, then changed by a restore of the partition, reads as the
// restored value. Forget also drops the partition's pending writes.
func TestStateForgetRereadsPebble(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openDB(t, dir)
	t.Cleanup(func() { db.Close() })
	store := stages.NewStateStore(db)
	st := store.Space("sp")
	set(t, st, 0, "k", "old")
	commit(t, store, 0, nil)
	wantGet(t, st, 0, "k", "old") // served from memory from now on

	// Another owner of partition 0 changed the key; a second store on
	// the same database, as another segment has, writes it to Pebble
	// behind this one's back.
	other := stages.NewStateStore(db)
	if err := other.Restore("sp", 0, []stages.Change{{Space: "sp", Key: []byte("k"), Value: []byte("new")}}, 5); err != nil {
		t.Fatal(err)
	}
	set(t, st, 0, "pending", "p")
	store.Forget([]int32{0})
	wantGet(t, st, 0, "k", "new")
	wantGet(t, st, 0, "pending", "")
	if c := store.Changes(0); len(c) != 0 {
		t.Errorf("Changes(0) after Forget = %v, want none", c)
	}
}

// TestStateRestore: Restore applies changelog records in order (the last
// value of a key wins, a nil value deletes) with the checkpoint after them,
// replacing what the store served from memory for the partition.
func TestStateRestore(t *testing.T) {
	t.Parallel()
	store := openState(t)
	st := store.Space("sp")
	set(t, st, 3, "gone", "committed")
	set(t, st, 3, "kept", "committed")
	commit(t, store, 3, map[string]int64{"sp": 2})
	wantGet(t, st, 3, "gone", "committed") // memoised
	wantGet(t, st, 3, "kept", "committed")

	err := store.Restore("sp", 3, []stages.Change{
		{Space: "sp", Key: []byte("gone"), Value: nil},
		{Space: "sp", Key: []byte("twice"), Value: []byte("first")},
		{Space: "sp", Key: []byte("twice"), Value: []byte("second")},
		{Space: "sp", Key: []byte("kept"), Value: []byte("restored")},
	}, 9)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, want string }{
		{"gone", ""},
		{"twice", "second"},
		{"kept", "restored"},
	} {
		wantGet(t, st, 3, c.key, c.want)
	}
	if got := checkpoint(t, store, "sp", 3); got != 9 {
		t.Errorf("Checkpoint after Restore = %d, want 9", got)
	}
	// An empty restore (the changelog held only markers) moves the
	// checkpoint alone.
	if err := store.Restore("sp", 3, nil, 11); err != nil {
		t.Fatal(err)
	}
	if got := checkpoint(t, store, "sp", 3); got != 11 {
		t.Errorf("Checkpoint after an empty Restore = %d, want 11", got)
	}
	wantGet(t, st, 3, "kept", "restored")
}

// TestStateDrop: Drop deletes one partition of one space, its state and its
// checkpoint, and nothing else: not the neighbouring partitions (below and
// above, whose keys sort next to it) and not the same partition of another
// space, even one whose name extends the dropped one's.
func TestStateDrop(t *testing.T) {
	t.Parallel()
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	store := stages.NewStateStore(db)
	spaces := []string{"sp", "sp2", "s"}
	parts := []int32{0, 1, 2, 256}
	ckpts := map[string]int64{}
	for i, sp := range spaces {
		ckpts[sp] = int64(10 * (i + 1))
	}
	for _, p := range parts {
		for _, sp := range spaces {
			set(t, store.Space(sp), p, "k", fmt.Sprintf("%s@%d", sp, p))
			set(t, store.Space(sp), p, "", "empty key") // the shortest key
		}
		commit(t, store, p, ckpts)
	}
	if err := store.Drop("sp", 1); err != nil {
		t.Fatal(err)
	}

	// What Pebble holds, not what store serves from memory: a fresh store
	// on the same database.
	fresh := stages.NewStateStore(db)
	for _, p := range parts {
		for _, sp := range spaces {
			dropped := sp == "sp" && p == 1
			t.Run(fmt.Sprintf("%s/%d", sp, p), func(t *testing.T) {
				st := fresh.Space(sp)
				want, wantEmpty, wantCkpt := fmt.Sprintf("%s@%d", sp, p), "empty key", ckpts[sp]
				if dropped {
					want, wantEmpty, wantCkpt = "", "", 0
				}
				wantGet(t, st, p, "k", want)
				wantGet(t, st, p, "", wantEmpty)
				if got := checkpoint(t, fresh, sp, p); got != wantCkpt {
					t.Errorf("Checkpoint(%s, %d) = %d, want %d", sp, p, got, wantCkpt)
				}
			})
		}
	}
}

// TestStateSpacesAreApart: two spaces of one store never see each other's
// keys, pending or committed, even where one space's name and key run
// together into the other's (space "a", key "bk" against space "ab", key
// "k"); Spaces lists both.
func TestStateSpacesAreApart(t *testing.T) {
	t.Parallel()
	store := openState(t)
	a, ab := store.Space("a"), store.Space("ab")
	set(t, a, 0, "bk", "of a")
	set(t, a, 0, "k", "of a")
	wantGet(t, ab, 0, "k", "")
	wantGet(t, ab, 0, "bk", "")
	commit(t, store, 0, map[string]int64{"a": 3})
	store.Forget([]int32{0})
	wantGet(t, ab, 0, "k", "")
	wantGet(t, ab, 0, "bk", "")
	if got := checkpoint(t, store, "ab", 0); got != 0 {
		t.Errorf("Checkpoint(ab, 0) = %d after committing space a only, want 0", got)
	}

	set(t, ab, 0, "k", "of ab")
	commit(t, store, 0, nil)
	wantGet(t, a, 0, "k", "of a")
	wantGet(t, ab, 0, "k", "of ab")

	got := store.Spaces()
	slices.Sort(got)
	if want := []string{"a", "ab"}; !slices.Equal(got, want) {
		t.Errorf("Spaces() = %v, want %v", got, want)
	}
}
