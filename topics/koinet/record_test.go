package koinet_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/raw"
)

const (
	me   = "orn:koi-net.node:me+5ee7a54a4b0e8e8dda2fdba2be1a4b2bd2d18e3f0d3e9f3f1e2a0d5c3b7f6a11"
	peer = "orn:koi-net.node:peer+0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
	edge = "orn:koi-net.edge:14d1a69ea452096cfb2df279589ea2e21e72f086a0146d2b54a7553eb10bd211"
)

var at = time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.UTC)

// parse takes msg apart as the koi-net parser does: raw.Parse, then
// koinet.Parse.
func parse(tb testing.TB, msg *message.Message) (koinet.Input, error) {
	tb.Helper()
	rec, err := raw.Parse(msg)
	if err != nil {
		tb.Fatalf("raw.Parse: %v", err)
	}
	return koinet.Parse(rec)
}

// TestNewMessageParse: every kind of input round-trips through its
// record, with the headers of the package documentation and the key
// rule: sender and body for a peer's input, a fresh UUID for local
// knowledge.
func TestNewMessageParse(t *testing.T) {
	t.Parallel()
	body := []byte(`{"payload":{"type":"events_payload","events":[]},"source_node":"x"}`)
	tests := []struct {
		name     string
		in       koinet.Input
		wantMeta map[string]string // koi-net headers; absent ones must be absent
	}{
		{
			name:     "signed broadcast",
			in:       koinet.Input{Sender: peer, Receiver: me, Via: koinet.ViaBroadcast, Body: body, ContentType: "application/json", UserAgent: "python-httpx/0.28.1", ReceivedAt: at},
			wantMeta: map[string]string{koinet.HeaderSender: peer, koinet.HeaderReceiver: me, koinet.HeaderVia: "broadcast"},
		},
		{
			name:     "1.0 broadcast: no sender, no content type",
			in:       koinet.Input{Receiver: me, Via: koinet.ViaBroadcast, Body: []byte(`{"events":[]}`), ReceivedAt: at},
			wantMeta: map[string]string{koinet.HeaderReceiver: me, koinet.HeaderVia: "broadcast"},
		},
		{
			name:     "poll answer",
			in:       koinet.Input{Sender: peer, Receiver: me, Via: koinet.ViaPoll, Body: body, ReceivedAt: at},
			wantMeta: map[string]string{koinet.HeaderSender: peer, koinet.HeaderReceiver: me, koinet.HeaderVia: "poll"},
		},
		{
			name:     "fetch answer",
			in:       koinet.Input{Sender: peer, Receiver: me, Via: koinet.ViaFetch, Body: body, ReceivedAt: at},
			wantMeta: map[string]string{koinet.HeaderSender: peer, koinet.HeaderReceiver: me, koinet.HeaderVia: "fetch"},
		},
		{
			name:     "local knowledge with targets",
			in:       koinet.Input{Receiver: me, Via: koinet.ViaLocal, Targets: []string{peer, edge}, Body: []byte(`{"type":"events_payload","events":[]}`), ReceivedAt: at},
			wantMeta: map[string]string{koinet.HeaderReceiver: me, koinet.HeaderVia: "local", koinet.HeaderTargets: peer + "," + edge},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg, err := koinet.NewMessage(tc.in)
			if err != nil {
				t.Fatalf("NewMessage: %v", err)
			}
			for _, k := range []string{koinet.HeaderSender, koinet.HeaderReceiver, koinet.HeaderVia, koinet.HeaderTargets} {
				got, has := msg.Metadata[k]
				want, should := tc.wantMeta[k]
				if got != want || has != should {
					t.Errorf("header %s = %q (present %v), want %q (present %v)", k, got, has, want, should)
				}
			}
			if got := msg.Metadata.Get(raw.HeaderSource); got != koinet.SourceKind {
				t.Errorf("source kind %q, want %q", got, koinet.SourceKind)
			}
			wantCT := tc.in.ContentType
			if wantCT == "" {
				wantCT = "application/json"
			}
			if got := msg.Metadata.Get(raw.HeaderContentType); got != wantCT {
				t.Errorf("content type %q, want %q", got, wantCT)
			}
			key := msg.Metadata.Get(topics.RecordKey)
			if tc.in.Via == koinet.ViaLocal {
				again, err := koinet.NewMessage(tc.in)
				if err != nil {
					t.Fatal(err)
				}
				if key == "" || again.Metadata.Get(topics.RecordKey) == key {
					t.Errorf("local knowledge keys %q and %q: want a new one each time", key, again.Metadata.Get(topics.RecordKey))
				}
			} else if want := koinet.InputKey(tc.in.Sender, tc.in.Body); key != want {
				t.Errorf("key %q, want InputKey %q", key, want)
			}
			if string(msg.Payload) != string(tc.in.Body) {
				t.Errorf("payload %s, want the body %s", msg.Payload, tc.in.Body)
			}
			got, err := parse(t, msg)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := tc.in
			want.Key, want.ContentType = key, wantCT
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestNewMessageRefuses: inputs that break a rule of the Input fields are
// refused with ErrInvalid, saying what is wrong.
func TestNewMessageRefuses(t *testing.T) {
	t.Parallel()
	ok := koinet.Input{Sender: peer, Receiver: me, Via: koinet.ViaBroadcast, Body: []byte(`{}`), ReceivedAt: at}
	tests := []struct {
		name   string
		change func(*koinet.Input)
		say    string
	}{
		{"targets on a peer's input", func(in *koinet.Input) { in.Targets = []string{peer} }, "targets on input broadcast"},
		{"local knowledge with a sender", func(in *koinet.Input) { in.Via = koinet.ViaLocal }, "local knowledge with a sender"},
		{"unknown via", func(in *koinet.Input) { in.Via = "webhook" }, `via "webhook"`},
		{"no via", func(in *koinet.Input) { in.Via = "" }, "via"},
		{"no receiver", func(in *koinet.Input) { in.Receiver = "" }, "no receiver"},
		{"receiver not an RID", func(in *koinet.Input) { in.Receiver = "me" }, `"me" is not an RID`},
		{"sender not an RID", func(in *koinet.Input) { in.Sender = "orn:" }, `"orn:" is not an RID`},
		{"sender with a comma", func(in *koinet.Input) { in.Sender = "orn:a.b:c,d" }, "without commas"},
		{"target with a comma", func(in *koinet.Input) { in.Sender, in.Via, in.Targets = "", koinet.ViaLocal, []string{"orn:a.b:c,d"} }, "without commas"},
		{"empty target", func(in *koinet.Input) { in.Sender, in.Via, in.Targets = "", koinet.ViaLocal, []string{peer, ""} }, `target ""`},
		{"empty body", func(in *koinet.Input) { in.Body = nil }, "empty body"},
		{"no receive time", func(in *koinet.Input) { in.ReceivedAt = time.Time{} }, "no receive time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := ok
			tc.change(&in)
			_, err := koinet.NewMessage(in)
			if !errors.Is(err, koinet.ErrInvalid) {
				t.Fatalf("NewMessage: %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.say) {
				t.Errorf("error %q does not say %q", err, tc.say)
			}
		})
	}
}

// TestParseRefuses: records of another kind, or whose koi-net headers
// break a rule, are refused with ErrInvalid.
func TestParseRefuses(t *testing.T) {
	t.Parallel()
	good, err := koinet.NewMessage(koinet.Input{Receiver: me, Via: koinet.ViaLocal, Targets: []string{peer}, Body: []byte(`{}`), ReceivedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(message.Metadata)
		say    string
	}{
		{"another source kind", func(md message.Metadata) { md.Set(raw.HeaderSource, "github-webhook") }, `source kind "github-webhook"`},
		{"no via", func(md message.Metadata) { delete(md, koinet.HeaderVia) }, "via"},
		{"no receiver", func(md message.Metadata) { delete(md, koinet.HeaderReceiver) }, "no receiver"},
		{"an empty target among others", func(md message.Metadata) { md.Set(koinet.HeaderTargets, peer+",,"+edge) }, `target ""`},
		{"a target that is not an RID", func(md message.Metadata) { md.Set(koinet.HeaderTargets, "nope") }, `"nope"`},
		{"local with a sender", func(md message.Metadata) { md.Set(koinet.HeaderSender, peer) }, "local knowledge with a sender"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := good.Copy()
			tc.change(msg.Metadata)
			_, err := parse(t, msg)
			if !errors.Is(err, koinet.ErrInvalid) {
				t.Fatalf("Parse: %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.say) {
				t.Errorf("error %q does not say %q", err, tc.say)
			}
		})
	}
}

// TestInputKey: the key separates sender from body, so that no two
// different (sender, body) pairs share one, and is the same for the same
// pair.
func TestInputKey(t *testing.T) {
	t.Parallel()
	if koinet.InputKey("a", []byte("bc")) == koinet.InputKey("ab", []byte("c")) {
		t.Error(`InputKey("a","bc") == InputKey("ab","c")`)
	}
	if koinet.InputKey("", []byte("x")) == koinet.InputKey("x", nil) {
		t.Error(`InputKey("","x") == InputKey("x","")`)
	}
	if koinet.InputKey(peer, []byte("x")) != koinet.InputKey(peer, []byte("x")) {
		t.Error("InputKey is not deterministic")
	}
	if k := koinet.InputKey(peer, []byte("x")); len(k) != 64 || strings.Trim(k, "0123456789abcdef") != "" {
		t.Errorf("InputKey %q is not 64 lowercase hex digits", k)
	}
}

// TestLocalEvents: the node's own knowledge is a local record whose body
// is a bare events_payload of the events, in order, for the targets.
func TestLocalEvents(t *testing.T) {
	t.Parallel()
	b, err := koi.NewBundle(me, []byte(`{"node_type":"FULL","base_url":null}`), at)
	if err != nil {
		t.Fatal(err)
	}
	evs := []koi.Event{koi.NewForgetEvent(me), koi.NewBundleEvent(koi.EventNew, b)}
	msg, err := koinet.LocalEvents(me, evs, []string{peer}, at)
	if err != nil {
		t.Fatal(err)
	}
	in, err := parse(t, msg)
	if err != nil {
		t.Fatal(err)
	}
	if in.Via != koinet.ViaLocal || in.Sender != "" || in.Receiver != me || !reflect.DeepEqual(in.Targets, []string{peer}) || !in.ReceivedAt.Equal(at) {
		t.Errorf("record %+v", in)
	}
	p, err := koi.DecodeEventsPayload(in.Body)
	if err != nil {
		t.Fatalf("body %s: %v", in.Body, err)
	}
	if len(p.Events) != 2 || p.Events[0].EventType != koi.EventForget || p.Events[1].RID != me || string(p.Events[1].Contents) != `{"node_type":"FULL","base_url":null}` {
		t.Errorf("events %+v", p.Events)
	}
	if _, err := koinet.LocalEvents("me", evs, nil, at); !errors.Is(err, koinet.ErrInvalid) {
		t.Errorf("LocalEvents with a bad RID: %v", err)
	}
}

// FuzzParse: Parse never panics, refuses only with ErrInvalid, and what it
// accepts NewMessage writes back to a record that parses the same. Any
// Kafka client can write to the raw topic.
func FuzzParse(f *testing.F) {
	f.Add(peer, me, "broadcast", "", []byte(`{}`))
	f.Add("", me, "local", peer+","+edge, []byte(`{"events":[]}`))
	f.Add(peer, me, "fetch", "", []byte(`x`))
	f.Add("", "", "", ",", []byte{})
	f.Add("a,b", me, "poll", "", []byte(`{}`))
	f.Fuzz(func(t *testing.T, sender, receiver, via, targets string, body []byte) {
		msg := message.NewMessage("u", body)
		// NewMessage writes an empty content type as application/json, so one
		// is set for the round trip to hold.
		msg.Metadata = message.Metadata{topics.RecordKey: "k", raw.HeaderSource: koinet.SourceKind, raw.HeaderReceivedAt: at.Format(time.RFC3339Nano), raw.HeaderContentType: "text/plain"}
		for k, v := range map[string]string{koinet.HeaderSender: sender, koinet.HeaderReceiver: receiver, koinet.HeaderVia: via, koinet.HeaderTargets: targets} {
			if v != "" {
				msg.Metadata[k] = v
			}
		}
		in, err := parse(t, msg)
		if err != nil {
			if !errors.Is(err, koinet.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := koinet.NewMessage(in)
		if err != nil {
			t.Fatalf("NewMessage of a parsed record: %v", err)
		}
		back, err := parse(t, again)
		if err != nil {
			t.Fatalf("Parse(NewMessage(Parse(m))): %v", err)
		}
		if !reflect.DeepEqual(back, in) {
			t.Fatalf("round trip\n got %+v\nwant %+v", back, in)
		}
	})
}
