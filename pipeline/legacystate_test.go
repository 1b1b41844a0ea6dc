package pipeline

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/events"
	ghwire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/topicstest"
)

// legacyLogPos is how builds before exactly-once segments encoded a log
// position in stage state: partition (4 bytes) then offset (8), big endian.
func legacyLogPos(p int32, off int64) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(p))
	return binary.BigEndian.AppendUint64(b, uint64(off))
}

// TestLegacyStateMovesIntoChangelogs: a data folder written by a build
// before exactly-once segments holds dedupe's and ridify's state under
// "dedupe\x00" and "ridify\x00" in the stage database. The upgraded node
// moves it into the changelogs, so a redelivery of a delivery the old build
// saw is still dropped and a repository it announced is not announced NEW
// again, and the legacy keys are gone afterwards.
func TestLegacyStateMovesIntoChangelogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := pebble.Open(filepath.Join(dir, "stages"), projections.StageStateOptions(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	const oldDelivery = "legacy-delivery-1"
	repoRID := "orn:github.repo:octocat/Hello-World"
	ridState := make([]byte, 32, 32+1+12+8) // some other contents' hash
	ridState = append(ridState, 'N')
	ridState = append(ridState, legacyLogPos(0, 0)...)
	ridState = binary.BigEndian.AppendUint64(ridState, uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()))
	for k, v := range map[string][]byte{
		"dedupe\x00" + ghwire.SourceKind + "\x00" + oldDelivery: legacyLogPos(0, 0),
		"ridify\x00" + repoRID: ridState,
	} {
		if err := db.Set([]byte(k), v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	n, err := Start(context.Background(), Config{DataDir: dir, Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0",
		Streams: StreamsConfig{Listen: "127.0.0.1:0"},
		Logger:  slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })

	body, err := os.ReadFile("webhook/testdata/push.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{oldDelivery, "new-delivery-1"} {
		msg, err := raw.NewMessage(raw.Record{Key: id, Source: ghwire.SourceKind, ReceivedAt: time.Now(), ContentType: "application/json", Body: body,
			Metadata: map[string]string{ghwire.HeaderEvent: "push", ghwire.HeaderDelivery: id}})
		if err != nil {
			t.Fatal(err)
		}
		msg.UUID = watermill.NewUUID()
		if err := n.pub.Publish(n.names.Raw, msg); err != nil {
			t.Fatal(err)
		}
	}
	topicstest.WaitFor(t, 60*time.Second, "the node to drain", func() bool {
		ok, err := n.Drained(context.Background())
		return err == nil && ok
	})

	if dead := topicstest.ReadAll(t, n.KafkaAddrs()[0], n.names.Dead); len(dead) != 0 {
		t.Fatalf("%d inputs went to the dead topic, want none", len(dead))
	}
	types := map[string]string{}
	for _, r := range topicstest.ReadAll(t, n.KafkaAddrs()[0], n.names.Events) {
		v, err := events.ParseValue(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		types[v.RID] += string(v.EventType) + " "
	}
	for rid := range types {
		if strings.HasSuffix(rid, ":"+oldDelivery) {
			t.Errorf("the delivery the old build saw was announced again: %s", rid)
		}
	}
	if got := types[repoRID]; got != "UPDATE " {
		t.Errorf("%s announced as %q, want one UPDATE: the old build had announced it", repoRID, got)
	}
	if !strings.Contains(strings.Join(keys(types), " "), ":new-delivery-1") {
		t.Errorf("the new delivery was not announced: %v", types)
	}
	it, err := n.state.NewIter(&pebble.IterOptions{LowerBound: []byte("dedupe\x00"), UpperBound: []byte("ridify\x01")})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if k := string(it.Key()); strings.HasPrefix(k, "dedupe\x00") || strings.HasPrefix(k, "ridify\x00") {
			t.Errorf("legacy key %q is still in the stage database", k)
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
