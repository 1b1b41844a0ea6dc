package koinet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
	rawkoi "github.com/koistream/koistream/topics/koinet"
)

// TestSetStatus: approval changes the status value's bytes and nothing
// else, with and without "@context", whatever the key order and spacing.
func TestSetStatus(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"2.1 form",
			`{"@context":"orn:koi-net.context:koi-net.edge","source":"orn:koi-net.node:a+1","target":"orn:koi-net.node:b+2","edge_type":"WEBHOOK","status":"PROPOSED","rid_types":["orn:koi-net.node"]}`,
			`{"@context":"orn:koi-net.context:koi-net.edge","source":"orn:koi-net.node:a+1","target":"orn:koi-net.node:b+2","edge_type":"WEBHOOK","status":"APPROVED","rid_types":["orn:koi-net.node"]}`, false},
		{"2.0 form, no @context",
			`{"source":"orn:koi-net.node:a+1","target":"orn:koi-net.node:b+2","edge_type":"POLL","status":"PROPOSED","rid_types":[]}`,
			`{"source":"orn:koi-net.node:a+1","target":"orn:koi-net.node:b+2","edge_type":"POLL","status":"APPROVED","rid_types":[]}`, false},
		{"other key order, spacing and extras kept",
			`{ "status" : "PROPOSED" , "rid_types":["x"], "note":{"status":"PROPOSED"},"s\u0074":"é"}`,
			`{ "status" : "APPROVED" , "rid_types":["x"], "note":{"status":"PROPOSED"},"s\u0074":"é"}`, false},
		{"escaped key", `{"st\u0061tus":"PROPOSED","a":null}`, `{"st\u0061tus":"APPROVED","a":null}`, false},
		{"no status", `{"source":"x"}`, "", true},
		{"status not a string", `{"status":null}`, "", true},
		{"not an object", `["status"]`, "", true},
		{"not JSON", `{"status":"PROPOSED"`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetStatus([]byte(tt.in), projections.EdgeApproved)
			if tt.err {
				if !errors.Is(err, ErrNoStatus) {
					t.Errorf("err = %v, want ErrNoStatus", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// FuzzSetStatus holds SetStatus to encoding/json: whenever it succeeds,
// the result decodes to the input's value with only "status" changed.
func FuzzSetStatus(f *testing.F) {
	for _, s := range []string{
		`{"status":"PROPOSED"}`,
		`{"@context":"c","status":"PROPOSED","rid_types":["a"]}`,
		` { "a" : [1,{"status":2}], "status" : "x\"y" } `,
		`{"status":1}`, `[]`, `{`, `{"st\u0061tus":"P"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := SetStatus(in, projections.EdgeApproved)
		var inV map[string]any
		jsonErr := json.Unmarshal(in, &inV)
		if err != nil {
			if jsonErr == nil && inV != nil {
				if s, ok := inV["status"].(string); ok && !hasDuplicateKeys(in) {
					t.Fatalf("refused %q with a string status %q: %v", in, s, err)
				}
			}
			return
		}
		if jsonErr != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", in, jsonErr)
		}
		var outV map[string]any
		if err := json.Unmarshal(out, &outV); err != nil {
			t.Fatalf("output %q is not JSON: %v", out, err)
		}
		if outV["status"] != "APPROVED" {
			t.Fatalf("status of %q = %v", out, outV["status"])
		}
		inV["status"] = "APPROVED"
		if !reflect.DeepEqual(inV, outV) {
			t.Fatalf("%q became %q: more than status changed", in, out)
		}
	})
}

// hasDuplicateKeys reports whether a top-level key of the object in
// repeats (encoding/json keeps the last, SetStatus changes all).
func hasDuplicateKeys(in []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(in))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		k, _ := tok.(string)
		if seen[k] {
			return true
		}
		seen[k] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

// TestNegotiateEdges: proposals where we are the source are approved
// (UPDATE, contents with only status changed, sent to the target) or
// rejected (FORGET sent to the target) by the reference's rules, once
// while the answer is in flight; proposals to unknown targets wait.
func TestNegotiateEdges(t *testing.T) {
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net", "orn:github.event", "orn:github.issue")
	full := newIdent(t, "full", "http://127.0.0.1:10/koi-net")
	partial := newIdent(t, "partial", "")
	stranger := newIdent(t, "stranger", "http://127.0.0.1:11/koi-net")
	w := newWorld(t)
	w.addNode(self)
	w.addNode(full)
	w.addNode(partial)

	// A 2.0-style proposal without @context, keys in another order.
	noCtxRID := koi.EdgeRID(self.rid, full.rid)
	noCtx := []byte(`{"source":"` + self.rid + `","target":"` + full.rid + `","rid_types":["orn:github.event","orn:koi-net.node"],"edge_type":"WEBHOOK","status":"PROPOSED"}`)
	w.apply(newEvent(t, koi.EventNew, noCtxRID, noCtx))
	pollPartial, pollPartialC := w.addEdge(self.rid, partial.rid, projections.EdgePoll, projections.EdgeProposed, "orn:github.issue", koi.TypeKoiNetEdge)
	strangerRID, _ := w.addEdge(self.rid, stranger.rid, projections.EdgeWebhook, projections.EdgeProposed, "orn:github.event")

	// Rejections go in a world of their own: one edge per source/target.
	other := newIdent(t, "other", "http://127.0.0.1:12/koi-net")
	w.addNode(other)
	webhookPartialRID := koi.EdgeRID(self.rid, partial.rid) + "x" // a second edge to the partial node
	w.apply(newEvent(t, koi.EventNew, webhookPartialRID, edgeContents(true, self.rid, partial.rid, projections.EdgeWebhook, projections.EdgeProposed, []string{"orn:github.event"})))
	notProvided, _ := w.addEdge(self.rid, other.rid, projections.EdgeWebhook, projections.EdgeProposed, "orn:github.event", "orn:slack.message")
	// Approved edges and edges of others are left alone.
	w.addEdge(full.rid, self.rid, projections.EdgeWebhook, projections.EdgeProposed, "orn:github.event")
	subscribed := newIdent(t, "subscribed", "http://127.0.0.1:13/koi-net")
	w.addNode(subscribed)
	w.addEdge(self.rid, subscribed.rid, projections.EdgeWebhook, projections.EdgeApproved, "orn:github.event")

	rec := &recorder{}
	n := newNetwork(t, self, w, rec, KOIConfig{RidTypesOfInterest: []string{}})
	n.reconcile(context.Background())

	type out struct {
		typ      koi.EventType
		target   string
		contents string
	}
	got := map[string]out{}
	for _, in := range rec.inputs(t) {
		evs := localEvents(t, in)
		if len(evs) != 1 || len(in.Targets) != 1 {
			t.Fatalf("record with %d events, targets %v", len(evs), in.Targets)
		}
		ev := evs[0]
		if _, dup := got[ev.RID]; dup {
			t.Errorf("%s answered twice", ev.RID)
		}
		got[ev.RID] = out{ev.EventType, in.Targets[0], string(ev.Contents)}
		if ev.Manifest != nil {
			if h, _ := koi.Hash(ev.Contents); h != ev.Manifest.SHA256Hash {
				t.Errorf("%s: manifest hash %s, contents hash %s", ev.RID, ev.Manifest.SHA256Hash, h)
			}
		}
	}
	want := map[string]out{
		noCtxRID:          {koi.EventUpdate, full.rid, strings.Replace(string(noCtx), "PROPOSED", "APPROVED", 1)},
		pollPartial:       {koi.EventUpdate, partial.rid, strings.Replace(string(pollPartialC), "PROPOSED", "APPROVED", 1)},
		webhookPartialRID: {koi.EventForget, partial.rid, ""},
		notProvided:       {koi.EventForget, other.rid, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("answers:\n%v\nwant\n%v", got, want)
	}
	if _, ok := got[strangerRID]; ok {
		t.Error("a proposal to an unknown target was answered")
	}

	// While the answers are in flight, nothing is published again.
	before := rec.len()
	n.reconcile(context.Background())
	if rec.len() != before {
		t.Errorf("records after a second round = %d, want %d", rec.len(), before)
	}
	// Once the graph shows the approval, a new proposal of the same edge
	// is answered again.
	w.apply(newEvent(t, koi.EventUpdate, noCtxRID, []byte(want[noCtxRID].contents)))
	n.reconcile(context.Background())
	w.apply(newEvent(t, koi.EventUpdate, noCtxRID, noCtx))
	n.reconcile(context.Background())
	if rec.len() != before+1 {
		t.Errorf("records after a new proposal = %d, want %d", rec.len(), before+1)
	}
}

// TestNodeContact: a node providing events we want gets one edge proposal
// from it to us (WEBHOOK as we are FULL, 2.1 form, sent to it), and we
// catch up with what it holds and we do not; a node whose edge to us
// already carries those types gets none.
func TestNodeContact(t *testing.T) {
	prov := newPeer(t, "provider", "orn:github.event", koi.TypeKoiNetNode)
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net", "orn:github.issue")
	prov.world.addNode(self)
	have := newEvent(t, koi.EventNew, "orn:github.event:o/r:1", []byte(`{"a":1}`))
	prov.world.apply(have,
		newEvent(t, koi.EventNew, "orn:github.event:o/r:2", []byte(`{"a":2}`)),
		newEvent(t, koi.EventNew, "orn:github.issue:o/r:3", []byte(`{"a":3}`)))
	done := newIdent(t, "done", "http://127.0.0.1:10/koi-net", "orn:github.event")
	uninteresting := newIdent(t, "quiet", "http://127.0.0.1:11/koi-net", "orn:slack.message")

	w := newWorld(t)
	w.addNode(self)
	w.addNode(prov.ident)
	w.addNode(done)
	w.addNode(uninteresting)
	w.apply(have)
	w.addEdge(done.rid, self.rid, projections.EdgeWebhook, projections.EdgeApproved, "orn:github.event")

	rec := &recorder{}
	n := newNetwork(t, self, w, rec, KOIConfig{RidTypesOfInterest: []string{"orn:github.event", "orn:github.issue"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.reconcile(ctx)
	n.reconcile(ctx)

	var proposals []rawkoi.Input
	var fetches []rawkoi.Input
	waitFor(t, 5*time.Second, "the catch-up", func() bool {
		proposals, fetches = nil, nil
		for _, in := range rec.inputs(t) {
			switch in.Via {
			case rawkoi.ViaLocal:
				proposals = append(proposals, in)
			case rawkoi.ViaFetch:
				fetches = append(fetches, in)
			}
		}
		return len(fetches) > 0
	})
	if len(proposals) != 1 {
		t.Fatalf("proposals = %d, want 1", len(proposals))
	}
	ev := localEvents(t, proposals[0])[0]
	wantRID := koi.EdgeRID(prov.rid, self.rid)
	wantContents := `{"@context":"orn:koi-net.context:koi-net.edge","source":"` + prov.rid + `","target":"` + self.rid +
		`","edge_type":"WEBHOOK","status":"PROPOSED","rid_types":["orn:github.event"]}`
	if ev.RID != wantRID || ev.EventType != koi.EventNew || string(ev.Contents) != wantContents {
		t.Errorf("proposal = %s %s %s\nwant %s NEW %s", ev.RID, ev.EventType, ev.Contents, wantRID, wantContents)
	}
	if !slices.Equal(proposals[0].Targets, []string{prov.rid}) {
		t.Errorf("targets = %v, want the provider", proposals[0].Targets)
	}
	// Catch-up: rids of the wanted types, then the bundles we lack only.
	if len(fetches) != 1 || fetches[0].Sender != prov.rid {
		t.Fatalf("fetch records = %d (sender %v), want 1 from the provider", len(fetches), fetches)
	}
	var bodies []string
	for _, r := range prov.requests() {
		if r.path == PathBundles || r.path == PathRids {
			bodies = append(bodies, string(r.env.Payload))
		}
	}
	wantBodies := []string{
		`{"type":"fetch_rids","rid_types":["orn:github.event"]}`,
		`{"type":"fetch_bundles","rids":["orn:github.event:o/r:2"]}`,
	}
	if !slices.Equal(bodies, wantBodies) {
		t.Errorf("provider requests:\n%v\nwant\n%v", bodies, wantBodies)
	}

	// Once the graph shows the edge, no new proposal, ever.
	w.apply(ev.AppendJSON(nil))
	n.reconcile(ctx)
	for _, in := range rec.inputs(t)[len(proposals)+len(fetches):] {
		t.Errorf("unexpected record via %s", in.Via)
	}
}

// TestOnBroadcastFollowUp: a handshake is answered with our profile sent
// to the newcomer; RIDs announced without contents are fetched from the
// sender and kept.
func TestOnBroadcastFollowUp(t *testing.T) {
	prov := newPeer(t, "newcomer", "orn:github.event")
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net")
	prov.world.addNode(self)
	prov.world.apply(newEvent(t, koi.EventNew, "orn:github.event:o/r:5", []byte(`{"a":5}`)))
	w := newWorld(t)
	rec := &recorder{}
	n := newNetwork(t, self, w, rec, KOIConfig{RidTypesOfInterest: []string{}})

	n.OnBroadcast(prov.rid, true, []string{"orn:github.event:o/r:5"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.runFollowUps(ctx)
	ins := rec.inputs(t)
	if len(ins) != 1 {
		t.Fatalf("records = %d, want our profile", len(ins))
	}
	ev := localEvents(t, ins[0])[0]
	if ev.RID != self.rid || ev.EventType != koi.EventNew || !bytes.Equal(ev.Contents, self.contents) || !slices.Equal(ins[0].Targets, []string{prov.rid}) {
		t.Errorf("follow-up = %s %s to %v", ev.RID, ev.EventType, ins[0].Targets)
	}
	// The fetch waits until the newcomer's profile (its base_url) is known.
	w.addNode(prov.ident)
	n.runFollowUps(ctx)
	waitFor(t, 5*time.Second, "the fetch", func() bool { return rec.len() == 2 })
	in := rec.inputs(t)[1]
	if in.Via != rawkoi.ViaFetch || in.Sender != prov.rid {
		t.Errorf("record via %s from %s", in.Via, in.Sender)
	}
}

// TestProposeEdgesRules: which edge NodeContact proposes to a provider, if
// any (PROTOCOL.md 7.2): the wanted types are our interests among what it
// provides; an edge to us with the same set (any order, any status) is
// enough; one with another set is proposed anew; a PARTIAL node proposes
// POLL; a 1.0 provider gets the 1.0 edge RID and the five fields only.
func TestProposeEdgesRules(t *testing.T) {
	const legacy = "orn:koi-net.node:old+240e0296-ebf1-4c08-99bf-33543c5554d6"
	tests := []struct {
		name      string
		provides  []string
		legacy    bool
		existing  []string // types of an edge provider→us, nil for none
		kc        KOIConfig
		selfURL   string
		wantTypes []string // nil: no proposal
		wantEdge  projections.EdgeType
	}{
		{"wanted types, in the provider's order", []string{"orn:b", "orn:koi-net.node", "orn:a"}, false, nil,
			KOIConfig{RidTypesOfInterest: []string{"orn:a", "orn:b"}}, "http://127.0.0.1:9/koi-net", []string{"orn:b", "orn:a"}, projections.EdgeWebhook},
		{"nothing wanted", []string{"orn:c"}, false, nil,
			KOIConfig{RidTypesOfInterest: []string{"orn:a"}}, "http://127.0.0.1:9/koi-net", nil, ""},
		{"no interests at all", []string{"orn:a"}, false, nil,
			KOIConfig{RidTypesOfInterest: []string{}}, "http://127.0.0.1:9/koi-net", nil, ""},
		{"all types", []string{"orn:c", "orn:koi-net.node"}, false, nil,
			KOIConfig{AllRidTypes: true}, "http://127.0.0.1:9/koi-net", []string{"orn:c", "orn:koi-net.node"}, projections.EdgeWebhook},
		{"same set exists, other order", []string{"orn:a", "orn:b"}, false, []string{"orn:b", "orn:a"},
			KOIConfig{RidTypesOfInterest: []string{"orn:a", "orn:b"}}, "http://127.0.0.1:9/koi-net", nil, ""},
		{"other set exists: proposed anew", []string{"orn:a", "orn:b"}, false, []string{"orn:a"},
			KOIConfig{RidTypesOfInterest: []string{"orn:a", "orn:b"}}, "http://127.0.0.1:9/koi-net", []string{"orn:a", "orn:b"}, projections.EdgeWebhook},
		{"we are PARTIAL: POLL", []string{"orn:a"}, false, nil,
			KOIConfig{NodeType: NodeTypePartial, RidTypesOfInterest: []string{"orn:a"}}, "", []string{"orn:a"}, projections.EdgePoll},
		{"1.0 provider", []string{"orn:a"}, true, nil,
			KOIConfig{RidTypesOfInterest: []string{"orn:a"}}, "http://127.0.0.1:9/koi-net", []string{"orn:a"}, projections.EdgeWebhook},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self := newIdent(t, "me", tt.selfURL)
			// The provider's URL refuses connections: the catch-up fails
			// and is logged, which is not what this test looks at.
			prov := newIdent(t, "prov", "http://127.0.0.1:1/koi-net", tt.provides...)
			w := newWorld(t)
			if tt.legacy {
				prov.rid = legacy
				prov.contents = []byte(`{"base_url":"http://127.0.0.1:1/koi-net","node_type":"FULL","provides":{"event":["orn:a"],"state":[]}}`)
			}
			w.apply(newEvent(t, koi.EventNew, prov.rid, prov.contents))
			if tt.existing != nil {
				w.addEdge(prov.rid, self.rid, projections.EdgeWebhook, projections.EdgeApproved, tt.existing...)
			}
			rec := &recorder{}
			n := newNetwork(t, self, w, rec, tt.kc)
			ctx, cancel := context.WithCancel(context.Background())
			if err := n.proposeEdges(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			n.bg.Wait()
			ins := rec.inputs(t)
			if tt.wantTypes == nil {
				if len(ins) != 0 {
					t.Errorf("proposals = %d, want none", len(ins))
				}
				return
			}
			if len(ins) != 1 {
				t.Fatalf("proposals = %d, want 1", len(ins))
			}
			ev := localEvents(t, ins[0])[0]
			wantRID := koi.EdgeRID(prov.rid, self.rid)
			if tt.legacy {
				wantRID = koi.LegacyEdgeRID(prov.rid, self.rid)
			}
			want := string(edgeContents(!tt.legacy, prov.rid, self.rid, tt.wantEdge, projections.EdgeProposed, tt.wantTypes))
			if ev.RID != wantRID || string(ev.Contents) != want {
				t.Errorf("proposal %s %s\nwant %s %s", ev.RID, ev.Contents, wantRID, want)
			}
			if tt.legacy == bytes.Contains(ev.Contents, []byte("@context")) {
				t.Errorf("@context in the proposal: %v, want %v", !tt.legacy, !tt.legacy)
			}
		})
	}
}

// TestForgetOrphanEdges: an edge of ours whose other end has been missing
// from the graph for OrphanGrace is forgotten, once; one whose node is back
// within the grace (a handshake's FORGET and NEW) is kept.
func TestForgetOrphanEdges(t *testing.T) {
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net", "orn:github.event")
	gone := newIdent(t, "gone", "http://127.0.0.1:10/koi-net")
	back := newIdent(t, "back", "http://127.0.0.1:11/koi-net")
	w := newWorld(t)
	w.addNode(self)
	w.addNode(back) // "gone" was never (or no longer) known
	goneEdge, _ := w.addEdge(self.rid, gone.rid, projections.EdgeWebhook, projections.EdgeApproved, "orn:github.event")
	backEdge, _ := w.addEdge(back.rid, self.rid, projections.EdgeWebhook, projections.EdgeApproved, "orn:koi-net.node")
	w.apply([]byte(`{"rid":"` + back.rid + `","event_type":"FORGET"}`)) // a handshake's first half
	rec := &recorder{}
	n := newNetwork(t, self, w, rec, KOIConfig{})
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	n.cfg.Now = func() time.Time { return now }
	forgotten := func() []string {
		var out []string
		for _, in := range rec.inputs(t) {
			for _, ev := range localEvents(t, in) {
				if ev.EventType == koi.EventForget {
					out = append(out, ev.RID)
				}
			}
		}
		return out
	}
	for _, step := range []struct {
		name    string
		advance time.Duration
		backNow bool
		want    []string
	}{
		{"first sight starts the grace", 0, false, nil},
		{"within the grace", OrphanGrace / 2, true, nil},
		{"after the grace", OrphanGrace, false, []string{goneEdge}},
		{"not again at once", time.Second, false, []string{goneEdge}},
	} {
		t.Run(step.name, func(t *testing.T) {
			now = now.Add(step.advance)
			if step.backNow {
				w.addNode(back) // the handshake's second half
			}
			if err := n.forgetOrphanEdges(); err != nil {
				t.Fatal(err)
			}
			if got := forgotten(); !slices.Equal(got, step.want) {
				t.Errorf("forgotten %v, want %v (kept: %s)", got, step.want, backEdge)
			}
		})
	}
}
