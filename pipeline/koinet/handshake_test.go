package koinet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
)

// The RIDs of KOI-2.1.md section 2: S is the vector key's node, C the
// coordinator.
const (
	vectorS = "orn:koi-net.node:github-sensor+659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2"
	vectorC = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
)

// vectorIdent is the node S of KOI-2.1.md 2.1 (vectors.txt's key, scalar
// 0x1f…1f) with its 2.1 profile, stamped as in 2.4.
func vectorIdent(t *testing.T) ident {
	t.Helper()
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{0x1f}, 32))
	if err != nil {
		t.Fatal(err)
	}
	id := identFor(t, k, "github-sensor", "http://127.0.0.1:8091/koi-net", "orn:github.issue")
	if id.rid != vectorS {
		t.Fatalf("vector RID = %s, want %s", id.rid, vectorS)
	}
	id.bundle, err = koi.NewBundle(id.rid, id.contents, time.Date(2026, 8, 6, 12, 0, 0, 123456000, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if id.bundle.Manifest.SHA256Hash != "2b32ffd2c9ed4ba53517798fb356870a7c01617fb37a853eba4c2dba08c15fbb" {
		t.Fatalf("profile hash = %s, want KOI-2.1.md 2.1's", id.bundle.Manifest.SHA256Hash)
	}
	return id
}

// TestHandshakeBytes: the handshake with the first contact is one POST of
// exactly KOI-2.1.md 2.4's message (testdata/handshake-2.1.json, copied
// from there), signed so that the reference's check passes without knowing
// us (the handshake case); a 1.0 first contact gets the same events bare.
func TestHandshakeBytes(t *testing.T) {
	tmpl, err := os.ReadFile("testdata/handshake-2.1.json")
	if err != nil {
		t.Fatal(err)
	}
	message := strings.NewReplacer("<S>", vectorS, "<C>", vectorC).Replace(strings.TrimSpace(string(tmpl)))
	env, err := koi.ParseEnvelope([]byte(message[:len(message)-1] + `,"signature":"` + strings.Repeat("A", 86) + `=="}`))
	if err != nil {
		t.Fatal(err)
	}
	bare := `{"events":` + strings.TrimPrefix(string(env.Payload), `{"type":"events_payload","events":`)

	tests := []struct {
		name     string
		fcRID    string
		wantBare bool
	}{
		{"2.x", vectorC, false},
		{"1.0 bare URL", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self := vectorIdent(t)
			fc := newPeer(t, "coordinator")
			fc.setOverride(func() (int, []byte) { return 200, []byte("null") })
			n := newNetwork(t, self, newWorld(t), &recorder{}, KOIConfig{FirstContactRID: tt.fcRID, FirstContactURL: fc.url})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n.handshakeLoop(ctx)
			reqs := fc.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			r := reqs[0]
			if r.path != PathBroadcast || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("path %q, Content-Type %q", r.path, r.header.Get("Content-Type"))
			}
			if tt.wantBare {
				if string(r.body) != bare {
					t.Errorf("body =\n%s\nwant\n%s", r.body, bare)
				}
				return
			}
			if got := string(r.env.Message()); got != message {
				t.Errorf("signed message =\n%s\nwant\n%s", got, message)
			}
			if err := r.env.Verify(self.pub); err != nil {
				t.Errorf("signature: %v", err)
			}
			// The reference's check of a sender it does not know: the
			// handshake's own profile carries the key.
			if err := koi.ValidateEnvelope(r.env, vectorC, nil); err != nil {
				t.Errorf("the reference's check refuses it: %v", err)
			}
			if want := message[:len(message)-1] + `,"signature":"` + r.env.Signature + `"}`; string(r.body) != want {
				t.Errorf("body is not the message with the signature as its fourth member:\n%s", r.body)
			}
		})
	}
}

// TestHandshakeOnlyWhenNeeded: no handshake when we hold the first
// contact's profile and an edge from it carrying node events; otherwise
// one.
func TestHandshakeOnlyWhenNeeded(t *testing.T) {
	tests := []struct {
		name     string
		node     bool
		edge     []string
		wantReqs int
	}{
		{"known with a node edge", true, []string{koi.TypeKoiNetNode, koi.TypeKoiNetEdge}, 0},
		{"known without an edge", true, nil, 1},
		{"known, edge without node events", true, []string{koi.TypeKoiNetEdge}, 1},
		{"edge but profile unknown", false, []string{koi.TypeKoiNetNode}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self := newIdent(t, "me", "http://127.0.0.1:9/koi-net", "orn:github.event")
			fc := newPeer(t, "coordinator", koi.TypeKoiNetNode, koi.TypeKoiNetEdge)
			w := newWorld(t)
			if tt.node {
				w.addNode(fc.ident)
			}
			if tt.edge != nil {
				w.addEdge(fc.rid, self.rid, projections.EdgeWebhook, projections.EdgeApproved, tt.edge...)
			}
			n := newNetwork(t, self, w, &recorder{}, KOIConfig{FirstContactRID: fc.rid, FirstContactURL: fc.url})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n.handshakeLoop(ctx)
			if got := len(fc.requests()); got != tt.wantReqs {
				t.Errorf("requests = %d, want %d", got, tt.wantReqs)
			}
			if tt.wantReqs == 1 {
				if err := fc.requests()[0].err; err != nil {
					t.Errorf("handshake refused: %v", err)
				}
			}
		})
	}
}

// TestHandshakeRetriesWhileDown: a first contact that refuses is asked
// again, with backoff, until it takes the handshake.
func TestHandshakeRetriesWhileDown(t *testing.T) {
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net")
	fc := newPeer(t, "coordinator")
	var calls atomic.Int32
	fc.setOverride(func() (int, []byte) {
		if calls.Add(1) <= 2 {
			return http.StatusServiceUnavailable, []byte(`{"detail":"starting"}`)
		}
		return 200, []byte("null")
	})
	n := newNetwork(t, self, newWorld(t), &recorder{}, KOIConfig{FirstContactRID: fc.rid, FirstContactURL: fc.url})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n.handshakeLoop(ctx)
	if ctx.Err() != nil {
		t.Fatal("the handshake loop gave up before the first contact took it")
	}
	if got := len(fc.requests()); got != 3 {
		t.Errorf("requests = %d, want 3 (two refused, one taken)", got)
	}
}
