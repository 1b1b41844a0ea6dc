package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// TestGlanceAgreesWithParse: on records Parse takes, GlanceRecord reads the
// same RID, event type, routing key, routing stem and path, legacy records
// included.
func TestGlanceAgreesWithParse(t *testing.T) {
	t.Parallel()
	withPath := issue(observed.OpUpsert)
	withPath.Path = "/github/o/r/issue"
	legacy := message.NewMessage("u", []byte(`{"rid":"orn:github.event:o/r:d-1","event_type":"NEW"}`))
	legacy.Metadata = message.Metadata{
		topics.RecordKey: "orn:github.event:o/r:d-1", "koistream-rid": "orn:github.event:o/r:d-1", "koistream-op": "upsert",
		"koistream-source": "github-webhook", "koistream-source-key": "d-1", "koistream-received-at": "2025-01-02T03:04:05.123456789Z",
		"koistream-raw-partition": "0", "koistream-raw-offset": "3", "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1",
		"koistream-event-type": "NEW", "koistream-routing-key": "evt.push.insert",
	}
	mk := func(ev koi.Event, o observed.Observation) *message.Message {
		m, err := events.NewMessage(ev, o)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name string
		msg  *message.Message
	}{
		{"upsert", mk(koi.Event{RID: withPath.RID, EventType: koi.EventNew, Manifest: &manifest, Contents: withPath.Contents}, withPath)},
		{"forget", mk(koi.NewForgetEvent(issue(observed.OpForget).RID), issue(observed.OpForget))},
		{"legacy record", legacy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, err := events.Parse(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.GlanceRecord(topics.RecordFromMessage("koistream.events", tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			w := events.Glance{RID: want.Observation.RID, EventType: want.EventType, RoutingKey: want.RoutingKey,
				Routing: want.Observation.Routing, Path: want.Observation.Path}
			if got != w {
				t.Errorf("GlanceRecord = %+v, Parse says %+v", got, w)
			}
		})
	}
}

func TestGlanceRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(*message.Message)
		wantErr string
	}{
		{"no RID", func(m *message.Message) { delete(m.Metadata, observed.HeaderRID) }, "no koistream-rid header"},
		{"key is not the RID", func(m *message.Message) { m.Metadata[topics.RecordKey] = "orn:github.issue:o/r:8" }, "is not the RID"},
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
			_, err = events.GlanceRecord(topics.RecordFromMessage("koistream.events", msg))
			if !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want ErrInvalid saying %q", err, tt.wantErr)
			}
		})
	}
}
