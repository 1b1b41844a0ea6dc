package replay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/replay"
	ghstage "github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// recordAt is the events record timestamp of the test records, with
// microseconds so that pubsub_timestamp's six decimals are all used.
var recordAt = time.Date(2026, 11, 28, 21, 0, 5, 123456789, time.UTC)

const (
	delivery     = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	wantSeconds  = "1795899605.123456"
	testCursorOf = 42
)

// toRecord is the Kafka record the producer writes for msg (see
// topics.recordFromMessage): the key from topics.RecordKey, the other
// metadata as headers.
func toRecord(msg *message.Message) *kgo.Record {
	rec := &kgo.Record{Topic: "koistream.events", Value: msg.Payload, Partition: 2, Offset: testCursorOf, Timestamp: recordAt}
	keys := make([]string, 0, len(msg.Metadata))
	for k := range msg.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: topics.UUIDHeader, Value: []byte(msg.UUID)})
	for _, k := range keys {
		if k == topics.RecordKey {
			rec.Key = []byte(msg.Metadata[k])
			continue
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(msg.Metadata[k])})
	}
	return rec
}

// eventRecord is the events record ridify writes for o: an event of type
// et (FORGET for a forget), o's provenance filled in when unset.
func eventRecord(t testing.TB, o observed.Observation, et koi.EventType) *kgo.Record {
	t.Helper()
	if o.Source == "" {
		o.Source, o.SourceKey, o.ReceivedAt = "github-webhook", delivery, recordAt.Add(-time.Second)
	}
	ev := koi.NewForgetEvent(o.RID)
	if o.Op == observed.OpUpsert {
		b, err := koi.NewBundle(o.RID, o.Contents, o.ReceivedAt)
		if err != nil {
			t.Fatal(err)
		}
		ev = koi.NewBundleEvent(et, b)
	}
	msg, err := events.NewMessage(ev, o)
	if err != nil {
		t.Fatal(err)
	}
	return toRecord(msg)
}

// webhook returns the observations stages/github makes of the fixture
// stages/github/testdata/<name>.json.
func webhook(t testing.TB, name string) []observed.Observation {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "stages", "github", "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	event, _, _ := strings.Cut(name, ".")
	obs, err := ghstage.Normalize(ghstage.Input{Event: event, Delivery: delivery, ContentType: "application/json", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

// find returns the observation of obs whose RID is rid.
func find(t testing.TB, obs []observed.Observation, rid string) observed.Observation {
	t.Helper()
	for _, o := range obs {
		if o.RID == rid {
			return o
		}
	}
	t.Fatalf("no observation of %s", rid)
	return observed.Observation{}
}

// decodeObject renders it with a cursor and decodes the object with
// encoding/json, numbers as json.Number. It checks the four pubsub members
// against it and wantPath, and returns the object without them.
func decodeObject(t testing.TB, it *replay.Item, wantPath string, wantTopics []string) (obj map[string]any, text []byte) {
	t.Helper()
	cursor := replay.NewCursor([]int64{0, 0, testCursorOf + 1}).String()
	text = it.AppendObject(nil, []byte(cursor))
	if i := bytes.IndexAny(text, "\r\n"); i >= 0 {
		t.Errorf("object has a line break at %d: %.200s", i, text[max(0, i-100):])
	}
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		t.Fatalf("object does not decode: %v\n%s", err, text)
	}
	if d.More() {
		t.Fatalf("data after the object: %s", text)
	}
	if got := obj["pubsub_path"]; got != wantPath {
		t.Errorf("pubsub_path = %v, want %q", got, wantPath)
	}
	gotTopics, _ := obj["pubsub_topics"].([]any)
	if len(gotTopics) != len(wantTopics) {
		t.Errorf("pubsub_topics = %v, want %q", obj["pubsub_topics"], wantTopics)
	} else {
		for i := range gotTopics {
			if gotTopics[i] != wantTopics[i] {
				t.Errorf("pubsub_topics = %v, want %q", gotTopics, wantTopics)
				break
			}
		}
	}
	if got, _ := obj["pubsub_timestamp"].(json.Number); got.String() != wantSeconds {
		t.Errorf("pubsub_timestamp = %v, want %s", obj["pubsub_timestamp"], wantSeconds)
	}
	if got := obj["pubsub_cursor"]; got != cursor {
		t.Errorf("pubsub_cursor = %v, want %q", got, cursor)
	}
	for _, k := range []string{"pubsub_path", "pubsub_topics", "pubsub_timestamp", "pubsub_cursor"} {
		delete(obj, k)
	}
	return obj, text
}

// decodeJSON decodes b as encoding/json does, numbers as json.Number.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

const (
	repo      = "koi-garden/pond-sensor"
	commitSHA = "6b1f53303a732ccc8c6aae6640399827c15250e3"
)

// TestNewItem renders events records made from real observations (the
// GitHub normalizer's of the webhook fixtures, a published payload, a
// KOI-net node) and checks every object decodes with encoding/json, has
// the shape its kind is shown in and the right pubsub members, and that
// the item's fields are right.
func TestNewItem(t *testing.T) {
	t.Parallel()
	push := webhook(t, "push.multiple-commits")
	opened := webhook(t, "issues.opened")
	deleted := webhook(t, "issues.deleted")

	published := observed.Observation{
		RID: "orn:pubsub.message:publish-0-17", Op: observed.OpUpsert, Routing: "evt.publish", Immutable: true,
		Source: "publish", SourceKey: "0-17", ReceivedAt: recordAt,
		Contents: []byte(`{"commit": {"project": "demo", "sha": "abc"}, "n": [1, 2.50, null], "s": "\u00e9\n"}`),
		Path:     "/git/demo/commit",
	}
	publishedEmpty := published
	publishedEmpty.Contents = []byte(`{ }`)
	node := observed.Observation{
		RID: "orn:koi-net.node:gosensor+ef322962b76773e3f75c5feb6dfedaee009dfaa279ecb2802d3208cf7c0f4d97", Op: observed.OpUpsert,
		Routing: "ent.koi-net.node", Source: "koi-net", SourceKey: "k-1", ReceivedAt: recordAt,
		Contents: []byte(`{"node_name":"gosensor","node_type":"FULL","base_url":"http://127.0.0.1:8000/koi-net","provides":{"event":[],"state":[]},"public_key":"AAAA"}`),
	}
	pushEvent := push[0]
	noPath := pushEvent
	noPath.Path = ""

	commitMsg := "Fix temperature rounding (°C → 0.1 precision)\n\nThe DS18B20 reports 1/16 °C steps; we printed \"21.0625\".\nCo-authored-by: Nadia Koivisto <nadia@koi-garden.example.org>"
	tests := []struct {
		name       string
		rec        *kgo.Record
		wantRID    string
		wantType   koi.EventType
		wantPath   string
		wantTopics []string
		wantKey    string
		// check looks at the object without the pubsub members; value is
		// the record's value.
		check func(t *testing.T, obj map[string]any, text, value []byte)
	}{
		{
			name: "push commit in GitPubSub shape", rec: eventRecord(t, find(t, push, "orn:github.commit:"+repo+":"+commitSHA), koi.EventNew),
			wantRID: "orn:github.commit:" + repo + ":" + commitSHA, wantType: koi.EventNew,
			wantPath: "/git/koi-garden/pond-sensor/commit", wantTopics: []string{"git", "koi-garden", "pond-sensor", "commit"},
			wantKey: "ent.commits.insert",
			check: func(t *testing.T, obj map[string]any, _, _ []byte) {
				want := map[string]any{
					"commit": map[string]any{
						"repository": "git", "project": repo, "hash": "6b1f533", "sha": commitSHA,
						"date": "2024-03-12T09:07:02Z", "authored": "2024-03-12T09:07:02Z", "commited": "2024-03-12T09:07:02Z",
						"author": "Tomasz Wiśniewski", "email": "3310872+tomasz-w@users.noreply.github.com",
						"committer": "Nadia Koivisto",
						"subject":   "Fix temperature rounding (°C → 0.1 precision)",
						"log":       commitMsg,
						"body":      "The DS18B20 reports 1/16 °C steps; we printed \"21.0625\".\nCo-authored-by: Nadia Koivisto <nadia@koi-garden.example.org>",
						"files":     []any{},
						"html_url":  "https://github.com/koi-garden/pond-sensor/commit/" + commitSHA,
					},
					"rid": "orn:github.commit:" + repo + ":" + commitSHA, "event_type": "NEW",
				}
				if !reflect.DeepEqual(obj, want) {
					t.Errorf("object\n got %v\nwant %v", obj, want)
				}
			},
		},
		{
			name: "push commit without a body, UPDATE", rec: eventRecord(t, find(t, push, "orn:github.commit:"+repo+":2f22765d04931a078909145ca628d2264c852d7d"), koi.EventUpdate),
			wantRID: "orn:github.commit:" + repo + ":2f22765d04931a078909145ca628d2264c852d7d", wantType: koi.EventUpdate,
			wantPath: "/git/koi-garden/pond-sensor/commit", wantTopics: []string{"git", "koi-garden", "pond-sensor", "commit"},
			wantKey: "ent.commits.update",
			check: func(t *testing.T, obj map[string]any, _, _ []byte) {
				c, _ := obj["commit"].(map[string]any)
				if c["subject"] != "Add turbidity sensor driver" || c["log"] != "Add turbidity sensor driver" || c["body"] != "" ||
					c["hash"] != "2f22765" || c["date"] != "2024-03-12T09:05:41Z" || obj["event_type"] != "UPDATE" {
					t.Errorf("commit %v", obj)
				}
			},
		},
		{
			name: "push event as stored", rec: eventRecord(t, pushEvent, koi.EventNew),
			wantRID: pushEvent.RID, wantType: koi.EventNew,
			wantPath: "/github/koi-garden/pond-sensor/push", wantTopics: []string{"github", "koi-garden", "pond-sensor", "push"},
			wantKey: "evt.push.insert", check: asStored,
		},
		{
			name: "push event without the path header", rec: eventRecord(t, noPath, koi.EventNew),
			wantRID: pushEvent.RID, wantType: koi.EventNew,
			wantPath: "/github/koi-garden/pond-sensor/push", wantTopics: []string{"github", "koi-garden", "pond-sensor", "push"},
			wantKey: "evt.push.insert", check: asStored,
		},
		{
			name: "push repository entity", rec: eventRecord(t, find(t, push, "orn:github.repo:"+repo), koi.EventUpdate),
			wantRID: "orn:github.repo:" + repo, wantType: koi.EventUpdate,
			wantPath: "/github/koi-garden/pond-sensor/repo", wantTopics: []string{"github", "koi-garden", "pond-sensor", "repo"},
			wantKey: "ent.repos.update", check: asStored,
		},
		{
			name: "issues event", rec: eventRecord(t, opened[0], koi.EventNew),
			wantRID: opened[0].RID, wantType: koi.EventNew,
			wantPath: "/github/koi-garden/pond-sensor/issues/opened", wantTopics: []string{"github", "koi-garden", "pond-sensor", "issues", "opened"},
			wantKey: "evt.issues.insert", check: asStored,
		},
		{
			name: "issue entity", rec: eventRecord(t, find(t, opened, "orn:github.issue:"+repo+":7"), koi.EventNew),
			wantRID: "orn:github.issue:" + repo + ":7", wantType: koi.EventNew,
			wantPath: "/github/koi-garden/pond-sensor/issue", wantTopics: []string{"github", "koi-garden", "pond-sensor", "issue"},
			wantKey: "ent.issues.insert", check: asStored,
		},
		{
			name: "issue FORGET", rec: eventRecord(t, find(t, deleted, "orn:github.issue:"+repo+":5"), koi.EventForget),
			wantRID: "orn:github.issue:" + repo + ":5", wantType: koi.EventForget,
			wantPath: "/github/koi-garden/pond-sensor/issue", wantTopics: []string{"github", "koi-garden", "pond-sensor", "issue"},
			wantKey: "ent.issues.delete",
			check: func(t *testing.T, obj map[string]any, text, value []byte) {
				asStored(t, obj, text, value)
				want := map[string]any{"rid": "orn:github.issue:" + repo + ":5", "event_type": "FORGET"}
				if !reflect.DeepEqual(obj, want) {
					t.Errorf("object %v, want %v", obj, want)
				}
			},
		},
		{
			name: "published payload", rec: eventRecord(t, published, koi.EventNew),
			wantRID: published.RID, wantType: koi.EventNew,
			wantPath: "/git/demo/commit", wantTopics: []string{"git", "demo", "commit"},
			wantKey: "evt.publish.insert",
			check: func(t *testing.T, obj map[string]any, text, _ []byte) {
				if want := decodeJSON(t, published.Contents); !reflect.DeepEqual(any(obj), want) {
					t.Errorf("object %v, want the published %v", obj, want)
				}
				if prefix := published.Contents[:len(published.Contents)-1]; !bytes.HasPrefix(text, prefix) {
					t.Errorf("object %s does not start with the published bytes %s", text, prefix)
				}
			},
		},
		{
			name: "published empty object", rec: eventRecord(t, publishedEmpty, koi.EventNew),
			wantRID: published.RID, wantType: koi.EventNew,
			wantPath: "/git/demo/commit", wantTopics: []string{"git", "demo", "commit"},
			wantKey: "evt.publish.insert",
			check: func(t *testing.T, obj map[string]any, _, _ []byte) {
				if len(obj) != 0 {
					t.Errorf("object %v, want only the pubsub members", obj)
				}
			},
		},
		{
			name: "KOI-net node, derived path", rec: eventRecord(t, node, koi.EventNew),
			wantRID: node.RID, wantType: koi.EventNew,
			wantPath: "/koi-net/node", wantTopics: []string{"koi-net", "node"},
			wantKey: "ent.koi-net.node.insert", check: asStored,
		},
		{
			name: "invalid path header, derived path", rec: withHeader(eventRecord(t, opened[0], koi.EventNew), observed.HeaderPath, "/a/../b"),
			wantRID: opened[0].RID, wantType: koi.EventNew,
			wantPath: "/github/koi-garden/pond-sensor/issues", wantTopics: []string{"github", "koi-garden", "pond-sensor", "issues"},
			wantKey: "evt.issues.insert", check: asStored,
		},
		{
			name: "commit with escapes and nulls", rec: eventRecord(t, observed.Observation{
				RID: "orn:github.commit:o/r:\u00e9", Op: observed.OpUpsert, Routing: "ent.commit", Path: "/git/o/r/commit",
				Contents: []byte("{\"sha\":\"\\u00e9abcdef0\",\"message\":\"Sub\\\"j\\r\\n \\t\\n\\nBody \\ud83d\\ude00\\u0001\",\"author\":{\"name\":\"A\\u0000B\"},\"committer\":null,\"timestamp\":null,\"html_url\":null}"),
			}, koi.EventNew),
			wantRID: "orn:github.commit:o/r:\u00e9", wantType: koi.EventNew,
			wantPath: "/git/o/r/commit", wantTopics: []string{"git", "o", "r", "commit"},
			wantKey: "ent.commits.insert",
			check: func(t *testing.T, obj map[string]any, _, _ []byte) {
				want := map[string]any{
					"commit": map[string]any{
						"repository": "git", "project": "o/r", "hash": "\u00e9abcde", "sha": "\u00e9abcdef0",
						"date": nil, "authored": nil, "commited": nil,
						"author": "A\x00B", "email": nil, "committer": nil,
						"subject": "Sub\"j", "log": "Sub\"j\r\n \t\n\nBody \U0001F600\x01", "body": "Body \U0001F600\x01",
						"files": []any{}, "html_url": nil,
					},
					"rid": "orn:github.commit:o/r:\u00e9", "event_type": "NEW",
				}
				if !reflect.DeepEqual(obj, want) {
					t.Errorf("object\n got %q\nwant %q", obj, want)
				}
			},
		},
		{
			name: "commit contents of another shape shown as stored", rec: eventRecord(t, observed.Observation{
				RID: "orn:github.commit:o/r:abc", Op: observed.OpUpsert, Routing: "ent.commit",
				Contents: []byte(`{"sha":7,"message":"m"}`),
			}, koi.EventNew),
			wantRID: "orn:github.commit:o/r:abc", wantType: koi.EventNew,
			wantPath: "/git/o/r/commit", wantTopics: []string{"git", "o", "r", "commit"},
			wantKey: "ent.commits.insert", check: asStored,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			it, err := replay.NewItem(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if it.RID != tt.wantRID || it.EventType != tt.wantType || it.Path != tt.wantPath || !slices.Equal(it.Topics, tt.wantTopics) ||
				it.Key != tt.wantKey || it.Partition != 2 || it.Offset != testCursorOf || !it.Timestamp.Equal(recordAt) {
				t.Errorf("item RID %s type %s path %s topics %q key %s at %d/%d %v\nwant RID %s type %s path %s topics %q key %s at 2/%d %v",
					it.RID, it.EventType, it.Path, it.Topics, it.Key, it.Partition, it.Offset, it.Timestamp,
					tt.wantRID, tt.wantType, tt.wantPath, tt.wantTopics, tt.wantKey, testCursorOf, recordAt)
			}
			if it.Size() <= len(tt.rec.Value)/2 {
				t.Errorf("Size %d for a value of %d bytes", it.Size(), len(tt.rec.Value))
			}
			obj, text := decodeObject(t, it, tt.wantPath, tt.wantTopics)
			tt.check(t, obj, text, tt.rec.Value)
		})
	}
}

// asStored checks an object is the KOI event JSON as stored: its bytes
// start with the value's but its closing brace (line breaks turned into
// spaces), and it decodes to the value's members.
func asStored(t *testing.T, obj map[string]any, text, value []byte) {
	t.Helper()
	flat := bytes.ReplaceAll(bytes.ReplaceAll(value, []byte("\n"), []byte(" ")), []byte("\r"), []byte(" "))
	if !bytes.HasPrefix(text, append(flat[:len(flat)-1:len(flat)-1], ',')) {
		t.Errorf("object does not start with the stored value\n got %.300s\nwant %.300s", text, value)
	}
	if want := decodeJSON(t, value); !reflect.DeepEqual(any(obj), want) {
		t.Errorf("object %.300v, want %.300v", obj, want)
	}
}

// withHeader returns rec with header k set to v.
func withHeader(rec *kgo.Record, k, v string) *kgo.Record {
	for i := range rec.Headers {
		if rec.Headers[i].Key == k {
			rec.Headers[i].Value = []byte(v)
			return rec
		}
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	return rec
}

// TestNewItemNotAnEvent checks records that are not events records are
// refused with ErrNotAnEvent.
func TestNewItemNotAnEvent(t *testing.T) {
	t.Parallel()
	opened := webhook(t, "issues.opened")
	good := func() *kgo.Record { return eventRecord(t, opened[0], koi.EventNew) }
	tests := []struct {
		name string
		rec  *kgo.Record
	}{
		{"no headers", &kgo.Record{Key: []byte("k"), Value: []byte(`{}`), Timestamp: recordAt}},
		{"no event type", withHeader(good(), events.HeaderEventType, "")},
		{"value not an object", func() *kgo.Record { r := good(); r.Value = []byte(`["rid"]`); return r }()},
		{"value not closed", func() *kgo.Record { r := good(); r.Value = r.Value[:len(r.Value)-1]; return r }()},
		{"value one brace", func() *kgo.Record { r := good(); r.Value = []byte(` { `); return r }()},
		{"key not the RID", func() *kgo.Record { r := good(); r.Key = []byte("orn:x:y"); return r }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			it, err := replay.NewItem(tt.rec)
			if !errors.Is(err, replay.ErrNotAnEvent) {
				t.Fatalf("NewItem = item %v, error %v; want ErrNotAnEvent", it != nil, err)
			}
		})
	}
}

// TestAppendSeconds checks the pubsub_timestamp form: six decimals,
// exact, negative times included.
func TestAppendSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Unix(1795368479, 117533700), "1795368479.117533"},
		{time.Unix(0, 0), "0.000000"},
		{time.Unix(1, 5000), "1.000005"},
		{time.Unix(-2, 500000000), "-1.500000"},
		{time.Unix(253402300799, 999999000), "253402300799.999999"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := string(replay.AppendSeconds(nil, tt.at)); got != tt.want {
				t.Errorf("AppendSeconds(%v) = %s, want %s", tt.at, got, tt.want)
			}
		})
	}
}

// BenchmarkNewItem renders one record of each kind: a push event (the
// bulk of a GitHub stream, several KB as stored), a commit (the one kind
// parsed), an issue entity, a FORGET, a published payload.
func BenchmarkNewItem(b *testing.B) {
	push := webhook(b, "push.multiple-commits")
	opened := webhook(b, "issues.opened")
	deleted := webhook(b, "issues.deleted")
	published := observed.Observation{
		RID: "orn:pubsub.message:publish-0-17", Op: observed.OpUpsert, Routing: "evt.publish", Immutable: true,
		Source: "publish", SourceKey: "0-17", ReceivedAt: recordAt,
		Contents: []byte(`{"commit": {"project": "demo", "sha": "abc", "log": "a message of some length"}}`), Path: "/git/demo/commit",
	}
	kinds := []struct {
		name string
		rec  *kgo.Record
	}{
		{"push-event", eventRecord(b, push[0], koi.EventNew)},
		{"commit", eventRecord(b, find(b, push, "orn:github.commit:"+repo+":"+commitSHA), koi.EventNew)},
		{"issue", eventRecord(b, find(b, opened, "orn:github.issue:"+repo+":7"), koi.EventUpdate)},
		{"forget", eventRecord(b, find(b, deleted, "orn:github.issue:"+repo+":5"), koi.EventForget)},
		{"published", eventRecord(b, published, koi.EventNew)},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(k.rec.Value)))
			for b.Loop() {
				if _, err := replay.NewItem(k.rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
