package koinet

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/koi"
	rawkoi "github.com/koistream/koistream/topics/koinet"
)

// TestResolve resolves senders we do not know from providers of node
// state (KOI-2.1.md 1a): a profile whose key hashes to its RID is accepted
// and kept in our log as a fetch from the provider; a mismatching key, an
// unknown node and a provider that is down or hangs are refused.
func TestResolve(t *testing.T) {
	stranger := newIdent(t, "stranger", "http://127.0.0.1:9/koi-net", "orn:github.event")
	// A profile that claims a RID of another key.
	other := newIdent(t, "liar", "http://127.0.0.1:9/koi-net")
	liarRID := other.rid
	liarContents := profileContents("http://127.0.0.1:9/koi-net", stranger.pub)

	tests := []struct {
		name string
		// setup returns the network's first contact (nil: none) and fills
		// our world and the provider's.
		setup   func(t *testing.T, self ident, ours *world, prov *peer) *peer
		rid     string
		wantOK  bool
		wantPub string
		wantReq bool // a fetch reaches the provider
	}{
		{"first contact holds it", func(t *testing.T, self ident, ours *world, prov *peer) *peer {
			prov.world.addNode(stranger)
			return prov // it does not know us yet: unknown_node, handshake, retry
		}, stranger.rid, true, stranger.pub, true},
		{"graph provider holds it", func(t *testing.T, self ident, ours *world, prov *peer) *peer {
			prov.world.addNode(stranger)
			prov.world.addNode(self)
			ours.addNode(prov.ident)
			return nil
		}, stranger.rid, true, stranger.pub, true},
		{"cached", func(t *testing.T, self ident, ours *world, prov *peer) *peer {
			ours.addNode(stranger)
			return prov
		}, stranger.rid, true, stranger.pub, false},
		{"key does not hash to the RID", func(t *testing.T, self ident, ours *world, prov *peer) *peer {
			prov.world.apply(newEvent(t, koi.EventNew, liarRID, liarContents))
			prov.world.addNode(self)
			return prov
		}, liarRID, false, "", true},
		{"unknown to the provider", func(t *testing.T, self ident, ours *world, prov *peer) *peer {
			prov.world.addNode(self)
			return prov
		}, stranger.rid, false, "", true},
		{"provider hangs", func(t *testing.T, self ident, ours *world, prov *peer) *peer {
			hanging := make(chan struct{})
			t.Cleanup(func() { close(hanging) }) // before the server closes
			prov.setOverride(func() (int, []byte) { <-hanging; return 200, nil })
			return prov
		}, stranger.rid, false, "", true},
		{"provider down", func(t *testing.T, self ident, ours *world, prov *peer) *peer {
			prov.Close()
			return prov
		}, stranger.rid, false, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self := newIdent(t, "me", "http://127.0.0.1:9/koi-net")
			ours := newWorld(t)
			prov := newPeer(t, "coordinator", koi.TypeKoiNetNode)
			fc := tt.setup(t, self, ours, prov)
			kc := KOIConfig{}
			if fc != nil {
				kc.FirstContactRID, kc.FirstContactURL = fc.rid, fc.url
			}
			rec := &recorder{topic: "koistream.raw"}
			n, err := New(Config{
				Self: self.self(), Cache: ours.cache, Graph: ours.graph, Publisher: rec, RawTopic: "koistream.raw",
				KOI: kc, Logger: slog.New(slog.DiscardHandler), ResolveTimeout: 500 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			// No deadline of our own: the resolver's bound must end it.
			pub, ok := n.Resolve(context.Background(), tt.rid)
			if ok != tt.wantOK || pub != tt.wantPub {
				t.Fatalf("Resolve = %.20q, %v; want %.20q, %v", pub, ok, tt.wantPub, tt.wantOK)
			}
			var fetches int
			for _, r := range prov.requests() {
				if r.path == PathBundles {
					fetches++
				}
			}
			if (fetches > 0) != tt.wantReq {
				t.Errorf("fetches at the provider = %d, want some: %v", fetches, tt.wantReq)
			}
			ins := rec.inputs(t)
			if !tt.wantOK || !tt.wantReq {
				if len(ins) != 0 {
					t.Errorf("records = %d, want none", len(ins))
				}
				return
			}
			if len(ins) != 1 {
				t.Fatalf("records = %d, want the fetched bundle", len(ins))
			}
			in := ins[0]
			if in.Via != rawkoi.ViaFetch || in.Sender != prov.rid || in.Receiver != self.rid {
				t.Errorf("record via %q sender %q receiver %q", in.Via, in.Sender, in.Receiver)
			}
			env, err := koi.ParseEnvelope(in.Body)
			if err != nil {
				t.Fatalf("record body is not the provider's answer: %v", err)
			}
			if !bytes.Contains(env.Payload, stranger.contents) {
				t.Errorf("record payload lacks the profile: %s", env.Payload)
			}
			// Resolved once: known until the cache has it, without asking
			// again.
			before := len(prov.requests())
			if pub, ok := n.Resolve(context.Background(), tt.rid); !ok || pub != tt.wantPub {
				t.Errorf("second Resolve = %v", ok)
			}
			if len(prov.requests()) != before {
				t.Error("a resolved node was fetched again")
			}
		})
	}
}

// TestResolveRemembersFailure: a node that could not be resolved is not
// asked about again at once.
func TestResolveRemembersFailure(t *testing.T) {
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net")
	prov := newPeer(t, "coordinator", koi.TypeKoiNetNode)
	prov.world.addNode(self)
	stranger := newIdent(t, "stranger", "http://127.0.0.1:9/koi-net")
	n := newNetwork(t, self, newWorld(t), &recorder{}, KOIConfig{FirstContactRID: prov.rid, FirstContactURL: prov.url})
	for i := range 3 {
		if _, ok := n.Resolve(context.Background(), stranger.rid); ok {
			t.Fatalf("resolve %d succeeded", i)
		}
	}
	if got := len(prov.requests()); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
	// A 1.0 RID has no key to resolve: nobody is asked.
	if _, ok := n.Resolve(context.Background(), "orn:koi-net.node:old+240e0296-ebf1-4c08-99bf-33543c5554d6"); ok {
		t.Error("a 1.0 RID resolved")
	}
	if got := len(prov.requests()); got != 1 {
		t.Errorf("requests after a 1.0 RID = %d, want 1", got)
	}
}
