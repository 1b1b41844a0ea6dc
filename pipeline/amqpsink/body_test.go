package amqpsink_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/amqpsink"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

var receivedAt = time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC)

// normalized returns the observations the webhook parser makes of the
// delivery in testdata/<file>, sent as X-GitHub-Event event.
func normalized(t testing.TB, event, file string) []observed.Observation {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	obs, err := github.Normalize(github.Input{Event: event, Delivery: delivery, ContentType: "application/json", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

// record returns the events record ridify writes for an event of type typ
// about o: the real writer (events.NewMessage) read back by events.Parse.
func record(t testing.TB, o observed.Observation, typ koi.EventType) events.Record {
	t.Helper()
	o.Source, o.SourceKey, o.ReceivedAt = "github-webhook", delivery, receivedAt
	ev := koi.NewForgetEvent(o.RID)
	if typ != koi.EventForget {
		ev = koi.Event{RID: o.RID, EventType: typ, Contents: o.Contents,
			Manifest: &koi.Manifest{RID: o.RID, Timestamp: "2025-01-02T03:04:07.123456Z", SHA256Hash: "ab"}}
	} else {
		o.Op, o.Contents = observed.OpForget, nil
	}
	msg, err := events.NewMessage(ev, o)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := events.Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// find returns the observation of RID type typ.
func find(t testing.TB, obs []observed.Observation, typ string) observed.Observation {
	t.Helper()
	for _, o := range obs {
		if amqpsink.RIDType(o.RID) == typ {
			return o
		}
	}
	t.Fatalf("no %s observation among %d", typ, len(obs))
	return observed.Observation{}
}

// at returns the member of the decoded JSON v at path ("payload.commits.0.sha"),
// re-encoded, or "<absent>".
func at(v any, path string) string {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[p]; !ok {
				return "<absent>"
			}
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(x) {
				return "<absent>"
			}
			v = x[i]
		default:
			return "<absent>"
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestBuild: each kind of events record becomes the message GHTorrent's
// consumers expect: the routing key in GHTorrent's spelling and the body in
// the shape GHTorrent served (Events API objects for GitHub events, the
// entity document for entities, a small document for a FORGET).
func TestBuild(t *testing.T) {
	t.Parallel()
	push := normalized(t, "push", "push.multiple-commits.json")
	issues := normalized(t, "issues", "issues.opened.json")
	pr := normalized(t, "pull_request", "pull_request.opened.json")
	issue := find(t, issues, github.TypeIssue)
	published := observed.Observation{RID: "orn:pubsub.message:01JGXYZ/a/b", Op: observed.OpUpsert, Routing: "evt.publish",
		Contents: []byte(`{"text":"<hi> & bye"}`), Immutable: true}
	tests := []struct {
		name string
		rec  events.Record
		key  string
		// body, when set, is the exact body; members are checked in the
		// decoded body.
		body    string
		members map[string]string
		// order lists top-level members in the order they must appear.
		order []string
	}{
		{
			name: "push event", rec: record(t, find(t, push, github.TypeEvent), koi.EventNew), key: "evt.push.insert",
			members: map[string]string{
				"id": `"` + delivery + `"`, "type": `"PushEvent"`,
				"actor":                      `{"avatar_url":"https://avatars.githubusercontent.com/u/58231904?v=4","display_login":"nadia-koi","gravatar_id":"","id":58231904,"login":"nadia-koi","url":"https://api.github.com/users/nadia-koi"}`,
				"repo":                       `{"id":761203458,"name":"koi-garden/pond-sensor","url":"https://api.github.com/repos/koi-garden/pond-sensor"}`,
				"public":                     `true`,
				"created_at":                 `"2025-01-02T03:04:07Z"`,
				"org.login":                  `"koi-garden"`,
				"org.id":                     `91833412`,
				"payload.size":               `3`,
				"payload.distinct_size":      `3`,
				"payload.ref":                `"refs/heads/main"`,
				"payload.head":               `"a625406f6977d45c1391b078f4d3656e0b75bfcb"`,
				"payload.before":             `"51de2b835bd35a67eb32dbcd3d77d4b96e5aa39d"`,
				"payload.push_id":            `<absent>`,
				"payload.commits.0.sha":      `"2f22765d04931a078909145ca628d2264c852d7d"`,
				"payload.commits.0.url":      `"https://api.github.com/repos/koi-garden/pond-sensor/commits/2f22765d04931a078909145ca628d2264c852d7d"`,
				"payload.commits.0.author":   `{"email":"nadia@koi-garden.example.org","name":"Nadia Koivisto"}`,
				"payload.commits.0.distinct": `true`,
				"payload.sender":             `<absent>`,
			},
			order: []string{"id", "type", "actor", "repo", "payload", "public", "created_at", "org"},
		},
		{
			name: "issues event", rec: record(t, find(t, issues, github.TypeEvent), koi.EventNew), key: "evt.issues.insert",
			members: map[string]string{
				"type": `"IssuesEvent"`, "actor.login": `"tomasz-w"`, "actor.display_login": `"tomasz-w"`,
				"repo.name": `"koi-garden/pond-sensor"`, "org.login": `"koi-garden"`,
				"payload.action": `"opened"`, "payload.issue.number": `7`,
				"payload.sender": `<absent>`, "payload.repository": `<absent>`, "payload.organization": `<absent>`,
			},
		},
		{
			name: "pull request event", rec: record(t, find(t, pr, github.TypeEvent), koi.EventNew), key: "evt.pullrequest.insert",
			members: map[string]string{"type": `"PullRequestEvent"`, "payload.action": `"opened"`, "payload.number": `<present>`},
		},
		{
			name: "issue entity, new", rec: record(t, issue, koi.EventNew), key: "ent.issues.insert", body: string(issue.Contents),
		},
		{
			name: "issue entity, update", rec: record(t, issue, koi.EventUpdate), key: "ent.issues.update", body: string(issue.Contents),
		},
		{
			name: "repository entity", rec: record(t, find(t, push, github.TypeRepo), koi.EventNew), key: "ent.repos.insert",
			body: string(find(t, push, github.TypeRepo).Contents),
		},
		{
			name: "commit entity", rec: record(t, find(t, push, github.TypeCommit), koi.EventNew), key: "ent.commits.insert",
			body: string(find(t, push, github.TypeCommit).Contents),
		},
		{
			name: "issue forgotten", rec: record(t, issue, koi.EventForget), key: "ent.issues.delete",
			body: `{"rid":"orn:github.issue:koi-garden/pond-sensor:7","full_name":"koi-garden/pond-sensor","number":7,"deleted":true}`,
		},
		{
			name: "repository forgotten", rec: record(t, find(t, push, github.TypeRepo), koi.EventForget), key: "ent.repos.delete",
			body: `{"rid":"orn:github.repo:koi-garden/pond-sensor","full_name":"koi-garden/pond-sensor","deleted":true}`,
		},
		{
			name: "published message", rec: record(t, published, koi.EventNew), key: "evt.publish.insert",
			body: `{"text":"<hi> & bye"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := amqpsink.Build(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if m.Key != tt.key {
				t.Errorf("key %q, want %q", m.Key, tt.key)
			}
			if m.RID != tt.rec.Observation.RID || m.EventType != tt.rec.EventType {
				t.Errorf("RID %q type %s, want %q %s", m.RID, m.EventType, tt.rec.Observation.RID, tt.rec.EventType)
			}
			if tt.body != "" && string(m.Body) != tt.body {
				t.Errorf("body\n got %s\nwant %s", m.Body, tt.body)
			}
			var v any
			if err := json.Unmarshal(m.Body, &v); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, m.Body)
			}
			for path, want := range tt.members {
				got := at(v, path)
				if want == "<present>" && got != "<absent>" {
					continue
				}
				if got != want {
					t.Errorf("%s = %s, want %s", path, got, want)
				}
			}
			last := -1
			for _, name := range tt.order {
				i := strings.Index(string(m.Body), `"`+name+`":`)
				if i <= last {
					t.Errorf("member %q at %d, want it after the previous one (at %d): order %v", name, i, last, tt.order)
				}
				last = i
			}
		})
	}
}

// TestBuildRefuses: records that cannot be made a message fail with
// ErrBadRecord instead of being published half-made.
func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	ev := find(t, normalized(t, "push", "push.multiple-commits.json"), github.TypeEvent)
	tests := []struct {
		name     string
		contents string
	}{
		{"payload not an object", `{"webhook_event_type":"push","payload":[1]}`},
		{"no payload", `{"webhook_event_type":"push"}`},
		{"push commits not an array", `{"webhook_event_type":"push","payload":{"commits":7}}`},
		{"sender not an object", `{"webhook_event_type":"issues","payload":{"sender":"x"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := ev
			o.Contents = []byte(tt.contents)
			if _, err := amqpsink.Build(record(t, o, koi.EventNew)); !errors.Is(err, amqpsink.ErrBadRecord) {
				t.Fatalf("error %v, want ErrBadRecord", err)
			}
		})
	}
	rec := record(t, ev, koi.EventNew)
	rec.Value = []byte(`{"rid":`)
	if _, err := amqpsink.Build(rec); !errors.Is(err, amqpsink.ErrBadRecord) {
		t.Fatalf("truncated value: error %v, want ErrBadRecord", err)
	}
}

func TestEventsAPIType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"push": "PushEvent", "pull_request": "PullRequestEvent", "issue_comment": "IssueCommentEvent",
		"pull_request_review_comment": "PullRequestReviewCommentEvent", "watch": "WatchEvent", "create": "CreateEvent",
	} {
		if got := amqpsink.EventsAPIType(in); got != want {
			t.Errorf("EventsAPIType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRIDType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"orn:github.issue:o/r:7": "orn:github.issue", "orn:github.repo:o/r": "orn:github.repo",
		"orn:koi-net.node:n+ab": "orn:koi-net.node", "odd": "odd", "a:b": "a:b",
	} {
		if got := amqpsink.RIDType(in); got != want {
			t.Errorf("RIDType(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBuildKeepsPayloadBytes: an event's payload reaches the exchange as
// GitHub sent it, in its member order and with its values' bytes (escapes
// included), less the envelope members; a decoder into a map would sort
// the members and re-escape the strings.
func TestBuildKeepsPayloadBytes(t *testing.T) {
	t.Parallel()
	ev := find(t, normalized(t, "issues", "issues.opened.json"), github.TypeEvent)
	tests := []struct {
		name, payload, want string
	}{
		{"order and escapes kept", `{"zeta":1,"sender":{"login":"s"},"alpha":"a\u00e9<\/","installation":{"id":4},"mid":[ 1 , 2 ]}`,
			`{"zeta":1,"alpha":"a\u00e9<\/","mid":[ 1 , 2 ]}`},
		{"only envelope members", `{"sender":null,"repository":{"id":1},"organization":{"id":2},"enterprise":{},"installation":{}}`, `{}`},
		{"empty", `{}`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := ev
			o.Contents = []byte(`{"webhook_event_type":"issues","action":"opened","repository":null,"payload":` + tt.payload + `}`)
			m, err := amqpsink.Build(record(t, o, koi.EventNew))
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(m.Body, &body); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, m.Body)
			}
			if got := string(body["payload"]); got != tt.want {
				t.Errorf("payload\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
