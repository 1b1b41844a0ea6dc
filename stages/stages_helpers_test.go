package stages_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics"
	ghwire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/observed"
)

// openState opens stage state on a real Pebble database in a temp folder.
func openState(t *testing.T) *stages.StateStore {
	t.Helper()
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	return stages.NewStateStore(db)
}

// openDB opens the database in dir; the caller closes it.
func openDB(t *testing.T, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, projections.StageStateOptions(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// newStage builds the registered stage name; a stateful one keeps its state
// in store under the space name.
func newStage(t *testing.T, name string, store *stages.StateStore) stages.Stage {
	t.Helper()
	deps := stages.Deps{Now: time.Now}
	if store != nil {
		deps.OpenState = func() (stages.State, error) { return store.Space(name), nil }
	}
	st, err := stages.Builtin().New(name, deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// stateDeps returns Deps whose OpenState gives each stage its own space on
// a fresh store.
func stateDeps(t *testing.T) stages.Deps {
	store := openState(t)
	var n int
	return stages.Deps{Now: time.Now, OpenState: func() (stages.State, error) {
		n++
		return store.Space(fmt.Sprint("space", n)), nil
	}}
}

// rawAt is the context of a record at offset 0 of partition 0 of the raw
// topic: stage state is partitioned by the input's position.
var rawAt = topics.ContextWithPosition(context.Background(), topics.Position{Topic: "koistream.raw"})

// observation builds an observed-topic message as normalize emits it from
// the GitHub parser's observations (event RIDs immutable, routed by the
// event name), at the given position of the observed topic. Its headers are
// written one by one, so tests can give malformed values.
func observation(rid, op, contents string, partition int32, offset int64, receivedAt time.Time) (context.Context, *message.Message) {
	m := message.NewMessage(watermill.NewUUID(), []byte(contents))
	m.Metadata = message.Metadata{
		topics.RecordKey:            rid,
		observed.HeaderRID:          rid,
		observed.HeaderOp:           op,
		observed.HeaderRouting:      "ent.issue",
		observed.HeaderSource:       ghwire.SourceKind,
		observed.HeaderSourceKey:    "delivery-1",
		observed.HeaderReceivedAt:   receivedAt.UTC().Format(time.RFC3339Nano),
		observed.HeaderRawPartition: "0",
		observed.HeaderRawOffset:    "7",
	}
	if strings.HasPrefix(rid, github.TypeEvent+":") {
		m.Metadata[observed.HeaderRouting] = "evt.issues"
		m.Metadata[observed.HeaderImmutable] = "true"
	}
	ctx := topics.ContextWithPosition(context.Background(), topics.Position{Topic: "koistream.observed", Partition: partition, Offset: offset})
	return ctx, m
}

// koiEvent is a decoded events-topic record.
type koiEvent struct {
	RID       string `json:"rid"`
	EventType string `json:"event_type"`
	Manifest  *struct {
		RID        string `json:"rid"`
		Timestamp  string `json:"timestamp"`
		SHA256Hash string `json:"sha256_hash"`
	} `json:"manifest"`
	Contents json.RawMessage `json:"contents"`
}

func decodeEvents(t *testing.T, msgs []*message.Message) []koiEvent {
	t.Helper()
	out := make([]koiEvent, 0, len(msgs))
	for _, m := range msgs {
		var ev koiEvent
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			t.Fatalf("event is not JSON: %v: %s", err, m.Payload)
		}
		out = append(out, ev)
	}
	return out
}
