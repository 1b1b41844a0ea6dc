package koinet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/stages/koinet"
	"github.com/koistream/koistream/topics/koi"
	wire "github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

// Node RIDs of the wire captures the testdata bodies come from.
const (
	gosensor    = "orn:koi-net.node:gosensor+ef322962b76773e3f75c5feb6dfedaee009dfaa279ecb2802d3208cf7c0f4d97"
	coordinator = "orn:koi-net.node:coordinator+501dfd6f060936b26b1abeb38888744479578048ddd336a677ae84de197db0c8"
	processor   = "orn:koi-net.node:processor+a18c5fbb0c6341b5157365b7d386945aac23398cd9d43f863c228232a07a89a9"
	coord2      = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
	gosim       = "orn:koi-net.node:gosim+dc4a44a0095d16ce5d86dab149b44677c0cb1847cdab15618b1f3e4976c46988"
	gopartial   = "orn:koi-net.node:gopartial+471f91578b8e8a138ac296cc69669c4c77be9f27e39b2320d2f96ad478a968c6"
	local       = "orn:koi-net.node:me+0000000000000000000000000000000000000000000000000000000000000000"
)

var at = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// record returns in as the raw record the normalize stage hands the parser.
func record(tb testing.TB, in wire.Input) raw.Record {
	tb.Helper()
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = at
	}
	msg, err := wire.NewMessage(in)
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := raw.Parse(msg)
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

// contentsAt returns the contents of the i-th event (or bundle) of body as
// encoding/json's RawMessage keeps them: the bytes received.
func contentsAt(tb testing.TB, body []byte, i int) []byte {
	tb.Helper()
	var env struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		tb.Fatal(err)
	}
	p := body
	if env.Payload != nil {
		p = env.Payload
	}
	var w struct {
		Events  []struct{ Contents json.RawMessage } `json:"events"`
		Bundles []struct{ Contents json.RawMessage } `json:"bundles"`
	}
	if err := json.Unmarshal(p, &w); err != nil {
		tb.Fatal(err)
	}
	if w.Bundles != nil {
		return w.Bundles[i].Contents
	}
	return w.Events[i].Contents
}

// want is one expected observation: its RID, op, routing stem, and the
// index of the event whose contents it carries (-1 for a forget).
type want struct {
	rid     string
	op      observed.Op
	routing string
	from    int
}

func TestParse(t *testing.T) {
	t.Parallel()
	const (
		edgeA   = "orn:koi-net.edge:a62ae1b22ba5d48dcd424df3825e85250363679bdcd8b1092eaddd86d7e3e49a"
		edgeP   = "orn:koi-net.edge:3cfca186f04c9dcbefb4e2de1df505e6865b98f18926eb739c383f12d5481dd9"
		edgeU   = "orn:koi-net.edge:14d1a69ea452096cfb2df279589ea2e21e72f086a0146d2b54a7553eb10bd211"
		edgePl  = "orn:koi-net.edge:9134c8bd0d67d56e81add4c9b567089c8b14ebcc53001ff02ceae136aaf81d2e"
		ghEvent = "orn:github.event:octo/hello:12345"
	)
	tests := []struct {
		name               string
		file               string
		body               string // when no file
		sender, receiver   string
		via                string
		targets            []string
		want               []want
		wantPeer, wantTgts bool
	}{
		{
			name: "handshake: FORGET and NEW of the sender's profile", file: "handshake_gosensor.json",
			sender: gosensor, receiver: coordinator, via: wire.ViaBroadcast,
			want: []want{{gosensor, observed.OpForget, "ent.koi-net.node", -1}, {gosensor, observed.OpUpsert, "ent.koi-net.node", 1}},
		},
		{
			name: "coordinator's answer: its profile and an edge proposal", file: "coordinator_profile_edge_proposal.json",
			sender: coordinator, receiver: gosensor, via: wire.ViaBroadcast,
			want: []want{{coordinator, observed.OpUpsert, "ent.koi-net.node", 0}, {edgeA, observed.OpUpsert, "ent.koi-net.edge", 1}},
		},
		{
			name: "handshake with an edge proposal", file: "processor_handshake_edge_proposal.json",
			sender: processor, receiver: gosensor, via: wire.ViaBroadcast,
			want: []want{
				{processor, observed.OpForget, "ent.koi-net.node", -1},
				{processor, observed.OpUpsert, "ent.koi-net.node", 1},
				{edgeP, observed.OpUpsert, "ent.koi-net.edge", 2},
			},
		},
		{
			name: "GitHub events: the one without contents is left to the fetch", file: "github_events_one_without_contents.json",
			sender: gosensor, receiver: processor, via: wire.ViaBroadcast,
			want: []want{{ghEvent, observed.OpUpsert, "evt.issues", 0}},
		},
		{
			name: "edge approval", file: "edge_approved_update.json",
			sender: coord2, receiver: gosim, via: wire.ViaBroadcast,
			want: []want{{edgeU, observed.OpUpsert, "ent.koi-net.edge", 0}},
		},
		{
			name: "poll answer", file: "poll_answer_edge.json",
			sender: coord2, receiver: gopartial, via: wire.ViaPoll,
			want: []want{{edgePl, observed.OpUpsert, "ent.koi-net.edge", 0}},
		},
		{
			name: "fetch answer: each bundle an upsert", file: "fetch_answer_bundles.json",
			sender: coord2, receiver: gopartial, via: wire.ViaFetch,
			want: []want{{ghEvent, observed.OpUpsert, "evt.issues", 0}},
		},
		{
			name: "1.0 bare payload with null manifest and contents", file: "bare_1_0.json",
			receiver: local, via: wire.ViaBroadcast,
			want: []want{{"orn:github.issue:octo/hello:7", observed.OpUpsert, "ent.issue", 0}, {"orn:github.repo:octo/hello", observed.OpForget, "ent.repo", -1}},
		},
		{
			name: "others do not tell me who I am", file: "handshake_gosensor.json",
			sender: coordinator, receiver: gosensor, via: wire.ViaBroadcast,
			want: nil,
		},
		{
			name: "my own knowledge about me is kept", file: "",
			body:     `{"type":"events_payload","events":[{"rid":"` + local + `","event_type":"NEW","manifest":{"rid":"` + local + `","timestamp":"2026-11-28T12:00:00Z","sha256_hash":"00"},"contents":{"node_type":"FULL","base_url":null}}]}`,
			receiver: local, via: wire.ViaLocal, targets: []string{gosensor, processor},
			want: []want{{local, observed.OpUpsert, "ent.koi-net.node", 0}},
		},
		{
			name:     "{} contents are a request to fetch, whitespace or not",
			body:     `{"events":[{"rid":"orn:x.y:1","event_type":"NEW","contents":{}},{"rid":"orn:x.y:2","event_type":"UPDATE","contents":{ ` + "\n" + ` }},{"rid":"orn:x.y:3","event_type":"UPDATE","contents":{"a":{}}}]}`,
			receiver: local, via: wire.ViaBroadcast,
			want: []want{{"orn:x.y:3", observed.OpUpsert, "ent.x.y", 2}},
		},
		{
			name:     "routing of other RID types",
			body:     `{"events":[{"rid":"https://example.com/a b","event_type":"NEW","contents":{"k":1}},{"rid":"orn:slack.message:T/C/1","event_type":"FORGET"},{"rid":"orn:github.event:o/r:9","event_type":"NEW","contents":{"webhook_event_type":"Not Valid"}},{"rid":"orn:github.event:o/r:10","event_type":"NEW","contents":{"webhook_event_type":7}},{"rid":"orn:naïve.x:1","event_type":"FORGET"}]}`,
			receiver: local, via: wire.ViaBroadcast,
			want: []want{
				{"https://example.com/a b", observed.OpUpsert, "ent.https", 0},
				{"orn:slack.message:T/C/1", observed.OpForget, "ent.slack.message", -1},
				{"orn:github.event:o/r:9", observed.OpUpsert, "evt.unknown", 2},
				{"orn:github.event:o/r:10", observed.OpUpsert, "evt.unknown", 3},
				{"orn:naïve.x:1", observed.OpForget, "ent.na__ve.x", -1},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tc.body)
			if tc.file != "" {
				body = readTestdata(t, tc.file)
			}
			rec := record(t, wire.Input{Sender: tc.sender, Receiver: tc.receiver, Via: tc.via, Targets: tc.targets, Body: body})
			got, err := koinet.Parse(context.Background(), rec)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d observations, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				o := got[i]
				if o.RID != w.rid || o.Op != w.op || o.Routing != w.routing {
					t.Errorf("observation %d = %s %s %s, want %s %s %s", i, o.RID, o.Op, o.Routing, w.rid, w.op, w.routing)
				}
				var wantContents []byte
				if w.from >= 0 {
					wantContents = contentsAt(t, body, w.from)
				}
				if !bytes.Equal(o.Contents, wantContents) {
					t.Errorf("observation %d contents\n got %s\nwant %s", i, o.Contents, wantContents)
				}
				wantPeer := tc.sender
				if wantPeer == "" && tc.via != wire.ViaLocal {
					wantPeer = koinet.AnonymousPeer // someone else's, not ours
				}
				if o.Peer != wantPeer {
					t.Errorf("observation %d peer %q, want %q", i, o.Peer, wantPeer)
				}
				if !reflect.DeepEqual(o.Targets, tc.targets) {
					t.Errorf("observation %d targets %q, want %q", i, o.Targets, tc.targets)
				}
				if o.Immutable {
					t.Errorf("observation %d is immutable: a peer's re-sent event would be NEW again", i)
				}
			}
		})
	}
}

// TestParseVerbatim: contents reach the observation byte for byte: key
// order, whitespace, escapes, nulls, non-ASCII and floats as received.
func TestParseVerbatim(t *testing.T) {
	t.Parallel()
	contents := `{"z":1,  "a" : null,"u":"\u00e9 é \u2028 😀 <>&","f":1.0E2,"n":[{}, [] ],"@context":"orn:koi-net.context:x"}`
	body := []byte(`{"type":"events_payload","events":[{"rid":"orn:a.b:c","event_type":"UPDATE","manifest":null,"contents":` + contents + `}]}`)
	got, err := koinet.Parse(context.Background(), record(t, wire.Input{Receiver: local, Via: wire.ViaBroadcast, Body: body}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].Contents) != contents {
		t.Fatalf("got %+v, want one upsert of %s", got, contents)
	}
}

// TestParseRefuses: a malformed record is an error for the whole record
// that says what is wrong, and wraps ErrMalformed (or koinet.ErrInvalid
// for a record that is not a koi-net record at all).
func TestParseRefuses(t *testing.T) {
	t.Parallel()
	ev := func(s string) string { return `{"type":"events_payload","events":[` + s + `]}` }
	good := `{"rid":"orn:a.b:1","event_type":"NEW","contents":{"k":1}}`
	tests := []struct {
		name, body, via, say string
	}{
		{"not JSON", `{"events":[`, wire.ViaBroadcast, ""},
		{"not UTF-8", "{\"events\":[{\"rid\":\"orn:a.b:\xff\",\"event_type\":\"FORGET\"}]}", wire.ViaBroadcast, "UTF-8"},
		{"invalid RID", ev(good + `,{"rid":"nocolon","event_type":"FORGET"}`), wire.ViaBroadcast, `events.1.rid "nocolon" is not an RID`},
		{"empty namespace", ev(`{"rid":"orn::x","event_type":"FORGET"}`), wire.ViaBroadcast, "events.0.rid"},
		{"manifest of another RID", ev(`{"rid":"orn:a.b:1","event_type":"NEW","manifest":{"rid":"orn:a.b:2","timestamp":"2026-01-01T00:00:00Z","sha256_hash":"00"},"contents":{"k":1}}`), wire.ViaBroadcast, `events.0.manifest.rid "orn:a.b:2" is not the event's rid "orn:a.b:1"`},
		{"manifest without rid", ev(`{"rid":"orn:a.b:1","event_type":"NEW","manifest":{},"contents":{"k":1}}`), wire.ViaBroadcast, "events.0.manifest.rid"},
		{"contents not an object", ev(`{"rid":"orn:a.b:1","event_type":"NEW","contents":[1]}`), wire.ViaBroadcast, "events.0.contents must be an object"},
		{"unknown event type", ev(`{"rid":"orn:a.b:1","event_type":"DELETE"}`), wire.ViaBroadcast, "event_type"},
		{"another payload", `{"type":"bundles_payload","bundles":[]}`, wire.ViaBroadcast, "events_payload"},
		{"events missing", `{"type":"events_payload"}`, wire.ViaBroadcast, "events"},
		{"bundles answer where events were expected", `{"type":"events_payload","events":[]}`, wire.ViaFetch, "bundles_payload"},
		{"bundle without contents", `{"type":"bundles_payload","bundles":[{"manifest":{"rid":"orn:a.b:1","timestamp":"2026-01-01T00:00:00Z","sha256_hash":"00"}}]}`, wire.ViaFetch, "bundles.0.contents is required"},
		{"bundle with a bad RID", `{"type":"bundles_payload","bundles":[{"manifest":{"rid":"x","timestamp":"2026-01-01T00:00:00Z","sha256_hash":"00"},"contents":{}}]}`, wire.ViaFetch, `bundles.0.manifest.rid "x"`},
		{"envelope without signature", `{"payload":` + ev(good) + `,"source_node":"` + gosensor + `","target_node":"` + local + `"}`, wire.ViaBroadcast, "signed envelope: signature missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := koinet.Parse(context.Background(), record(t, wire.Input{Receiver: local, Via: tc.via, Body: []byte(tc.body)}))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if !errors.Is(err, koinet.ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.say) {
				t.Errorf("error %q does not say %q", err, tc.say)
			}
		})
	}
	t.Run("not a koi-net record", func(t *testing.T) {
		rec := record(t, wire.Input{Receiver: local, Via: wire.ViaBroadcast, Body: []byte(`{"events":[]}`)})
		rec.Source = "github-webhook"
		if _, err := koinet.Parse(context.Background(), rec); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("Parse of a github-webhook record: %v, want koinet.ErrInvalid", err)
		}
	})
}

// TestRegistered: the normalize stage finds the parser under the koi-net
// source kind.
func TestRegistered(t *testing.T) {
	t.Parallel()
	p, ok := stages.BuiltinParsers().Lookup(wire.SourceKind)
	if !ok {
		t.Fatalf("no parser for %q", wire.SourceKind)
	}
	body := readTestdata(t, "handshake_gosensor.json")
	obs, err := p.Parse(context.Background(), record(t, wire.Input{Sender: gosensor, Receiver: coordinator, Via: wire.ViaBroadcast, Body: body}))
	if err != nil || len(obs) != 2 {
		t.Fatalf("registered parser: %d observations, %v", len(obs), err)
	}
}

// TestHasContents: only an object with members is contents to take.
func TestHasContents(t *testing.T) {
	t.Parallel()
	for contents, want := range map[string]bool{``: false, `null`: false, `{}`: false, `{ }`: false, "{\n}": false, `{"a":1}`: true, `{"":null}`: true} {
		if got := koinet.HasContents(koi.Event{RID: "orn:a.b:c", EventType: koi.EventNew, Contents: []byte(contents)}); got != want {
			t.Errorf("HasContents(%q) = %v, want %v", contents, got, want)
		}
	}
}

// TestParseDropsForgedProfiles: a node profile from a peer whose
// public_key is not the one its RID names is dropped (the reference's
// SecureProfileHandler), while a matching one, a 1.0 profile and our own
// local knowledge pass.
func TestParseDropsForgedProfiles(t *testing.T) {
	key, err := koi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := koi.PublicKeyString(&key.PublicKey)
	other, _ := koi.GenerateKey()
	otherPub, _ := koi.PublicKeyString(&other.PublicKey)
	rid, _ := koi.NodeRIDForKey("x", pub)
	const legacy = "orn:koi-net.node:legacy+9f90e37e-bc8f-417a-872b-cd6e8a38d46f"
	profile := func(pk string) string {
		return `{"base_url":"http://evil.example/koi-net","node_type":"FULL","provides":{"event":[],"state":[]},"public_key":"` + pk + `"}`
	}
	newEv := func(r, contents string) string {
		b, err := koi.NewBundle(r, []byte(contents), at)
		if err != nil {
			t.Fatal(err)
		}
		return string(koi.NewBundleEvent(koi.EventNew, b).AppendJSON(nil))
	}
	for _, tc := range []struct {
		name, event, via string
		want             int
	}{
		{"matching key", newEv(rid, profile(pub)), wire.ViaBroadcast, 1},
		{"another key", newEv(rid, profile(otherPub)), wire.ViaBroadcast, 0},
		{"no key", newEv(rid, `{"base_url":null,"node_type":"PARTIAL","provides":{"event":[],"state":[]}}`), wire.ViaPoll, 0},
		{"a 1.0 node", newEv(legacy, `{"base_url":null,"node_type":"PARTIAL","provides":{"event":[],"state":[]}}`), wire.ViaBroadcast, 1},
		{"local knowledge", newEv(rid, profile(otherPub)), wire.ViaLocal, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sender := gosim
			if tc.via == wire.ViaLocal {
				sender = ""
			}
			rec := record(t, wire.Input{Sender: sender, Receiver: local, Via: tc.via, Body: []byte(`{"type":"events_payload","events":[` + tc.event + `]}`)})
			got, err := koinet.Parse(context.Background(), rec)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Errorf("%d observations, want %d", len(got), tc.want)
			}
		})
	}
}
