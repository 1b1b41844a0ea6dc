package amqpsink_test

import (
	"encoding/json"
	"testing"

	"github.com/koistream/koistream/pipeline/amqpsink"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/koi"
)

// TestBuildEscapedNames: a member name with escapes after one without
// (the scanner hands over the first as a slice of the input) neither
// changes the record nor the payload; a contents without
// webhook_event_type is published with type "Event", as before the
// one-pass Build, not refused.
func TestBuildEscapedNames(t *testing.T) {
	t.Parallel()
	ev := find(t, normalized(t, "issues", "issues.opened.json"), github.TypeEvent)
	tests := []struct {
		name, contents, wantPayload, wantType string
	}{
		{"escaped name after a plain one",
			`{"webhook_event_type":"issues","repository":null,"payload":{"action":"opened","n\u0061me":"x"}}`,
			`{"action":"opened","n\u0061me":"x"}`, `"IssuesEvent"`},
		{"escaped envelope name after a plain one",
			`{"webhook_event_type":"issues","repository":null,"payload":{"a":1,"s\u0065nder":{"login":"l"}}}`,
			`{"a":1}`, `"IssuesEvent"`},
		{"no webhook_event_type",
			`{"repository":null,"payload":{"action":"opened"}}`,
			`{"action":"opened"}`, `"Event"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := ev
			o.Contents = []byte(tt.contents)
			rec := record(t, o, koi.EventNew)
			before := string(rec.Value)
			m, err := amqpsink.Build(rec)
			if err != nil {
				t.Fatal(err)
			}
			if string(rec.Value) != before {
				t.Errorf("Build changed the record's value\n got %s\nwant %s", rec.Value, before)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(m.Body, &body); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, m.Body)
			}
			if got := string(body["payload"]); got != tt.wantPayload {
				t.Errorf("payload\n got %s\nwant %s", got, tt.wantPayload)
			}
			if got := string(body["type"]); got != tt.wantType {
				t.Errorf("type %s, want %s", got, tt.wantType)
			}
		})
	}
}
