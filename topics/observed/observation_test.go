package observed_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/observed"
)

var at = time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)

func issue() observed.Observation {
	return observed.Observation{
		RID: "orn:github.issue:octo/hello:7", Op: observed.OpUpsert, Contents: []byte(`{"number":7}`),
		Routing: "ent.issue", Source: "github-webhook", SourceKey: "72d3162e", ReceivedAt: at,
		RawPartition: 2, RawOffset: 41,
	}
}

func TestNewMessageParse(t *testing.T) {
	t.Parallel()
	event := issue()
	event.RID, event.Routing, event.Immutable = "orn:github.event:octo/hello:72d3162e", "evt.issues", true
	forget := issue()
	forget.Op, forget.Contents = observed.OpForget, nil
	tests := []struct {
		name     string
		o        observed.Observation
		wantMeta message.Metadata
	}{
		{"entity upsert", issue(), message.Metadata{
			topics.RecordKey: "orn:github.issue:octo/hello:7", observed.HeaderRID: "orn:github.issue:octo/hello:7",
			observed.HeaderOp: "upsert", observed.HeaderRouting: "ent.issue", observed.HeaderSource: "github-webhook",
			observed.HeaderSourceKey: "72d3162e", observed.HeaderReceivedAt: "2025-01-02T03:04:05.123456789Z",
			observed.HeaderRawPartition: "2", observed.HeaderRawOffset: "41",
		}},
		{"immutable event", event, message.Metadata{
			topics.RecordKey: "orn:github.event:octo/hello:72d3162e", observed.HeaderRID: "orn:github.event:octo/hello:72d3162e",
			observed.HeaderOp: "upsert", observed.HeaderRouting: "evt.issues", observed.HeaderImmutable: "true",
			observed.HeaderSource: "github-webhook", observed.HeaderSourceKey: "72d3162e",
			observed.HeaderReceivedAt: "2025-01-02T03:04:05.123456789Z", observed.HeaderRawPartition: "2", observed.HeaderRawOffset: "41",
		}},
		{"forget", forget, message.Metadata{
			topics.RecordKey: "orn:github.issue:octo/hello:7", observed.HeaderRID: "orn:github.issue:octo/hello:7",
			observed.HeaderOp: "forget", observed.HeaderRouting: "ent.issue", observed.HeaderSource: "github-webhook",
			observed.HeaderSourceKey: "72d3162e", observed.HeaderReceivedAt: "2025-01-02T03:04:05.123456789Z",
			observed.HeaderRawPartition: "2", observed.HeaderRawOffset: "41",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, err := observed.NewMessage(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(msg.Metadata, tt.wantMeta) {
				t.Errorf("metadata\n got %v\nwant %v", msg.Metadata, tt.wantMeta)
			}
			if string(msg.Payload) != string(tt.o.Contents) {
				t.Errorf("payload %q, want the contents", msg.Payload)
			}
			got, err := observed.Parse(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.o) {
				t.Errorf("Parse(NewMessage(o))\n got %+v\nwant %+v", got, tt.o)
			}
		})
	}
}

// TestParseLegacy reads observed records exactly as the build before the
// routing header wrote them (normalize copied the GitHub headers along).
func TestParseLegacy(t *testing.T) {
	t.Parallel()
	legacy := func(rid, op, event string) *message.Message {
		m := message.NewMessage("u", []byte(`{"a":1}`))
		if op == "forget" {
			m.Payload = nil
		}
		m.Metadata = message.Metadata{
			topics.RecordKey: rid, "koistream-rid": rid, "koistream-op": op, "koistream-source": "github-webhook",
			"koistream-source-key": "d-1", "koistream-received-at": "2025-01-02T03:04:05.123456789Z",
			"koistream-raw-partition": "0", "koistream-raw-offset": "9", "X-GitHub-Delivery": "d-1",
		}
		if event != "" {
			m.Metadata["X-GitHub-Event"] = event
		}
		return m
	}
	tests := []struct {
		name          string
		msg           *message.Message
		wantRouting   string
		wantImmutable bool
	}{
		{"event", legacy("orn:github.event:o/r:d-1", "upsert", "push"), "evt.push", true},
		{"event without X-GitHub-Event", legacy("orn:github.event:o/r:d-1", "upsert", ""), "evt.unknown", true},
		{"repo", legacy("orn:github.repo:o/r", "upsert", "push"), "ent.repo", false},
		{"commit", legacy("orn:github.commit:o/r:6113728f27ae82c7b1a177c8d03f9e96e0adf246", "upsert", "push"), "ent.commit", false},
		{"pr forget", legacy("orn:github.pr:o/r:3", "forget", "pull_request"), "ent.pr", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := observed.Parse(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if o.Routing != tt.wantRouting || o.Immutable != tt.wantImmutable {
				t.Errorf("routing %q immutable %v, want %q %v", o.Routing, o.Immutable, tt.wantRouting, tt.wantImmutable)
			}
			if o.SourceKey != "d-1" || o.RawOffset != 9 || !o.ReceivedAt.Equal(at) {
				t.Errorf("observation %+v", o)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*message.Message)
		wantErr string
	}{
		{"no RID", func(m *message.Message) { delete(m.Metadata, observed.HeaderRID) }, "has no koistream-rid header"},
		{"key is not the RID", func(m *message.Message) { m.Metadata[topics.RecordKey] = "x" }, `key "x" is not the RID`},
		{"malformed RID", func(m *message.Message) {
			m.Metadata[topics.RecordKey], m.Metadata[observed.HeaderRID] = "not-a-rid", "not-a-rid"
		}, "invalid RID"},
		{"unknown op", func(m *message.Message) { m.Metadata[observed.HeaderOp] = "merge" }, `unknown op "merge"`},
		{"routing with a space", func(m *message.Message) { m.Metadata[observed.HeaderRouting] = "evt.a b" }, "not printable ASCII"},
		{"immutable not true", func(m *message.Message) { m.Metadata[observed.HeaderImmutable] = "yes" }, `"yes" is not "true"`},
		{"no source", func(m *message.Message) { delete(m.Metadata, observed.HeaderSource) }, "no source kind"},
		{"no source key", func(m *message.Message) { delete(m.Metadata, observed.HeaderSourceKey) }, "no source key"},
		{"bad receive time", func(m *message.Message) { m.Metadata[observed.HeaderReceivedAt] = "yesterday" }, `"yesterday" is not an RFC 3339 time`},
		{"bad partition", func(m *message.Message) { m.Metadata[observed.HeaderRawPartition] = "x" }, "is not a partition"},
		{"partition out of range", func(m *message.Message) { m.Metadata[observed.HeaderRawPartition] = "4294967296" }, "is not a partition"},
		{"negative offset", func(m *message.Message) { m.Metadata[observed.HeaderRawOffset] = "-1" }, "is negative"},
		{"no offset", func(m *message.Message) { delete(m.Metadata, observed.HeaderRawOffset) }, "is not an offset"},
		{"upsert without contents", func(m *message.Message) { m.Payload = nil }, "upsert without contents"},
		{"forget with contents", func(m *message.Message) { m.Metadata[observed.HeaderOp] = "forget" }, "forget with contents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, err := observed.NewMessage(issue())
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(msg)
			_, err = observed.Parse(msg)
			if !errors.Is(err, observed.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewMessageRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*observed.Observation)
	}{
		{"no RID", func(o *observed.Observation) { o.RID = "" }},
		{"no op", func(o *observed.Observation) { o.Op = "" }},
		{"no routing", func(o *observed.Observation) { o.Routing = "" }},
		{"no source", func(o *observed.Observation) { o.Source = "" }},
		{"no source key", func(o *observed.Observation) { o.SourceKey = "" }},
		{"no receive time", func(o *observed.Observation) { o.ReceivedAt = time.Time{} }},
		{"negative partition", func(o *observed.Observation) { o.RawPartition = -1 }},
		{"upsert without contents", func(o *observed.Observation) { o.Contents = nil }},
		{"forget with contents", func(o *observed.Observation) { o.Op = observed.OpForget }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := issue()
			tt.edit(&o)
			if _, err := observed.NewMessage(o); !errors.Is(err, observed.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
		})
	}
}

func TestWriteHeadersClearsImmutable(t *testing.T) {
	t.Parallel()
	md := message.Metadata{observed.HeaderImmutable: "true", "other": "kept"}
	issue().WriteHeaders(md)
	if _, ok := md[observed.HeaderImmutable]; ok {
		t.Error("a mutable observation's headers keep a stale immutable header")
	}
	if md["other"] != "kept" {
		t.Error("WriteHeaders removed an unrelated entry")
	}
}

// TestNewMessages: each message is NewMessage's, whether consecutive
// observations share their receive time and raw position or not.
func TestNewMessages(t *testing.T) {
	t.Parallel()
	a, b, c := issue(), issue(), issue()
	b.RID, b.Routing = "orn:github.repo:octo/hello", "ent.repo"
	c.RawOffset, c.ReceivedAt = 42, at.Add(time.Second)
	obs := []observed.Observation{a, b, c}
	msgs, err := observed.NewMessages(obs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range obs {
		want, err := observed.NewMessage(o)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(msgs[i].Metadata, want.Metadata) || string(msgs[i].Payload) != string(want.Payload) {
			t.Errorf("message %d: metadata %v, want %v", i, msgs[i].Metadata, want.Metadata)
		}
	}
	bad := issue()
	bad.Routing = ""
	if _, err := observed.NewMessages([]observed.Observation{a, bad}); !errors.Is(err, observed.ErrInvalid) {
		t.Errorf("error %v, want ErrInvalid", err)
	}
}
