package stages_test

import (
	"strconv"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages"
	ghwire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/observed"
)

// normalized builds an observation as normalize emits it for the raw record
// at rawOffset of partition 0.
func normalized(delivery, rid string, rawOffset int64) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), []byte(`{}`))
	m.Metadata = message.Metadata{
		observed.HeaderSource:       ghwire.SourceKind,
		observed.HeaderSourceKey:    delivery,
		observed.HeaderRID:          rid,
		observed.HeaderRawPartition: "0",
		observed.HeaderRawOffset:    strconv.FormatInt(rawOffset, 10),
	}
	return m
}

func TestDedupe(t *testing.T) {
	t.Parallel()
	type in struct {
		delivery, rid string
		rawOffset     int64
		pass          bool
	}
	cases := []struct {
		name string
		ins  []in
	}{
		{"first delivery passes", []in{{"d1", "r1", 0, true}}},
		{"redelivery is dropped", []in{{"d1", "r1", 0, true}, {"d1", "r1", 7, false}}},
		{"each observation of one delivery passes", []in{{"d1", "r1", 0, true}, {"d1", "r2", 0, true}}},
		{"a redelivery drops RIDs the first delivery did not name", []in{{"d1", "r1", 0, true}, {"d1", "r2", 5, false}}},
		{"other deliveries pass", []in{{"d1", "r1", 0, true}, {"d2", "r1", 1, true}}},
		{"a retry of the same raw record passes again", []in{{"d1", "r1", 3, true}, {"d1", "r1", 3, true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := newStage(t, stages.DedupeName, openState(t))
			for i, x := range c.ins {
				out, err := st.Process(rawAt, normalized(x.delivery, x.rid, x.rawOffset))
				if err != nil {
					t.Fatalf("input %d: %v", i, err)
				}
				if got := len(out) == 1; got != x.pass {
					t.Fatalf("input %d (%s %s @%d): passed=%v, want %v", i, x.delivery, x.rid, x.rawOffset, got, x.pass)
				}
			}
		})
	}
}

// TestDedupeSurvivesRestart: committed seen keys live in Pebble, so a
// redelivery after the database is closed and reopened is still dropped.
func TestDedupeSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openDB(t, dir)
	store := stages.NewStateStore(db)
	st := newStage(t, stages.DedupeName, store)
	if out, err := st.Process(rawAt, normalized("d1", "r1", 0)); err != nil || len(out) != 1 {
		t.Fatalf("first: %v %v", out, err)
	}
	// The segment's transaction committed.
	if err := store.Commit(0, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir)
	defer db.Close()
	st = newStage(t, stages.DedupeName, stages.NewStateStore(db))
	if out, err := st.Process(rawAt, normalized("d1", "r1", 9)); err != nil || len(out) != 0 {
		t.Fatalf("redelivery after reopen: passed %d, err %v; want dropped", len(out), err)
	}
}

func TestDedupeNeedsASourceKey(t *testing.T) {
	t.Parallel()
	st := newStage(t, stages.DedupeName, openState(t))
	m := normalized("", "r1", 0)
	if _, err := st.Process(rawAt, m); !stages.IsPermanent(err) {
		t.Fatalf("error %v, want permanent", err)
	}
}
