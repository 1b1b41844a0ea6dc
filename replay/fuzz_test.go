package replay_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/koistream/koistream/replay"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/streams"
)

// FuzzNewFilter checks NewFilter and Match never panic, that every
// alternative of an accepted path is a valid path, and that Match agrees
// with the textbook definitions (topic subsets, recursive AMQP matching)
// on any item. Seeds: testdata/fuzz/FuzzNewFilter and those added here.
func FuzzNewFilter(f *testing.F) {
	seeds := []struct{ path, key, itemPath, itemKey string }{
		{"/fruits/apples", "", "/fruits/apples/red", "evt.push.insert"},
		{"/a(", "#", "/ab", "a"},
		{"/json,/", "evt.#", "/jsonfoo", "evt"},
		{"/a/../b", "*.*.insert", "/a/b", "evt.push.insert"},
		{"%", "a.#.b", "/%", "a.x.y.b"},
		{"", "#.b.#.c", "/", "c.b"},
	}
	for _, s := range seeds {
		f.Add(s.path, s.key, s.itemPath, s.itemKey)
	}
	f.Fuzz(func(t *testing.T, path, key, itemPath, itemKey string) {
		flt, err := replay.NewFilter(path, key)
		if err != nil {
			return
		}
		var alts [][]string
		for alt := range strings.SplitSeq(path, ",") {
			tops, err := streams.Topics(alt)
			if err != nil {
				t.Fatalf("NewFilter(%q) accepted the invalid alternative %q: %v", path, alt, err)
			}
			alts = append(alts, tops)
		}
		if len(key) > replay.MaxKeyPatternLen {
			t.Fatalf("accepted a key pattern of %d bytes", len(key))
		}
		tops, err := streams.Topics(itemPath)
		if err != nil {
			tops = strings.Split(itemPath, "/") // Match must not care
		}
		it := &replay.Item{Topics: tops, Key: itemKey}
		got := flt.Match(it)
		want := key == "" || matchKeyReference(strings.Split(key, "."), words(itemKey))
		if want {
			want = false
			for _, alt := range alts {
				if subset(alt, tops) {
					want = true
					break
				}
			}
		}
		if got != want {
			t.Fatalf("NewFilter(%q, %q).Match(%q, %q) = %v, want %v", path, key, tops, itemKey, got, want)
		}
	})
}

func subset(sub, set []string) bool {
	for _, s := range sub {
		found := false
		for _, t := range set {
			found = found || s == t
		}
		if !found {
			return false
		}
	}
	return true
}

// FuzzItemObject renders events records of commits (kind even) and
// published payloads (kind odd) with fuzzed contents and path header, and
// checks that whenever NewItem succeeds the object decodes with
// encoding/json and carries the right pubsub members, and that it
// succeeds for every value ridify could have written (contents that are
// valid JSON). Seeds: testdata/fuzz/FuzzItemObject and those added here.
func FuzzItemObject(f *testing.F) {
	f.Add(uint8(0), []byte(`{"sha":"6b1f53303a732ccc8c6aae6640399827c15250e3","message":"Fix\n\n\nbody \u00e9\\","author":{"name":"T\u0000W","email":null},"committer":null,"timestamp":"2024-03-12T09:07:02Z","html_url":"h"}`), "/git/o/r/commit")
	f.Add(uint8(0), []byte(`{"sha":"ab","message":"\ud800 lone","author":{"name":"\"q\""},"committer":{"email":"x"}}`), "")
	f.Add(uint8(0), []byte(`{"sha":"ab","message":"ok","timestamp":5}`), "/a/../b")
	f.Add(uint8(0), []byte("{\"s\\u0068a\":\"x\xff\xfey\",\"message\":\"\xc3\"}"), "/x")
	f.Add(uint8(1), []byte(`{"commit": {"project": "demo", "sha": "abc"}}`), "/git/demo/commit")
	f.Add(uint8(1), []byte(` { } `), "/p")
	f.Add(uint8(1), []byte(`{"pubsub_path":"/evil","a":[1,{"b":"}"}]}`), "/p")
	f.Add(uint8(1), []byte(`[1,2]`), "/p")
	f.Fuzz(func(t *testing.T, kind uint8, contents []byte, path string) {
		if len(contents) == 0 || len(contents) > 8<<10 || !json.Valid(contents) {
			// ridify validated the contents of every record it wrote; the
			// size cap keeps the fuzzer's minimizing quick.
			return
		}
		rid, routing := "orn:github.commit:o/r:6b1f533", "ent.commit"
		if kind%2 == 1 {
			rid, routing = "orn:pubsub.message:p-1", "evt.publish"
		}
		o := observed.Observation{
			RID: rid, Op: observed.OpUpsert, Routing: routing, Source: "publish", SourceKey: "k",
			ReceivedAt: recordAt, Contents: contents,
		}
		wantPath := replay.PathOf(rid, routing)
		if path != "" && path[0] == '/' && streams.CheckPath(path) == nil {
			o.Path, wantPath = path, path
		}
		m := koi.Manifest{RID: rid, Timestamp: "2026-11-28T21:00:05Z", SHA256Hash: "00"}
		msg, err := events.NewMessage(koi.Event{RID: rid, EventType: koi.EventNew, Manifest: &m, Contents: contents}, o)
		if err != nil {
			t.Fatal(err)
		}
		rec := toRecord(msg)
		if path != o.Path {
			rec = withHeader(rec, observed.HeaderPath, path) // a header other writers may have set
		}
		it, err := replay.NewItem(rec)
		if err != nil {
			t.Fatalf("NewItem of a valid record: %v", err)
		}
		wantTopics, _ := streams.Topics(wantPath)
		obj, text := decodeObject(t, it, wantPath, wantTopics)
		if kind%2 == 1 && bytes.HasPrefix(bytes.TrimSpace(contents), []byte("{")) {
			want, _ := decodeJSON(t, contents).(map[string]any)
			for _, k := range []string{"pubsub_path", "pubsub_topics", "pubsub_timestamp", "pubsub_cursor"} {
				delete(want, k) // ours replace them, as PyPubSub's do
			}
			if !reflect.DeepEqual(obj, want) {
				t.Fatalf("published object %s is not %s with the pubsub members", text, contents)
			}
		} else if c, ok := obj["commit"].(map[string]any); ok && obj["manifest"] == nil {
			if c["repository"] != "git" || c["project"] != "o/r" || obj["rid"] != rid || obj["event_type"] != "NEW" {
				t.Fatalf("commit object %s", text)
			}
		} else if obj["rid"] != rid || obj["manifest"] == nil {
			t.Fatalf("object %s is neither a commit nor the stored event", text)
		}
	})
}
