package events_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

var at = time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)

func issue(op observed.Op) observed.Observation {
	o := observed.Observation{
		RID: "orn:github.issue:o/r:7", Op: op, Routing: "ent.issue", Source: "github-webhook",
		SourceKey: "d-1", ReceivedAt: at, RawPartition: 1, RawOffset: 9,
	}
	if op == observed.OpUpsert {
		o.Contents = []byte(`{"number": 7}`)
	}
	return o
}

var manifest = koi.Manifest{RID: "orn:github.issue:o/r:7", Timestamp: "2025-01-02T03:04:05.123456Z", SHA256Hash: "ab"}

func TestRoutingKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stem string
		t    koi.EventType
		want string
	}{
		{"evt.push", koi.EventNew, "evt.push.insert"},
		{"ent.issue", koi.EventUpdate, "ent.issue.update"},
		{"ent.repo", koi.EventForget, "ent.repo.delete"},
	}
	for _, tt := range tests {
		if got := events.RoutingKey(tt.stem, tt.t); got != tt.want {
			t.Errorf("RoutingKey(%q, %s) = %q, want %q", tt.stem, tt.t, got, tt.want)
		}
	}
}

func TestNewMessageParse(t *testing.T) {
	t.Parallel()
	up, gone := issue(observed.OpUpsert), issue(observed.OpForget)
	tests := []struct {
		name      string
		ev        koi.Event
		from      observed.Observation
		wantValue string
		wantKey   string
	}{
		{"NEW", koi.Event{RID: up.RID, EventType: koi.EventNew, Manifest: &manifest, Contents: up.Contents}, up,
			`{"rid":"orn:github.issue:o/r:7","event_type":"NEW","manifest":{"rid":"orn:github.issue:o/r:7","timestamp":"2025-01-02T03:04:05.123456Z","sha256_hash":"ab"},"contents":{"number": 7}}`,
			"ent.issue.insert"},
		{"FORGET", koi.NewForgetEvent(gone.RID), gone, `{"rid":"orn:github.issue:o/r:7","event_type":"FORGET"}`, "ent.issue.delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, err := events.NewMessage(tt.ev, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Payload) != tt.wantValue {
				t.Errorf("value\n got %s\nwant %s", msg.Payload, tt.wantValue)
			}
			want := message.Metadata{}
			tt.from.WriteHeaders(want)
			want[events.HeaderEventType] = string(tt.ev.EventType)
			want[events.HeaderRoutingKey] = tt.wantKey
			if !reflect.DeepEqual(msg.Metadata, want) {
				t.Errorf("metadata\n got %v\nwant %v", msg.Metadata, want)
			}
			rec, err := events.Parse(msg)
			if err != nil {
				t.Fatal(err)
			}
			wantObs := tt.from
			wantObs.Contents = nil
			if !reflect.DeepEqual(rec.Observation, wantObs) || rec.EventType != tt.ev.EventType || rec.RoutingKey != tt.wantKey || string(rec.Value) != tt.wantValue {
				t.Errorf("Parse = %+v", rec)
			}
		})
	}
}

func TestNewMessageRefuses(t *testing.T) {
	t.Parallel()
	up := issue(observed.OpUpsert)
	bad := up
	bad.Source = ""
	tests := []struct {
		name string
		ev   koi.Event
		from observed.Observation
	}{
		{"another RID", koi.Event{RID: "orn:github.issue:o/r:8", EventType: koi.EventNew, Manifest: &manifest}, up},
		{"unknown type", koi.Event{RID: up.RID, EventType: "MAYBE", Manifest: &manifest}, up},
		{"FORGET with a manifest", koi.Event{RID: up.RID, EventType: koi.EventForget, Manifest: &manifest}, issue(observed.OpForget)},
		{"NEW without a manifest", koi.Event{RID: up.RID, EventType: koi.EventNew}, up},
		{"invalid observation", koi.Event{RID: up.RID, EventType: koi.EventNew, Manifest: &manifest}, bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := events.NewMessage(tt.ev, tt.from); !errors.Is(err, events.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
		})
	}
}

// TestParseLegacy reads an events record as the build before the routing
// stem header wrote it: the observed headers of that build, X-GitHub-Event
// among them, plus the event type and routing key.
func TestParseLegacy(t *testing.T) {
	t.Parallel()
	const rid = "orn:github.event:o/r:d-1"
	msg := message.NewMessage("u", []byte(`{"rid":"orn:github.event:o/r:d-1","event_type":"NEW"}`))
	msg.Metadata = message.Metadata{
		topics.RecordKey: rid, "koistream-rid": rid, "koistream-op": "upsert", "koistream-source": "github-webhook",
		"koistream-source-key": "d-1", "koistream-received-at": "2025-01-02T03:04:05.123456789Z",
		"koistream-raw-partition": "0", "koistream-raw-offset": "3", "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1",
		"koistream-event-type": "NEW", "koistream-routing-key": "evt.push.insert",
	}
	rec, err := events.Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Observation.Routing != "evt.push" || !rec.Observation.Immutable || rec.EventType != koi.EventNew || rec.RoutingKey != "evt.push.insert" {
		t.Errorf("Parse = %+v", rec)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*message.Message)
		wantErr string
	}{
		{"bad observation headers", func(m *message.Message) { delete(m.Metadata, observed.HeaderSourceKey) }, "no source key"},
		{"unknown event type", func(m *message.Message) { m.Metadata[events.HeaderEventType] = "new" }, `"new" is not NEW, UPDATE or FORGET`},
		{"no routing key", func(m *message.Message) { delete(m.Metadata, events.HeaderRoutingKey) }, "no koistream-routing-key header"},
		{"empty value", func(m *message.Message) { m.Payload = nil }, "empty value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, err := events.NewMessage(koi.NewForgetEvent(issue(observed.OpForget).RID), issue(observed.OpForget))
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(msg)
			_, err = events.Parse(msg)
			if !errors.Is(err, events.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}
