package github_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/koistream/koistream/stages/github"
	wire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/observed"
)

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

func FuzzNormalize(f *testing.F) {
	for _, td := range readTestdata(f) {
		f.Add(td.event, ctJSON, td.body)
	}
	// Small seeds let the fuzzer reach the interesting branches quickly.
	f.Add("push", ctJSON, []byte(`{"repository":{"full_name":"o/r","created_at":1,"topics":["a"]},"commits":[{"id":"1111111111111111111111111111111111111111","timestamp":"2020-01-01T00:00:00+01:00","author":{"name":"a","email":"b"}}],"head_commit":{"id":"2222222222222222222222222222222222222222"}}`))
	f.Add("issues", ctJSON, []byte(`{"action":"deleted","issue":{"number":1},"repository":{"full_name":"o/r"}}`))
	f.Add("issue_comment", ctJSON, []byte(`{"action":"created","issue":{"number":2,"pull_request":{}},"repository":{"full_name":"o/r"}}`))
	f.Add("pull_request", ctJSON, []byte(`{"action":"opened","pull_request":{"number":3,"head":{"ref":"a","sha":"b"},"labels":[{"name":"x"}]},"repository":{"full_name":"o/r"}}`))
	f.Add("repository", ctJSON, []byte(`{"action":"deleted","repository":{"full_name":"o/r"}}`))
	f.Add("installation", ctJSON, []byte(`{"installation":{"account":{"login":"a"}}}`))
	f.Add("x", ctForm, []byte(`payload=%7B%22sender%22%3A%7B%22login%22%3A%22s%22%7D%7D`))
	f.Fuzz(func(t *testing.T, event, contentType string, body []byte) {
		in := github.Input{Event: event, Delivery: delivery, ContentType: contentType, Body: body}
		orig := bytes.Clone(body)
		obs, err := github.Normalize(in)
		if !bytes.Equal(body, orig) {
			t.Fatal("Normalize modified body")
		}
		if err != nil {
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			if obs != nil {
				t.Fatal("observations returned with an error")
			}
			return
		}
		// Whatever Normalize accepts, DecodeBody accepts too.
		payload, err := wire.DecodeBody(contentType, body)
		if err != nil {
			t.Fatalf("Normalize accepted a body DecodeBody rejects: %v", err)
		}
		if len(obs) == 0 || !strings.HasPrefix(obs[0].RID, "orn:github.event:") || obs[0].Op != observed.OpUpsert {
			t.Fatalf("first observation is not the event: %+v", obs)
		}
		if !bytes.HasSuffix(obs[0].Contents, append(append([]byte(`"payload":`), payload...), '}')) {
			t.Fatal("event contents do not end with the payload")
		}
		for _, o := range obs {
			if o.RID == "" {
				t.Fatal("empty RID")
			}
			switch o.Op {
			case observed.OpUpsert:
				if !json.Valid(o.Contents) || !utf8.Valid(o.Contents) || o.Contents[0] != '{' {
					t.Fatalf("%s: contents are not a JSON object: %q", o.RID, o.Contents)
				}
				var m map[string]any
				if err := json.Unmarshal(o.Contents, &m); err != nil {
					t.Fatalf("%s: %v", o.RID, err)
				}
			case observed.OpForget:
				if o.Contents != nil {
					t.Fatalf("%s: forget with contents", o.RID)
				}
			default:
				t.Fatalf("%s: op %q", o.RID, o.Op)
			}
		}
		again, err := github.Normalize(in)
		if err != nil || !reflect.DeepEqual(obs, again) {
			t.Fatalf("second run differs (err %v)", err)
		}
	})
}

// BenchmarkNormalize measures a push with three commits (a fourth, the
// head commit, is deduplicated): "testdata" is the file as stored
// (pretty-printed), "compact" the same payload compacted the way GitHub
// delivers it, and "compact-ascii" that with non-ASCII characters written as
// \u escapes. The decoder has a fast path for payloads made only of
// printable ASCII, which "compact-ascii" takes and the others do not.
func BenchmarkNormalize(b *testing.B) {
	body := readFile(b, "push.multiple-commits.json")
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		body []byte
	}{
		{"testdata", body},
		{"compact", compact.Bytes()},
		{"compact-ascii", asciiJSON(compact.Bytes())},
	} {
		b.Run(bm.name, func(b *testing.B) {
			in := jsonInput("push", bm.body)
			b.SetBytes(int64(len(bm.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := github.Normalize(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// asciiJSON rewrites the non-ASCII characters of valid JSON text, which can
// only occur inside strings, as \u escapes.
func asciiJSON(src []byte) []byte {
	var out []byte
	for _, r := range string(src) {
		switch {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, "\\u%04x\\u%04x", r1, r2)
		default:
			out = fmt.Appendf(out, "\\u%04x", r)
		}
	}
	return out
}
