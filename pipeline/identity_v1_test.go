package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/koi"
)

// TestLegacyNodeRID: a koi-net 1.0 node RID is <name>+<uuid4>, the same
// across calls (restarts) for the same name, and a new one for another
// name.
func TestLegacyNodeRID(t *testing.T) {
	dir := t.TempDir()
	first, err := pipeline.LegacyNodeRID(dir, "sensor")
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := strings.CutPrefix(first, "orn:koi-net.node:sensor+")
	if !ok || len(ref) != 36 || ref[14] != '4' {
		t.Fatalf("RID %q is not orn:koi-net.node:sensor+<uuid4>", first)
	}
	tests := []struct {
		name, node string
		same       bool
	}{
		{"restart keeps it", "sensor", true},
		{"another name gets another", "other", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			again, err := pipeline.LegacyNodeRID(dir, tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if (again == first) != tt.same {
				t.Errorf("RID %q after %q, same = %v, want %v", again, first, again == first, tt.same)
			}
			if !strings.HasPrefix(again, "orn:koi-net.node:"+tt.node+"+") {
				t.Errorf("RID %q does not carry the name %q", again, tt.node)
			}
		})
	}
}

// TestProfileSpecJSON: the profile as each kind of node publishes it.
func TestProfileSpecJSON(t *testing.T) {
	tests := []struct {
		name string
		spec pipeline.ProfileSpec
		want string
	}{
		{"full", pipeline.ProfileSpec{BaseURL: "http://h:1/koi-net", NodeType: "FULL", Provides: []string{"orn:github.issue"}, PublicKey: "K=="},
			`{"@context":"orn:koi-net.context:koi-net.node","base_url":"http://h:1/koi-net","node_type":"FULL","provides":{"event":["orn:github.issue"],"state":["orn:github.issue"]},"public_key":"K=="}`},
		{"partial has a null base_url", pipeline.ProfileSpec{NodeType: "PARTIAL", Provides: []string{}, PublicKey: "K=="},
			`{"@context":"orn:koi-net.context:koi-net.node","base_url":null,"node_type":"PARTIAL","provides":{"event":[],"state":[]},"public_key":"K=="}`},
		{"1.0 has no public key", pipeline.ProfileSpec{BaseURL: "http://h:1/koi-net", NodeType: "FULL", Provides: []string{"orn:github.event"}},
			`{"@context":"orn:koi-net.context:koi-net.node","base_url":"http://h:1/koi-net","node_type":"FULL","provides":{"event":["orn:github.event"],"state":["orn:github.event"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.spec.JSON()); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestNodeOnA10Network: a node configured for koi-net 1.0 names itself
// <name>+<uuid4>, keeps that RID across restarts, and serves its profile
// (without public_key) under it to an unsigned 1.0 request.
func TestNodeOnA10Network(t *testing.T) {
	dir := t.TempDir()
	cfg := pipeline.Config{
		DataDir: dir, Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0", Partitions: 1,
		Streams:  pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
		NodeName: "sensor-v1", Logger: slog.New(slog.DiscardHandler),
		KOI: pipeline.KOIConfig{FirstContactURL: "http://127.0.0.1:9/koi-net"}, // a bare URL: 1.0
	}
	var rids []string
	for range 2 {
		n, err := pipeline.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		rid := n.Identity().RID
		rids = append(rids, rid)
		resp, err := http.Post("http://"+n.Addr()+"/koi-net/bundles/fetch", "application/json", strings.NewReader(`{"rids":["`+rid+`"]}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct {
			Bundles []struct {
				Contents json.RawMessage `json:"contents"`
			} `json:"bundles"`
		}
		if err := json.Unmarshal(body, &got); err != nil || len(got.Bundles) != 1 {
			t.Fatalf("bundles/fetch of %s: %d %s (%v)", rid, resp.StatusCode, body, err)
		}
		if bytes.Contains(got.Bundles[0].Contents, []byte("public_key")) {
			t.Errorf("1.0 profile has a public_key: %s", got.Bundles[0].Contents)
		}
		if err := n.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if rids[0] != rids[1] {
		t.Errorf("RID changed across a restart: %s then %s", rids[0], rids[1])
	}
	if err := koi.CheckNodeKey(rids[0], ""); err == nil {
		t.Errorf("1.0 RID %s checks as a key hash", rids[0])
	}
	if ref, ok := strings.CutPrefix(rids[0], "orn:koi-net.node:sensor-v1+"); !ok || len(ref) != 36 || strings.Count(ref, "-") != 4 {
		t.Errorf("RID %s is not <name>+<uuid4>", rids[0])
	}
}
