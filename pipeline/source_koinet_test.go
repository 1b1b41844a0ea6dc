package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/topicstest"
)

// TestKoiNetBroadcastEndToEnd: a peer handshakes with a real node, then
// broadcasts a signed GitHub issue event; the node serves the issue from
// its cache byte for byte, its events record names the peer, and a re-sent
// batch plus a batch with one more event make each (RID, hash) once in the
// events topic.
func TestKoiNetBroadcastEndToEnd(t *testing.T) {
	cfg := pipeline.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0", Partitions: 1,
		Streams:  pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
		NodeName: "sensor", Logger: slog.New(slog.DiscardHandler),
	}
	n, err := pipeline.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	me := n.Identity().RID
	base := "http://" + n.Addr() + "/koi-net"

	// The peer: a key, its RID and profile.
	key, err := koi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := koi.PublicKeyString(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := koi.NodeRIDForKey("processor", pub)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	bundleEvent := func(typ koi.EventType, rid, contents string) string {
		b, err := koi.NewBundle(rid, []byte(contents), at)
		if err != nil {
			t.Fatal(err)
		}
		return string(koi.NewBundleEvent(typ, b).AppendJSON(nil))
	}
	broadcast := func(events ...string) {
		t.Helper()
		payload := `{"type":"events_payload","events":[`
		for i, e := range events {
			if i > 0 {
				payload += ","
			}
			payload += e
		}
		body, err := koi.Seal(key, []byte(payload+"]}"), peer, me)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(base+"/events/broadcast", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(b) != "null" {
			t.Fatalf("broadcast: %d %s, want 200 null", resp.StatusCode, b)
		}
	}
	// fetch returns the bundle of rid the node serves (bare 1.0 request),
	// or nil when not found.
	fetch := func(rid string) *struct {
		Manifest koi.Manifest    `json:"manifest"`
		Contents json.RawMessage `json:"contents"`
	} {
		t.Helper()
		resp, err := http.Post(base+"/bundles/fetch", "application/json", bytes.NewReader([]byte(`{"type":"fetch_bundles","rids":["`+rid+`"]}`)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p struct {
			Bundles []struct {
				Manifest koi.Manifest    `json:"manifest"`
				Contents json.RawMessage `json:"contents"`
			} `json:"bundles"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
		if len(p.Bundles) == 0 {
			return nil
		}
		return &p.Bundles[0]
	}

	// The handshake, as a real peer makes it: FORGET self, NEW self.
	profile := string(pipeline.NodeProfileJSON("http://127.0.0.1:9/koi-net", nil, pub))
	broadcast(`{"rid":"`+peer+`","event_type":"FORGET"}`, bundleEvent(koi.EventNew, peer, profile))
	topicstest.WaitFor(t, 30*time.Second, "the peer's profile in the cache", func() bool { return fetch(peer) != nil })

	// Contents with what a re-marshal would lose: key order, nulls,
	// non-ASCII, a float.
	issue := "orn:github.issue:octo/hello:1"
	issueContents := `{"title":"héllo 😀","number":1,"closed_at":null,"score":1.0,"labels":[]}`
	issueEvent := bundleEvent(koi.EventNew, issue, issueContents)
	broadcast(issueEvent)
	topicstest.WaitFor(t, 30*time.Second, "the issue in the cache", func() bool { return fetch(issue) != nil })
	if got := fetch(issue).Contents; string(got) != issueContents {
		t.Errorf("served contents\n got %s\nwant %s", got, issueContents)
	}

	// The same batch again (the reference re-sends failed batches), then
	// that batch with one more event.
	broadcast(issueEvent)
	issue2 := "orn:github.issue:octo/hello:2"
	broadcast(issueEvent, bundleEvent(koi.EventUpdate, issue2, `{"number":2}`))
	topicstest.WaitFor(t, 30*time.Second, "the second issue in the cache", func() bool { return fetch(issue2) != nil })
	drained(t, n)

	seen := map[string]int{} // rid + hash -> events
	for _, r := range topicstest.ReadAll(t, n.KafkaAddrs()[0], n.Topics().Events) {
		v, err := events.ParseValue(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		var m koi.Manifest
		if v.Manifest != nil {
			if err := json.Unmarshal(v.Manifest, &m); err != nil {
				t.Fatal(err)
			}
		}
		seen[v.RID+" "+string(v.EventType)+" "+m.SHA256Hash]++
		if v.RID == issue || v.RID == issue2 {
			var peerHeader string
			for _, h := range r.Headers {
				if h.Key == observed.HeaderPeer {
					peerHeader = string(h.Value)
				}
			}
			if peerHeader != peer {
				t.Errorf("events record of %s: peer header %q, want %s", v.RID, peerHeader, peer)
			}
		}
	}
	t.Logf("events topic: %v", seen)
	h1, _ := koi.Hash([]byte(issueContents))
	h2, _ := koi.Hash([]byte(`{"number":2}`))
	for _, want := range []string{issue + " NEW " + h1, issue2 + " NEW " + h2} {
		if seen[want] != 1 {
			t.Errorf("events %q: %d, want exactly 1 (all: %v)", want, seen[want], seen)
		}
	}
	var issueEvents int
	for k, c := range seen {
		if len(k) > len(issue) && k[:len(issue)+1] == issue+" " {
			issueEvents += c
		}
	}
	if issueEvents != 1 {
		t.Errorf("%d events of %s, want 1: %v", issueEvents, issue, seen)
	}
	if dead := topicstest.ReadAll(t, n.KafkaAddrs()[0], n.Topics().Dead); len(dead) != 0 {
		t.Errorf("%d dead records", len(dead))
	}

	// The peer restarts on another port and introduces itself again: the
	// graph follows its new base_url, which is where its events go.
	moved := string(pipeline.NodeProfileJSON("http://127.0.0.1:10/koi-net", nil, pub))
	at = at.Add(time.Hour)
	broadcast(`{"rid":"`+peer+`","event_type":"FORGET"}`, bundleEvent(koi.EventNew, peer, moved))
	topicstest.WaitFor(t, 30*time.Second, "the peer's new base_url in the graph", func() bool {
		node, ok, err := n.Graph().Node(peer)
		return err == nil && ok && node.BaseURL == "http://127.0.0.1:10/koi-net"
	})
}

// drained waits until the node has processed everything in its log.
func drained(t *testing.T, n *pipeline.Node) {
	t.Helper()
	topicstest.WaitFor(t, 30*time.Second, "the node drained", func() bool {
		ok, err := n.Drained(context.Background())
		return err == nil && ok
	})
}
