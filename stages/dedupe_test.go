package stages_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages"
	ghwire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/observed"
	publishwire "github.com/koistream/koistream/topics/publish"
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

// TestDedupeKeepsNoStateForUniqueKeys: records of a source whose keys the
// node mints unique (publish) pass without a state entry, even when two
// share a key (which cannot happen; a webhook's second would be dropped),
// and a webhook record is still deduplicated by the same stage.
func TestDedupeKeepsNoStateForUniqueKeys(t *testing.T) {
	t.Parallel()
	store := openState(t)
	st := newStage(t, stages.DedupeName, store)
	published := func(key string, off int64) *message.Message {
		m := normalized(key, "orn:pubsub.message:"+key+"/p", off)
		m.Metadata.Set(observed.HeaderSource, publishwire.SourceKind)
		return m
	}
	for i, tt := range []struct {
		name string
		msg  *message.Message
		pass bool
	}{
		{"published", published("01K", 0), true},
		{"published again under the same key", published("01K", 4), true},
		{"webhook", normalized("d1", "r1", 1), true},
		{"webhook redelivery", normalized("d1", "r1", 2), false},
	} {
		out, err := st.Process(rawAt, tt.msg)
		if err != nil {
			t.Fatalf("%d %s: %v", i, tt.name, err)
		}
		if got := len(out) == 1; got != tt.pass {
			t.Errorf("%s: passed=%v, want %v", tt.name, got, tt.pass)
		}
	}
	if ch := store.Changes(0); len(ch) != 1 || !strings.Contains(string(ch[0].Key), "d1") {
		t.Errorf("state changes %q, want the webhook delivery's alone", ch)
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
