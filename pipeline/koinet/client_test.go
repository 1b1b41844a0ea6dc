package koinet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

// TestClientSigned sends each request to a peer that knows us and checks
// it as a reference node would (koi.ValidateEnvelope over the bytes
// received), with the payload the reference expects, and the answer read.
func TestClientSigned(t *testing.T) {
	p := newPeer(t, "provider", "orn:github.issue")
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net")
	p.world.addNode(self)                                                       // the peer knows us
	issue := []byte("{\"title\":\"héllo <&> \u2028\",\"n\":1.0,\"none\":null}") // pydantic-canonical, so verbatim through a signed answer
	p.world.apply(newEvent(t, koi.EventNew, "orn:github.issue:o/r:1", issue))
	c, err := NewClient(ClientConfig{Self: self.rid, Key: self.key, Lookup: p.lookup})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ev := newEvent(t, koi.EventNew, "orn:github.issue:o/r:2", []byte(`{"x":1.50,"s":"\u00e9"}`))

	tests := []struct {
		name        string
		call        func() error
		path        string
		wantPayload string
	}{
		{"broadcast", func() error { return c.Broadcast(ctx, p.asPeer(), [][]byte{ev}) }, PathBroadcast,
			// pydantic re-prints 1.50 as 1.5 and \u00e9 as é: a Python
			// receiver verifies over that form.
			`{"type":"events_payload","events":[` + string(bytes.Replace(bytes.Replace(ev, []byte(`1.50`), []byte(`1.5`), 1), []byte(`\u00e9`), []byte("é"), 1)) + `]}`},
		{"poll", func() error {
			_, evs, err := c.Poll(ctx, p.asPeer(), 3)
			if err == nil && len(evs) != 0 {
				t.Errorf("poll events = %d, want 0", len(evs))
			}
			return err
		}, PathPoll, `{"type":"poll_events","limit":3}`},
		{"rids", func() error {
			rids, err := c.FetchRids(ctx, p.asPeer(), []string{"orn:github.issue"})
			// Issue 2 arrived with the broadcast above.
			if err == nil && !slices.Equal(rids, []string{"orn:github.issue:o/r:1", "orn:github.issue:o/r:2"}) {
				t.Errorf("rids = %v", rids)
			}
			return err
		}, PathRids, `{"type":"fetch_rids","rid_types":["orn:github.issue"]}`},
		{"manifests", func() error {
			ms, nf, err := c.FetchManifests(ctx, p.asPeer(), nil, []string{"orn:github.issue:o/r:1", "orn:github.issue:o/r:9"})
			if err == nil && (len(ms) != 1 || !slices.Equal(nf, []string{"orn:github.issue:o/r:9"})) {
				t.Errorf("manifests = %s, not found %v", ms, nf)
			}
			return err
		}, PathManifests, `{"type":"fetch_manifests","rid_types":[],"rids":["orn:github.issue:o/r:1","orn:github.issue:o/r:9"]}`},
		{"bundles", func() error {
			body, bs, nf, err := c.FetchBundles(ctx, p.asPeer(), []string{"orn:github.issue:o/r:1"})
			if err != nil {
				return err
			}
			if len(bs) != 1 || !bytes.Contains(bs[0], issue) || len(nf) != 0 {
				t.Errorf("bundles = %q, not found %v; want the contents %q byte for byte", bs, nf, issue)
			}
			if _, err := koi.ParseEnvelope(body); err != nil {
				t.Errorf("body is not the envelope as received: %v", err)
			}
			return nil
		}, PathBundles, `{"type":"fetch_bundles","rids":["orn:github.issue:o/r:1"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(p.requests())
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			reqs := p.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			r := reqs[0]
			if r.path != tt.path {
				t.Errorf("path = %q, want %q", r.path, tt.path)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if r.env.Payload == nil {
				t.Fatalf("body is not a signed envelope: %s", r.body)
			}
			if r.err != nil {
				t.Errorf("the reference's check refuses it: %v", r.err)
			}
			if string(r.env.Payload) != tt.wantPayload {
				t.Errorf("payload =\n%s\nwant\n%s", r.env.Payload, tt.wantPayload)
			}
			if r.env.SourceNode != self.rid || r.env.TargetNode != p.rid {
				t.Errorf("source, target = %s, %s", r.env.SourceNode, r.env.TargetNode)
			}
		})
	}
}

// TestClientV1 speaks koi-net 1.0: bare payloads without "type", a poll
// naming us, and bare answers read.
func TestClientV1(t *testing.T) {
	p := newPeer(t, "old", "orn:github.event")
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net")
	c, err := NewClient(ClientConfig{Self: self.rid}) // no key: 1.0 needs none
	if err != nil {
		t.Fatal(err)
	}
	v1 := Peer{URL: p.url, V1: true}
	ctx := context.Background()
	ev := newEvent(t, koi.EventNew, "orn:github.event:o/r:1", []byte(`{"a":1}`))
	if err := c.Broadcast(ctx, v1, [][]byte{ev}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Poll(ctx, v1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchRids(ctx, v1, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"events":[` + string(ev) + `]}`,
		`{"rid":"` + self.rid + `","limit":0}`,
		`{"rid_types":[]}`,
	}
	reqs := p.requests()
	if len(reqs) != len(want) {
		t.Fatalf("requests = %d, want %d", len(reqs), len(want))
	}
	for i, r := range reqs {
		if string(r.body) != want[i] {
			t.Errorf("request %d (%s) =\n%s\nwant\n%s", i, r.path, r.body, want[i])
		}
		if r.env.Payload != nil {
			t.Errorf("request %d is enveloped", i)
		}
	}
}

// TestClientUnknownNodeHandshakes: a peer that does not know us answers
// unknown_node; the client handshakes and retries once, and the retry is
// answered.
func TestClientUnknownNodeHandshakes(t *testing.T) {
	p := newPeer(t, "provider", "orn:github.issue")
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net")
	ctx := context.Background()

	bare, err := NewClient(ClientConfig{Self: self.rid, Key: self.key})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bare.FetchRids(ctx, p.asPeer(), nil)
	var pe *PeerError
	if !errors.Is(err, ErrUnknownNode) || !errors.As(err, &pe) || pe.Status != http.StatusBadRequest || pe.Code != koi.ErrorUnknownNode {
		t.Fatalf("without a profile: err = %v, want a 400 unknown_node PeerError", err)
	}

	c, err := NewClient(ClientConfig{Self: self.rid, Key: self.key, Profile: &self.bundle})
	if err != nil {
		t.Fatal(err)
	}
	rids, err := c.FetchRids(ctx, p.asPeer(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rids, self.rid) {
		t.Errorf("rids = %v: the peer should know us after the handshake", rids)
	}
	if got, want := p.paths(), []string{PathRids, PathRids, PathBroadcast, PathRids}; !slices.Equal(got, want) {
		t.Errorf("paths = %v, want %v", got, want)
	}
}

// TestClientAnswerSignature: an answer signed by a node whose key we know
// must verify; one from a node we do not know is accepted unverified, as
// the reference accepts every answer.
func TestClientAnswerSignature(t *testing.T) {
	p := newPeer(t, "provider")
	self := newIdent(t, "me", "http://127.0.0.1:9/koi-net")
	p.world.addNode(self)
	other := newIdent(t, "other", "http://127.0.0.1:9/koi-net")
	ctx := context.Background()

	// The answer claims to come from p but is signed with another key.
	forged, err := koi.Seal(other.key, []byte(`{"type":"rids_payload","rids":[]}`), p.rid, self.rid)
	if err != nil {
		t.Fatal(err)
	}
	p.setOverride(func() (int, []byte) { return 200, forged })
	tests := []struct {
		name    string
		lookup  koi.KeyLookup
		wantErr bool
	}{
		{"known signer", func(rid string) (string, bool) { return p.pub, rid == p.rid }, true},
		{"unknown signer", func(string) (string, bool) { return "", false }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(ClientConfig{Self: self.rid, Key: self.key, Lookup: tt.lookup})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.FetchRids(ctx, p.asPeer(), nil)
			if tt.wantErr != (err != nil) || (err != nil && !errors.Is(err, ErrBadResponse)) {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// FuzzDecodeAnswers holds the decoding of peers' answers to encoding/json:
// what decodeEvents and decodeBundles accept, encoding/json accepts, and
// each item returned is, byte for byte, the JSON value encoding/json finds
// at its place.
func FuzzDecodeAnswers(f *testing.F) {
	for _, s := range []string{
		`{"type":"events_payload","events":[{"rid":"orn:a:1","event_type":"FORGET"}]}`,
		`{"events":[{"rid":"orn:a:1","event_type":"NEW","manifest":null,"contents":null}]}`,
		`{"type":"bundles_payload","bundles":[{"manifest":{"rid":"orn:a:1","timestamp":"2025-01-02T03:04:05Z","sha256_hash":"00"},"contents":{"x": 1.50}}],"not_found":["orn:a:2"],"deferred":[]}`,
		`{"type":"bundles_payload","bundles":[]}`, `{"type":"rids_payload","rids":[]}`, `null`, `{"events":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var ref struct {
			Events  []json.RawMessage `json:"events"`
			Bundles []json.RawMessage `json:"bundles"`
		}
		refErr := json.Unmarshal(in, &ref)
		if evs, err := decodeEvents(in); err == nil {
			if refErr != nil {
				t.Fatalf("events of %q accepted, encoding/json refuses: %v", in, refErr)
			}
			if len(evs) != len(ref.Events) {
				t.Fatalf("events of %q: %d, encoding/json finds %d", in, len(evs), len(ref.Events))
			}
			for i := range evs {
				if !bytes.Equal(evs[i], ref.Events[i]) || !json.Valid(evs[i]) {
					t.Fatalf("event %d of %q = %q, want %q", i, in, evs[i], ref.Events[i])
				}
			}
		}
		if bs, _, err := decodeBundles(in); err == nil {
			if refErr != nil {
				t.Fatalf("bundles of %q accepted, encoding/json refuses: %v", in, refErr)
			}
			if len(bs) != len(ref.Bundles) {
				t.Fatalf("bundles of %q: %d, encoding/json finds %d", in, len(bs), len(ref.Bundles))
			}
			for i := range bs {
				if !bytes.Equal(bs[i], ref.Bundles[i]) {
					t.Fatalf("bundle %d of %q = %q, want %q", i, in, bs[i], ref.Bundles[i])
				}
			}
		}
	})
}
