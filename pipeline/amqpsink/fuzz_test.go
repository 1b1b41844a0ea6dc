package amqpsink_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/koistream/koistream/pipeline/amqpsink"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// FuzzBuild feeds arbitrary contents of a GitHub event to Build, which
// parses them (with segmentio's decoder) to make an Events API object. It
// must never panic; it fails only with ErrBadRecord; it refuses what
// encoding/json says is not JSON; and what it builds is valid JSON (by
// encoding/json) with the Events API's members.
func FuzzBuild(f *testing.F) {
	// Small seeds in the webhook parser's shape: the testdata deliveries
	// (10 KB and more) leave the coverage-guided fuzzer minimizing for
	// most of its time.
	f.Add([]byte(`{"webhook_event_type":"push","repository":{"id":1,"full_name":"o/r","url":"https://github.com/o/r","commits_url":"https://api.github.com/repos/o/r/commits{/sha}","private":false},"payload":{"ref":"refs/heads/main","before":"a","after":"b","commits":[{"id":"b","message":"m","author":{"name":"n","email":"e"},"distinct":true,"url":"u"}],"sender":{"id":2,"login":"s","gravatar_id":"","url":"u","avatar_url":"a"},"organization":{"id":3,"login":"o"}}}`))
	f.Add([]byte(`{"webhook_event_type":"issues","action":"opened","repository":{"id":1,"full_name":"o/r","private":true},"payload":{"action":"opened","issue":{"number":7},"sender":{"login":"s"},"installation":{"id":4}}}`))
	f.Add([]byte(`{"webhook_event_type":"push","payload":{"commits":[{"id":"x","distinct":false}]}}`))
	f.Add([]byte(`{"webhook_event_type":"x_y","repository":null,"payload":{"sender":null,"organization":{"id":"s"}}}`))
	f.Add([]byte(`{"webhook_event_type":"push","payload":{"commits":[{"id":"\ud800"}]}}`))
	f.Fuzz(func(t *testing.T, contents []byte) {
		const rid = "orn:github.event:o/r:d-1"
		ev := koi.Event{RID: rid, EventType: koi.EventNew, Contents: contents,
			Manifest: &koi.Manifest{RID: rid, Timestamp: "2025-01-02T03:04:05Z", SHA256Hash: "ab"}}
		rec := events.Record{
			Observation: observed.Observation{RID: rid, Routing: "evt.push", ReceivedAt: receivedAt},
			EventType:   koi.EventNew, RoutingKey: "evt.push.insert", Value: ev.AppendJSON(nil),
		}
		m, err := amqpsink.Build(rec)
		if err != nil {
			if !errors.Is(err, amqpsink.ErrBadRecord) {
				t.Fatalf("error %v does not wrap ErrBadRecord", err)
			}
			return
		}
		if len(contents) > 0 && !json.Valid(contents) {
			t.Fatalf("built a message from contents encoding/json refuses: %q", contents)
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(m.Body, &body); err != nil {
			t.Fatalf("body is not a JSON object: %v\n%s", err, m.Body)
		}
		if v, err := events.ParseValue(rec.Value); err == nil && v.Contents == nil {
			return // contents null: the small document of an event without contents
		}
		for _, k := range []string{"id", "type", "actor", "repo", "payload", "public", "created_at"} {
			if _, ok := body[k]; !ok {
				t.Fatalf("body without %q: %s", k, m.Body)
			}
		}
	})
}
