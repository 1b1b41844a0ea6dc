package eventhive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/pipeline/eventhive"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

func TestEventName(t *testing.T) {
	for _, tt := range []struct{ key, want string }{
		{"evt.push.insert", "push"},
		{"evt.pull_request.insert", "pull_request"},
		{"evt.issues.update", "issues.update"},
		{"ent.issue.update", "issue.update"},
		{"ent.commit.insert", "commit.insert"},
		{"other.thing", "other.thing"},
	} {
		if got := eventhive.EventName(tt.key); got != tt.want {
			t.Errorf("EventName(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name    string
		f       eventhive.Filter
		ridType string
		key     string
		want    bool
	}{
		{"empty passes all", eventhive.Filter{}, "orn:github.issue", "ent.issue.update", true},
		{"star is one word", eventhive.Filter{Keys: []string{"evt.push.*"}}, "orn:github.event", "evt.push.insert", true},
		{"star is not two", eventhive.Filter{Keys: []string{"evt.*"}}, "orn:github.event", "evt.push.insert", false},
		{"hash is any", eventhive.Filter{Keys: []string{"ent.#"}}, "orn:github.issue", "ent.issue.update", true},
		{"hash is zero words", eventhive.Filter{Keys: []string{"ent.issue.update.#"}}, "orn:github.issue", "ent.issue.update", true},
		{"hash in the middle", eventhive.Filter{Keys: []string{"ent.#.update"}}, "orn:github.issue", "ent.issue.update", true},
		{"no key matches", eventhive.Filter{Keys: []string{"evt.#", "ent.*.delete"}}, "orn:github.issue", "ent.issue.update", false},
		{"rid type matches", eventhive.Filter{RIDTypes: []string{"orn:github.issue"}}, "orn:github.issue", "ent.issue.update", true},
		{"rid type does not", eventhive.Filter{RIDTypes: []string{"orn:github.event"}}, "orn:github.issue", "ent.issue.update", false},
		{"both must pass", eventhive.Filter{RIDTypes: []string{"orn:github.issue"}, Keys: []string{"evt.#"}}, "orn:github.issue", "ent.issue.update", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := tt.f.Match(tt.ridType, tt.key); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.ridType, tt.key, got, tt.want)
			}
		})
	}
	for _, bad := range []eventhive.Filter{{Keys: []string{""}}, {Keys: []string{"evt..push"}}, {Keys: []string{".evt"}}, {RIDTypes: []string{""}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", bad)
		}
	}
}

// eventMessage is an events-topic message as a consumer reads it: at
// partition 0, offset off of the events topic.
func eventMessage(t testing.TB, rid, routing string, source string, off int64) *message.Message {
	t.Helper()
	return newEvent(t, rid, routing, source, []byte(`{"n":"é","f":1.5}`), off)
}

// pushEvent is the evt.push event of rid with contents, at offset off.
func pushEvent(t testing.TB, rid string, contents []byte, off int64) *message.Message {
	t.Helper()
	return newEvent(t, rid, "evt.push", "github-webhook", contents, off)
}

func newEvent(t testing.TB, rid, routing, source string, contents []byte, off int64) *message.Message {
	t.Helper()
	ev := koi.Event{RID: rid, EventType: koi.EventNew, Contents: contents,
		Manifest: &koi.Manifest{RID: rid, Timestamp: "2026-11-29T00:00:00Z", SHA256Hash: strings.Repeat("0", 64)}}
	m, err := events.NewMessage(ev, observed.Observation{RID: rid, Op: observed.OpUpsert, Contents: contents, Routing: routing,
		Source: source, SourceKey: "k", ReceivedAt: time.Unix(1795368274, 123456789)})
	if err != nil {
		t.Fatal(err)
	}
	m.SetContext(topics.ContextWithPosition(context.Background(), topics.Position{Topic: "koistream.events", Partition: 0, Offset: off}))
	return m
}

// TestEncode: the message is a function of the record (a retry publishes
// the same bytes, another offset another id), with the metadata EventHive
// writes; events that came from EventHive on the sink's own network are
// not sent back to it.
func TestEncode(t *testing.T) {
	p, err := eventhive.NewPublisher(nil, eventhive.PublisherConfig{Network: "hive", Channel: "gh"})
	if err != nil {
		t.Fatal(err)
	}
	it, ok, err := p.Encode(eventMessage(t, "orn:github.event:octo/hello:1", "evt.push", "github-webhook", 7))
	if err != nil || !ok {
		t.Fatalf("Encode = %v, %v", ok, err)
	}
	again, _, _ := p.Encode(eventMessage(t, "orn:github.event:octo/hello:1", "evt.push", "github-webhook", 7))
	other, _, _ := p.Encode(eventMessage(t, "orn:github.event:octo/hello:1", "evt.push", "github-webhook", 8))
	if it.Channel != "hive/gh/push" || !bytes.Equal(it.Payload, again.Payload) || bytes.Equal(it.Payload, other.Payload) {
		t.Errorf("channel %s; payload stable %v, distinct per offset %v", it.Channel, bytes.Equal(it.Payload, again.Payload), !bytes.Equal(it.Payload, other.Payload))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(it.Payload, &m); err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Time               float64
		Version, Event, ID string
	}
	if err := json.Unmarshal(m["__eventhive__"], &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Version != "0.5.0" || meta.Event != "hive/gh/push" || !isUUIDv5(meta.ID) || meta.Time != 1795368274.1234567 {
		t.Errorf("metadata %+v", meta)
	}
	if string(m["contents"]) != `{"n":"é","f":1.5}` || string(m["routing_key"]) != `"evt.push.insert"` {
		t.Errorf("message %s", it.Payload)
	}
	for _, tt := range []struct {
		rid  string
		sent bool
	}{
		{"orn:eventhive.message:hive/in/x/" + strings.Repeat("0", 8) + "-0000-4000-8000-" + strings.Repeat("0", 12), false},
		{"orn:eventhive.message:other/in/x/" + strings.Repeat("0", 8) + "-0000-4000-8000-" + strings.Repeat("0", 12), true},
	} {
		_, ok, err := p.Encode(eventMessage(t, tt.rid, "evt.eventhive", "eventhive", 9))
		if err != nil || ok != tt.sent {
			t.Errorf("Encode(%s) sent %v (%v), want %v", tt.rid, ok, err, tt.sent)
		}
	}
}
