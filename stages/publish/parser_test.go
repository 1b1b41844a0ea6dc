package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/koistream/koistream/stages/publish"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/observed"
	wire "github.com/koistream/koistream/topics/publish"
	"github.com/koistream/koistream/topics/raw"
)

// record builds the raw record the listener writes for body at path.
func record(t testing.TB, path string, body []byte) raw.Record {
	t.Helper()
	m, err := wire.NewMessage(wire.Input{Path: path, Remote: "127.0.0.1:5555", Body: body, UserAgent: "curl/8", ReceivedAt: time.Unix(1795368274, 0)})
	if err != nil {
		t.Fatalf("NewMessage: %v", err)
	}
	rec, err := raw.Parse(m)
	if err != nil {
		t.Fatalf("raw.Parse: %v", err)
	}
	return rec
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"compacted", "{\n  \"a\": [1, 2],\n  \"b\": {\"c\": \"d e\"}\n}\n", `{"a":[1,2],"b":{"c":"d e"}}`},
		{"pubsub members dropped", `{"pubsub_path":"/x","a":1,"pubsub_cursor":"c","pubsub_topics":[1],"b":2,"pubsub_timestamp":3}`, `{"a":1,"b":2}`},
		{"escaped reserved name dropped", `{"pubsub\u005fpath":1,"a":1}`, `{"a":1}`},
		{"nested pubsub kept", `{"x":{"pubsub_path":"/y"}}`, `{"x":{"pubsub_path":"/y"}}`},
		{"only reserved", `{"pubsub_x":1}`, `{}`},
		{"empty object", ` {} `, `{}`},
		{"duplicates kept", `{"a":1,"a":2}`, `{"a":1,"a":2}`},
		{"numbers unchanged", `{"n":1.50e+10,"m":-0.0}`, `{"n":1.50e+10,"m":-0.0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record(t, "/svn/commit", []byte(tt.body))
			obs, err := publish.Parse(context.Background(), rec)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(obs) != 1 {
				t.Fatalf("got %d observations, want 1", len(obs))
			}
			o := obs[0]
			if string(o.Contents) != tt.want {
				t.Errorf("contents %s, want %s", o.Contents, tt.want)
			}
			want := observed.Observation{
				RID: "orn:pubsub.message:" + rec.Key + "/svn/commit", Op: observed.OpUpsert, Contents: o.Contents,
				Routing: "evt.publish", Immutable: true, Path: "/svn/commit", PartitionKey: "/svn/commit",
			}
			if !reflect.DeepEqual(o, want) {
				t.Errorf("observation %+v, want %+v", o, want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, body := range []string{`[1]`, `"s"`, `1`, `null`, `true`, `{`, `{"a":1}x`, "{\"a\":\"\xff\"}", ` `} {
		t.Run(body, func(t *testing.T) {
			_, err := publish.Parse(context.Background(), record(t, "/a", []byte(body)))
			if !errors.Is(err, publish.ErrNotObject) {
				t.Fatalf("Parse(%q) = %v, want ErrNotObject", body, err)
			}
		})
	}
}

func TestRecordHeaders(t *testing.T) {
	rec := record(t, "/a/b", []byte(`{}`))
	if !wire.ValidKey(rec.Key) {
		t.Errorf("key %q is not a ULID", rec.Key)
	}
	for k, want := range map[string]string{
		raw.HeaderSource: "publish", wire.HeaderPath: "/a/b", wire.HeaderRemote: "127.0.0.1:5555",
		topics.HeaderPartitionKey: "/a/b", raw.HeaderUserAgent: "curl/8", raw.HeaderContentType: "application/json",
	} {
		if got := rec.Metadata.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	for _, p := range []string{"a", "/a/../b", "/a,b", "/a\x01"} {
		if _, err := wire.NewMessage(wire.Input{Path: p, Body: []byte(`{}`), ReceivedAt: time.Now()}); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("NewMessage path %q: %v, want ErrInvalid", p, err)
		}
	}
	rec.Metadata[wire.HeaderPath] = "/a/.."
	if _, err := publish.Parse(context.Background(), rec); !errors.Is(err, wire.ErrInvalid) {
		t.Errorf("Parse of a record with a bad path: %v, want ErrInvalid", err)
	}
}

// reference is Contents by encoding/json: ok false where it must refuse;
// otherwise the object's members as decoded, reserved ones removed.
func reference(body []byte) (map[string]any, bool) {
	if !utf8.Valid(body) || !json.Valid(body) {
		return nil, false
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	for k := range m {
		if strings.HasPrefix(k, publish.ReservedPrefix) {
			delete(m, k)
		}
	}
	return m, true
}

func FuzzContents(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":1}`, `{"pubsub_a":1,"b":[{"pubsub_c":2}]}`, "{ \"a\" :\t\"\\u00e9\" }", `{"a":"\ud800"}`, `nul`, `{"a":1,}`, `{"pubsub\u005f":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := publish.Contents(body)
		want, ok := reference(body)
		if !ok {
			if err == nil {
				t.Fatalf("Contents(%q) = %s, want a refusal", body, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("Contents(%q): %v, encoding/json accepts it", body, err)
		}
		var buf bytes.Buffer
		if json.Compact(&buf, got) != nil || !bytes.Equal(buf.Bytes(), got) {
			t.Fatalf("Contents(%q) = %s, not compact JSON", body, got)
		}
		gm, ok := reference(got)
		if !ok || !reflect.DeepEqual(gm, want) {
			t.Fatalf("Contents(%q) = %s, decodes to %v, want %v", body, got, gm, want)
		}
		if bytes.Contains(got, []byte(`"pubsub_`)) && len(gm) == len(want) {
			// A reserved name may still appear inside nested values.
			var top map[string]json.RawMessage
			_ = json.Unmarshal(got, &top)
			for k := range top {
				if strings.HasPrefix(k, publish.ReservedPrefix) {
					t.Fatalf("Contents(%q) = %s keeps %q", body, got, k)
				}
			}
		}
	})
}
