package pipeline_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics"
)

// TestProjectionStoreOfAnotherSetIsRebuilt: a projection store built by
// the cache alone (a build before the graph existed) is rebuilt from the
// log at start instead of stopping the node: the node starts, the graph is
// attached, and what the old store held beyond the log is gone.
func TestProjectionStoreOfAnotherSetIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	const rid = "orn:github.issue:octo/hello:1"
	store, err := projections.OpenStore(pipeline.ProjectionsDir(dir), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := projections.NewCache(store)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Attach(cache); err != nil {
		t.Fatal(err)
	}
	ev := `{"rid":"` + rid + `","event_type":"NEW","manifest":{"rid":"` + rid + `","timestamp":"2026-11-28T00:00:00Z","sha256_hash":"` + zeros64 + `"},"contents":{"n":1}}`
	if _, err := store.Apply([]projections.Record{{
		Topic: topics.NewNames("").Events, Partition: 0, Offset: 0,
		Key: []byte(rid), Value: []byte(ev), Timestamp: time.Now(),
	}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	n, err := pipeline.Start(context.Background(), pipeline.Config{
		DataDir: dir, Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0", Partitions: 1,
		Streams: pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("start over a cache-only store: %v", err)
	}
	defer n.Shutdown(context.Background())
	if n.Graph() == nil {
		t.Fatal("no graph projection attached")
	}
	if _, found, err := n.Cache().Bundle(rid); err != nil || found {
		t.Errorf("bundle of %s after the rebuild: found %v (%v), want gone: the log never held it", rid, found, err)
	}
	nodes, err := n.Graph().Nodes()
	if err != nil {
		t.Fatalf("graph after the rebuild: %v", err)
	}
	if len(nodes) != 0 {
		t.Errorf("graph nodes %v, want none yet", nodes)
	}
}

const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"
