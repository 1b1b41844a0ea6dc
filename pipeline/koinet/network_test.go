package koinet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
)

// TestStartPublishesOurProfile: our profile is put in our log at every
// start, whatever the cache holds (the stages drop an unchanged one).
func TestStartPublishesOurProfile(t *testing.T) {
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net", "orn:github.event")
	old := profileContents("http://127.0.0.1:8/koi-net", self.pub, "orn:github.event")
	tests := []struct {
		name   string
		cached []byte
		want   bool
	}{
		{"not cached", nil, true},
		{"cached with another hash", old, true},
		{"cached: published all the same, the stages drop it", self.contents, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.cached != nil {
				w.apply(newEvent(t, koi.EventNew, self.rid, tt.cached))
			}
			rec := &recorder{}
			n := newNetwork(t, self, w, rec, KOIConfig{})
			if err := n.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			ins := rec.inputs(t)
			if got := len(ins) == 1; got != tt.want || len(ins) > 1 {
				t.Fatalf("records = %d, want published %v", len(ins), tt.want)
			}
			if !tt.want {
				return
			}
			ev := localEvents(t, ins[0])[0]
			if ev.RID != self.rid || ev.EventType != koi.EventNew || !bytes.Equal(ev.Contents, self.contents) ||
				*ev.Manifest != self.bundle.Manifest || len(ins[0].Targets) != 0 {
				t.Errorf("published %s %s %s targets %v", ev.RID, ev.EventType, ev.Contents, ins[0].Targets)
			}
		})
	}
}

// TestPushAndBroadcast: Push is true for FULL nodes with a base_url unless
// their only edges from us are POLL (a newcomer without an edge is sent our
// profile by webhook); Broadcast reaches the subscriber at the
// base_url of its profile, signed so that it verifies there.
func TestPushAndBroadcast(t *testing.T) {
	sub := newPeer(t, "sub")
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net", "orn:github.event")
	sub.world.addNode(self)
	poller := newIdent(t, "poller", "http://127.0.0.1:10/koi-net")
	partial := newIdent(t, "partial", "")
	newcomer := newIdent(t, "newcomer", "http://127.0.0.1:11/koi-net")
	w := newWorld(t)
	for _, id := range []ident{self, sub.ident, poller, partial, newcomer} {
		w.addNode(id)
	}
	w.addEdge(self.rid, sub.rid, projections.EdgeWebhook, projections.EdgeProposed, "orn:github.event")
	w.addEdge(self.rid, poller.rid, projections.EdgePoll, projections.EdgeApproved, "orn:github.event")
	w.addEdge(self.rid, partial.rid, projections.EdgePoll, projections.EdgeApproved, "orn:github.event")
	n := newNetwork(t, self, w, &recorder{}, KOIConfig{})
	for _, tt := range []struct {
		rid  string
		want bool
	}{{sub.rid, true}, {poller.rid, false}, {partial.rid, false}, {newcomer.rid, true}, {"orn:koi-net.node:nobody+00", false}} {
		if got := n.Push(tt.rid); got != tt.want {
			t.Errorf("Push(%s) = %v, want %v", tt.rid, got, tt.want)
		}
	}
	ev := newEvent(t, koi.EventNew, "orn:github.event:o/r:1", []byte(`{"a":1}`))
	if err := n.Broadcast(context.Background(), sub.rid, [][]byte{ev}); err != nil {
		t.Fatal(err)
	}
	reqs := sub.requests()
	if len(reqs) != 1 || reqs[0].path != PathBroadcast || reqs[0].err != nil {
		t.Fatalf("subscriber got %d requests (%v)", len(reqs), reqs)
	}
	if err := n.Broadcast(context.Background(), partial.rid, [][]byte{ev}); !errors.Is(err, ErrNoBaseURL) {
		t.Errorf("broadcast to a PARTIAL node: err = %v, want ErrNoBaseURL", err)
	}
}

// TestRunFollowsUpAndReconciles runs the whole network: a handshake
// reported by the inbound side is answered with our profile, and an edge
// proposal to us is approved, without waiting for anything but the nudge
// and the reconcile ticks.
func TestRunFollowsUpAndReconciles(t *testing.T) {
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net", "orn:github.event")
	newcomer := newIdent(t, "newcomer", "http://127.0.0.1:10/koi-net")
	w := newWorld(t)
	w.addNode(self)
	w.addNode(newcomer)
	rec := &recorder{}
	n := newNetwork(t, self, w, rec, KOIConfig{RidTypesOfInterest: []string{}})
	runNetwork(t, n)
	n.OnBroadcast(newcomer.rid, true, nil)
	waitFor(t, 5*time.Second, "our profile sent to the newcomer", func() bool { return rec.len() >= 1 })
	edge, _ := w.addEdge(self.rid, newcomer.rid, projections.EdgeWebhook, projections.EdgeProposed, "orn:github.event")
	n.Nudge()
	waitFor(t, 5*time.Second, "the approval", func() bool { return rec.len() >= 2 })
	ins := rec.inputs(t)
	first, second := localEvents(t, ins[0])[0], localEvents(t, ins[1])[0]
	if first.RID != self.rid || !slices.Equal(ins[0].Targets, []string{newcomer.rid}) {
		t.Errorf("first record: %s to %v, want our profile to the newcomer", first.RID, ins[0].Targets)
	}
	if second.RID != edge || second.EventType != koi.EventUpdate {
		t.Errorf("second record: %s %s, want the approval of %s", second.EventType, second.RID, edge)
	}
}

// TestPeersHandler lists nodes, edges with their status, and queues.
func TestPeersHandler(t *testing.T) {
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net", "orn:github.event")
	a := newIdent(t, "a", "http://127.0.0.1:10/koi-net", "orn:koi-net.node")
	w := newWorld(t)
	w.addNode(self)
	w.addNode(a)
	e1, _ := w.addEdge(self.rid, a.rid, projections.EdgeWebhook, projections.EdgeApproved, "orn:github.event")
	e2, _ := w.addEdge(a.rid, self.rid, projections.EdgePoll, projections.EdgeProposed, "orn:koi-net.node")
	n, err := New(Config{
		Self: self.self(), Cache: w.cache, Graph: w.graph, Publisher: &recorder{}, RawTopic: "raw",
		Logger: slog.New(slog.DiscardHandler),
		Queues: func() []QueueStat { return []QueueStat{{Subscriber: a.rid, Depth: 3, OldestAgeSeconds: 1.5}} },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.PeersHandler())
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	var v PeersView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Self != self.rid || len(v.Nodes) != 2 || len(v.Edges) != 2 || len(v.Queues) != 1 {
		t.Fatalf("listing = %+v", v)
	}
	byRID := map[string]PeerEdge{}
	for _, e := range v.Edges {
		byRID[e.RID] = e
	}
	if e := byRID[e1]; e.Source != self.rid || e.Target != a.rid || e.Status != "APPROVED" || e.EdgeType != "WEBHOOK" || !slices.Equal(e.RIDTypes, []string{"orn:github.event"}) {
		t.Errorf("edge 1 = %+v", e)
	}
	if e := byRID[e2]; e.Status != "PROPOSED" || e.EdgeType != "POLL" {
		t.Errorf("edge 2 = %+v", e)
	}
	if q := v.Queues[0]; q.Subscriber != a.rid || q.Depth != 3 || q.OldestAgeSeconds != 1.5 {
		t.Errorf("queue = %+v", q)
	}

	resp, err = http.Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !bytes.Contains(body, []byte(`"error":"method_not_allowed"`)) {
		t.Errorf("POST: %d %s", resp.StatusCode, body)
	}
}

// TestNewRefuses incomplete configurations.
func TestNewRefuses(t *testing.T) {
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net")
	w := newWorld(t)
	good := func() Config {
		return Config{Self: self.self(), Cache: w.cache, Graph: w.graph, Publisher: &recorder{}, RawTopic: "raw"}
	}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no bundle", func(c *Config) { c.Self.Bundle = nil }},
		{"no key", func(c *Config) { c.Self.Key = nil }},
		{"no graph", func(c *Config) { c.Graph = nil }},
		{"no publisher", func(c *Config) { c.Publisher = nil }},
		{"bad node type", func(c *Config) { c.KOI.NodeType = "HALF" }},
		{"first contact RID without URL", func(c *Config) { c.KOI.FirstContactRID = self.rid }},
		{"bundle of another node", func(c *Config) { c.Self.RID = "orn:koi-net.node:x+00" }},
	}
	if _, err := New(good()); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.mod(&c)
			if _, err := New(c); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestEnsureProfile: ProfileRecheck after publishing our profile, a cache
// that holds another one (an earlier run's announcement handled after
// ours) gets ours again; a cache that holds ours gets nothing.
func TestEnsureProfile(t *testing.T) {
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net", "orn:github.event")
	old := profileContents("http://127.0.0.1:8/koi-net", self.pub, "orn:github.event")
	for _, tc := range []struct {
		name    string
		cached  []byte
		elapsed time.Duration
		want    int
	}{
		{"another profile cached, recheck due", old, ProfileRecheck, 1},
		{"another profile cached, too soon", old, ProfileRecheck - time.Second, 0},
		{"ours cached", self.contents, ProfileRecheck, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.apply(newEvent(t, koi.EventNew, self.rid, tc.cached))
			rec := &recorder{}
			n := newNetwork(t, self, w, rec, KOIConfig{})
			now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
			n.cfg.Now = func() time.Time { return now }
			if err := n.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			now = now.Add(tc.elapsed)
			n.ensureProfile()
			if got := len(rec.inputs(t)) - 1; got != tc.want {
				t.Errorf("published again %d times, want %d", got, tc.want)
			}
		})
	}
}
