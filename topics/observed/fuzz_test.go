package observed_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/observed"
)

// FuzzParse: Parse never panics, refuses only with ErrInvalid, and what it
// accepts NewMessage writes back to a message that parses the same. Any
// Kafka client can write to the observed topic.
func FuzzParse(f *testing.F) {
	f.Add("orn:github.issue:o/r:7", "upsert", "ent.issue", "", "github-webhook", "d-1", "2025-01-02T03:04:05.123456789Z", "2", "41", "", []byte(`{"a":1}`))
	f.Add("orn:github.event:o/r:d-1", "upsert", "", "", "github-webhook", "d-1", "2025-01-02T03:04:05Z", "0", "0", "push", []byte(`{}`))
	f.Add("orn:github.repo:o/r", "forget", "ent.repo", "true", "s", "k", "2025-01-02T04:04:05+01:00", "1", "9", "", []byte{})
	f.Add("x", "merge", "a b", "yes", "", "", "", "-1", "x", "", []byte("z"))
	f.Fuzz(func(t *testing.T, rid, op, routing, immutable, source, sourceKey, receivedAt, part, off, ghEvent string, payload []byte) {
		msg := message.NewMessage("u", payload)
		for k, v := range map[string]string{
			topics.RecordKey: rid, observed.HeaderRID: rid, observed.HeaderOp: op, observed.HeaderRouting: routing,
			observed.HeaderImmutable: immutable, observed.HeaderSource: source, observed.HeaderSourceKey: sourceKey,
			observed.HeaderReceivedAt: receivedAt, observed.HeaderRawPartition: part, observed.HeaderRawOffset: off,
			"X-GitHub-Event": ghEvent,
		} {
			if v != "" {
				msg.Metadata[k] = v
			}
		}
		o, err := observed.Parse(msg)
		if err != nil {
			if !errors.Is(err, observed.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := observed.NewMessage(o)
		if err != nil {
			t.Fatalf("NewMessage of a parsed observation: %v", err)
		}
		back, err := observed.Parse(again)
		if err != nil {
			t.Fatalf("Parse(NewMessage(Parse(m))): %v", err)
		}
		if !back.ReceivedAt.Equal(o.ReceivedAt) {
			t.Fatalf("receive time %v after a round trip, want %v", back.ReceivedAt, o.ReceivedAt)
		}
		back.ReceivedAt = o.ReceivedAt
		if !reflect.DeepEqual(back, o) {
			t.Fatalf("round trip\n got %+v\nwant %+v", back, o)
		}
	})
}
