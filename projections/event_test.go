package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

func TestSplitEvent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"new", `{"rid":"orn:github.repo:o/r","event_type":"NEW","manifest":{"rid":"x"},"contents":{"a":"}\"{","b":[1,{"c":null}]}}`, true},
		{"forget", `{"rid":"orn:github.repo:o/r","event_type":"FORGET"}`, true},
		{"spaces and other order", ` { "contents" : {"k": "v"} , "event_type":"UPDATE", "rid": "orn:a:b" } `, true},
		{"escaped rid", `{"rid":"orn:a:\u00e9\"","event_type":"NEW"}`, true},
		{"empty object", `{}`, true},
		{"not an object", `[1]`, false},
		{"trailing comma", `{"rid":"x",}`, false},
		{"unbalanced", `{"rid":"x","contents":{"a":[}`, false},
		{"unterminated string", `{"rid":"x`, false},
		{"missing colon", `{"rid" "x"}`, false},
		{"trailing data", `{"rid":"x"} {}`, false},
		{"truncated", `{"rid":"x","contents":{"a":1}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := splitEvent([]byte(c.in))
			if (err == nil) != c.ok {
				t.Fatalf("err %v, want ok=%v", err, c.ok)
			}
			if c.ok {
				checkAgainstStd(t, []byte(c.in), ev)
			}
		})
	}
}

// checkAgainstStd compares splitEvent with encoding/json on the same input.
func checkAgainstStd(t *testing.T, in []byte, ev eventRecord) {
	t.Helper()
	var std struct {
		RID       string          `json:"rid"`
		EventType string          `json:"event_type"`
		Manifest  json.RawMessage `json:"manifest"`
		Contents  json.RawMessage `json:"contents"`
	}
	if err := json.Unmarshal(in, &std); err != nil {
		return // encoding/json is stricter (it validates contents); nothing to compare
	}
	if std.RID != ev.RID || std.EventType != string(ev.EventType) ||
		!bytes.Equal(std.Manifest, ev.Manifest) || !bytes.Equal(std.Contents, ev.Contents) {
		t.Fatalf("splitEvent %+v differs from encoding/json %+v", ev, std)
	}
}

// FuzzSplitEvent: never panics, and agrees with encoding/json on every
// input both accept as a single object.
func FuzzSplitEvent(f *testing.F) {
	for _, s := range []string{
		`{"rid":"orn:github.repo:o/r","event_type":"NEW","manifest":{"rid":"x"},"contents":{"a":"}\"{"}}`,
		`{"rid":"orn:a:b","event_type":"FORGET"}`, `{}`, `{"a":[1,2,{"b":"\\"}]}`,
		// Long runs exercise the eight-bytes-at-a-time scans.
		`{"rid":"orn:github.issue:o/r:1","event_type":"UPDATE","manifest":{"rid":"orn:github.issue:o/r:1","timestamp":"2025-01-02T03:04:05Z"},"contents":{"body":"a long body with \"quotes\" and a backslash \\ and brackets ]]}}{{[[ inside","labels":[["nested","arrays"],{"deeper":{"still":[1234567890,0.5]}}],"n":12345678901234}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := splitEvent(in)
		if err != nil {
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(in, &obj) != nil {
			return
		}
		for _, k := range []string{"rid", "event_type", "manifest", "contents"} {
			// encoding/json matches keys case-insensitively and keeps the
			// last duplicate; compare only plain, unique keys.
			n := bytes.Count(in, []byte(`"`+k+`"`))
			if n > 1 || bytes.Count(bytes.ToLower(in), []byte(`"`+k+`"`)) != n {
				return
			}
		}
		checkAgainstStd(t, in, ev)
	})
}

// BenchmarkSplitEvent parses the value of a NEW event whose contents are a
// 9 kB push-like payload (short strings, URLs, nested objects, escapes), the
// shape of most records the cache applies.
func BenchmarkSplitEvent(b *testing.B) {
	in := benchEventRecord()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := splitEvent(in); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEventRecord returns a NEW event with a push-like payload of 20
// commits as contents.
func benchEventRecord() []byte {
	var c strings.Builder
	c.WriteString(`{"ref":"refs/heads/main","before":"9049f1265b7d61be4a8904a9a27120d2064dab3b","commits":[`)
	for i := range 20 {
		if i > 0 {
			c.WriteByte(',')
		}
		fmt.Fprintf(&c, `{"id":"%040d","distinct":true,"message":"fix the pond sensor's \"flaky\" reading\n\nsee #%d","timestamp":"2025-01-02T03:04:05Z","url":"https://github.com/octo-org/hello-world/commit/%040d","author":{"name":"Koi","email":"koi@example.com","username":"koi"},"added":[],"removed":[],"modified":["sensor/pond.go","sensor/pond_test.go"]}`, i, i, i)
	}
	c.WriteString(`],"repository":{"id":186853002,"full_name":"octo-org/hello-world","private":false,"stargazers_count":0,"topics":["koi","pond"],"pushed_at":1.7e9},"forced":false}`)
	m := koi.Manifest{RID: "orn:github.push:octo-org/hello-world:c441029cf673f84c8b7db52d0a5944ee5c52ff89", Timestamp: "2025-01-02T03:04:05.123456Z", SHA256Hash: "c823c275099e9446e747b73e2ba6b23593ef29c603b75d52649b502334e5ce17"}
	return koi.NewBundleEvent(koi.EventNew, koi.Bundle{Manifest: m, Contents: []byte(c.String())}).AppendJSON(nil)
}
