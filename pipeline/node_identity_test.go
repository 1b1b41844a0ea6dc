package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/koi"
)

// TestNodeIdentityProfile: a started node has a key in its data folder,
// keeps its RID across restarts, and answers fetches of its own profile
// bundle, which lists exactly the GitHub types as provided.
func TestNodeIdentityProfile(t *testing.T) {
	dir := t.TempDir()
	cfg := pipeline.Config{
		DataDir: dir, Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0", Partitions: 1,
		Streams:  pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
		NodeName: "sensor-a", PrivKeyPassword: []byte("pw"),
		Logger: slog.New(slog.DiscardHandler),
	}
	n, err := pipeline.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := n.Identity()
	if err := koi.CheckNodeKey(id.RID, id.PublicKey); err != nil {
		t.Fatalf("identity: %v", err)
	}
	rid, err := koi.NodeRIDForKey("sensor-a", id.PublicKey)
	if err != nil || rid != id.RID {
		t.Fatalf("RID %s, want %s (%v)", id.RID, rid, err)
	}
	base := "http://" + n.Addr() + "/koi-net"
	post := func(path, body string) []byte {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}

	var rids koi.RidsPayload
	if err := json.Unmarshal(post("/rids/fetch", `{"type":"fetch_rids","rid_types":["orn:koi-net.node"]}`), &rids); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rids.Rids, []string{id.RID}) {
		t.Errorf("rids of orn:koi-net.node = %v, want [%s]", rids.Rids, id.RID)
	}
	var bundles struct {
		Bundles []struct {
			Manifest koi.Manifest    `json:"manifest"`
			Contents json.RawMessage `json:"contents"`
		} `json:"bundles"`
		NotFound []string `json:"not_found"`
	}
	if err := json.Unmarshal(post("/bundles/fetch", `{"type":"fetch_bundles","rids":["`+id.RID+`"]}`), &bundles); err != nil {
		t.Fatal(err)
	}
	if len(bundles.Bundles) != 1 || len(bundles.NotFound) != 0 {
		t.Fatalf("bundles of our RID: %+v", bundles)
	}
	b := bundles.Bundles[0]
	want := pipeline.NodeProfileJSON(base, pipeline.GitHubTypes, id.PublicKey)
	if !bytes.Equal(b.Contents, want) {
		t.Errorf("profile contents\n got %s\nwant %s", b.Contents, want)
	}
	if h, _ := koi.Hash(want); b.Manifest.RID != id.RID || b.Manifest.SHA256Hash != h {
		t.Errorf("profile manifest %+v, want RID %s hash %s", b.Manifest, id.RID, h)
	}
	var manifests struct {
		Manifests []koi.Manifest `json:"manifests"`
	}
	if err := json.Unmarshal(post("/manifests/fetch", `{"type":"fetch_manifests","rids":["`+id.RID+`"]}`), &manifests); err != nil {
		t.Fatal(err)
	}
	if len(manifests.Manifests) != 1 || manifests.Manifests[0] != b.Manifest {
		t.Errorf("manifests of our RID: %+v, want [%+v]", manifests.Manifests, b.Manifest)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The same key on the next start; a wrong password stops the start.
	n, err = pipeline.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n.Identity().RID != id.RID {
		t.Errorf("RID after restart %s, want %s", n.Identity().RID, id.RID)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.PrivKeyPassword = []byte("wrong")
	if n, err := pipeline.Start(context.Background(), cfg); err == nil {
		n.Shutdown(context.Background())
		t.Fatal("started with a wrong key password")
	}
}
