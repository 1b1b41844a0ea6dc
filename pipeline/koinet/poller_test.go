package koinet

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
	rawkoi "github.com/koistream/koistream/topics/koinet"
)

// page returns an events_payload of NEW events of the given RIDs.
func page(t *testing.T, rids ...string) []byte {
	t.Helper()
	var evs [][]byte
	for _, rid := range rids {
		evs = append(evs, newEvent(t, koi.EventNew, rid, []byte(`{"rid":"`+rid+`"}`)))
	}
	return appendEvents(nil, true, evs)
}

// TestPollerKeepsBeforePollingAgain: each non-empty answer is one record
// (via poll, from the peer, the body as received), appended before the
// peer is polled again, since the next poll acknowledges the previous
// page; an answer that could not be kept is kept first at the next round,
// before any poll.
func TestPollerKeepsBeforePollingAgain(t *testing.T) {
	full := newPeer(t, "full", "orn:github.event")
	self := newIdent(t, "me", "")
	full.world.addNode(self)
	pages := [][]byte{page(t, "orn:github.event:o/r:1", "orn:github.event:o/r:2"), page(t, "orn:github.event:o/r:3"), page(t, "orn:github.event:o/r:4")}
	full.pages = slices.Clone(pages)
	rec := &recorder{}
	var mu sync.Mutex
	var keptAtPoll []int
	full.onPoll = func() {
		mu.Lock()
		keptAtPoll = append(keptAtPoll, rec.len())
		mu.Unlock()
	}

	w := newWorld(t)
	w.addNode(self)
	w.addNode(full.ident)
	w.addEdge(full.rid, self.rid, projections.EdgePoll, projections.EdgeApproved, "orn:github.event")
	n := newNetwork(t, self, w, rec, KOIConfig{NodeType: NodeTypePartial, FirstContactRID: "orn:koi-net.node:unused+00", FirstContactURL: "http://127.0.0.1:9/koi-net"})
	targets := n.pollTargets()
	if len(targets) != 1 || targets[0].RID != full.rid || targets[0].URL != full.url {
		t.Fatalf("poll targets = %v, want the FULL neighbour", targets)
	}
	ctx := context.Background()

	// Round 1: the first page cannot be kept, so the round ends without
	// polling again (which would acknowledge it).
	rec.setFailing(true)
	n.drain(ctx, targets[0])
	rec.setFailing(false)
	// Round 2: the held page is kept first, then every page is kept before
	// the next poll.
	n.drain(ctx, targets[0])

	mu.Lock()
	got := slices.Clone(keptAtPoll)
	mu.Unlock()
	if want := []int{0, 1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("records kept at each poll = %v, want %v", got, want)
	}
	ins := rec.inputs(t)
	if len(ins) != 3 {
		t.Fatalf("records = %d, want 3 pages", len(ins))
	}
	for i, in := range ins {
		if in.Via != rawkoi.ViaPoll || in.Sender != full.rid {
			t.Errorf("record %d: via %s sender %s", i, in.Via, in.Sender)
		}
		env, err := koi.ParseEnvelope(in.Body)
		if err != nil {
			t.Fatalf("record %d is not the answer as received: %v", i, err)
		}
		if string(env.Payload) != string(pages[i]) {
			t.Errorf("record %d payload = %s, want page %d", i, env.Payload, i)
		}
	}
}

// TestPollTargets: FULL neighbours by edges either way, PARTIAL ones and
// strangers left out, the first contact when there are none.
func TestPollTargets(t *testing.T) {
	self := newIdent(t, "me", "")
	a := newIdent(t, "a", "http://127.0.0.1:10/koi-net")
	b := newIdent(t, "b", "http://127.0.0.1:11/koi-net")
	part := newIdent(t, "p", "")
	stranger := newIdent(t, "s", "http://127.0.0.1:12/koi-net")
	fcRID := "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
	tests := []struct {
		name  string
		setup func(w *world)
		want  []string
	}{
		{"no neighbours: the first contact", func(w *world) { w.addNode(stranger) }, []string{fcRID}},
		{"neighbours both ways", func(w *world) {
			for _, id := range []ident{a, b, part, stranger} {
				w.addNode(id)
			}
			w.addEdge(a.rid, self.rid, projections.EdgePoll, projections.EdgeApproved, "x")
			w.addEdge(self.rid, b.rid, projections.EdgePoll, projections.EdgeProposed, "x")
			w.addEdge(part.rid, self.rid, projections.EdgePoll, projections.EdgeApproved, "x")
		}, []string{a.rid, b.rid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.setup(w)
			n := newNetwork(t, self, w, &recorder{}, KOIConfig{NodeType: NodeTypePartial, FirstContactRID: fcRID, FirstContactURL: "http://127.0.0.1:9/koi-net"})
			var got []string
			for _, p := range n.pollTargets() {
				got = append(got, p.RID)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("targets = %v, want %v", got, want)
			}
		})
	}
}
