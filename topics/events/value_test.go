package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
)

func TestParseValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"new", `{"rid":"orn:github.repo:o/r","event_type":"NEW","manifest":{"rid":"x"},"contents":{"a":"}\"{","b":[1,{"c":null}]}}`, true},
		{"forget", `{"rid":"orn:github.repo:o/r","event_type":"FORGET"}`, true},
		{"spaces and other order", ` { "contents" : {"k": "v"} , "event_type":"UPDATE", "rid": "orn:a:b" } `, true},
		{"escaped rid", `{"rid":"orn:a:\u00e9\"","event_type":"NEW"}`, true},
		{"surrogate pair in rid", `{"rid":"orn:a:\ud83d\ude00","event_type":"NEW"}`, true},
		{"escaped names", `{"r\u0069d":"orn:a:b","event_type":"N\u0045W","\u006danifest":{},"contents\u0000":1}`, true},
		{"null manifest and contents", `{"rid":"orn:a:b","event_type":"FORGET","manifest":null,"contents":null}`, true},
		{"unknown event type", `{"rid":"orn:a:b","event_type":"MOVE"}`, true},
		{"unknown members", `{"a":[1,{"b":2}],"rid":"orn:a:b","c":"d"}`, true},
		{"empty object", `{}`, true},
		{"not an object", `[1]`, false},
		{"empty", ``, false},
		{"trailing comma", `{"rid":"x",}`, false},
		{"unbalanced", `{"rid":"x","contents":{"a":[}`, false},
		{"unterminated string", `{"rid":"x`, false},
		{"unterminated name", `{"rid`, false},
		{"name not a string", `{rid:"x"}`, false},
		{"missing colon", `{"rid" "x"}`, false},
		{"missing comma", `{"rid":"x" "event_type":"NEW"}`, false},
		{"trailing data", `{"rid":"x"} {}`, false},
		{"truncated", `{"rid":"x","contents":{"a":1}`, false},
		{"rid not a string", `{"rid":1}`, false},
		{"rid single-quoted", `{"rid":'x'}`, false},
		{"rid with a Go escape", `{"rid":"\x41"}`, false},
		{"rid with a control character", "{\"rid\":\"a\x01\"}", false},
		{"rid not UTF-8", "{\"rid\":\"\xff\"}", false},
		{"event_type not a string", `{"event_type":null}`, false},
		{"too deep", `{"contents":` + strings.Repeat("[", koi.MaxNestingDepth+1) + strings.Repeat("]", koi.MaxNestingDepth+1) + `}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := events.ParseValue([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("ParseValue(%q) error %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, events.ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			checkAgainstStd(t, []byte(tt.in), v)
		})
	}
}

// TestParseValueAliases: manifest and contents are slices of the input, so
// that the cache stores them byte for byte without a copy.
func TestParseValueAliases(t *testing.T) {
	t.Parallel()
	in := []byte(`{"rid":"orn:a:b","event_type":"NEW","manifest":{"rid":"orn:a:b"},"contents":{ "k" : 1 }}`)
	v, err := events.ParseValue(in)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string][]byte{"manifest": v.Manifest, "contents": v.Contents} {
		i := bytes.Index(in, s)
		if len(s) == 0 || i < 0 || &in[i] != &s[0] {
			t.Errorf("%s %q does not alias the input", name, s)
		}
	}
}

// TestParseValueAllocations: a record costs one allocation, its RID: the
// event type is one of the three constants. The cache projection parses
// every record of the events topic.
func TestParseValueAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	in := benchEventRecord()
	if n := testing.AllocsPerRun(100, func() {
		if _, err := events.ParseValue(in); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("ParseValue allocates %v times a record, want 1", n)
	}
}

// checkAgainstStd compares ParseValue with encoding/json on the same input.
func checkAgainstStd(t *testing.T, in []byte, v events.Value) {
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
	// encoding/json keeps null as the RawMessage "null"; ParseValue
	// returns nil.
	for _, raw := range []*json.RawMessage{&std.Manifest, &std.Contents} {
		if string(*raw) == "null" {
			*raw = nil
		}
	}
	if std.RID != v.RID || std.EventType != string(v.EventType) ||
		!bytes.Equal(std.Manifest, v.Manifest) || !bytes.Equal(std.Contents, v.Contents) {
		t.Fatalf("ParseValue %+v differs from encoding/json %+v", v, std)
	}
}

// FuzzParseValue: never panics, and agrees with encoding/json on every
// input both accept as a single object. Any Kafka client can write the
// events topic, so its values are outside input.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{
		`{"rid":"orn:github.repo:o/r","event_type":"NEW","manifest":{"rid":"x"},"contents":{"a":"}\"{"}}`,
		`{"rid":"orn:a:b","event_type":"FORGET"}`, `{}`, `{"a":[1,2,{"b":"\\"}]}`,
		`{"r\u0069d":"orn:a:\ud83d\ude00","event_type":"N\u0045W","manifest":null}`,
		// Long runs exercise the eight-bytes-at-a-time scans.
		`{"rid":"orn:github.issue:o/r:1","event_type":"UPDATE","manifest":{"rid":"orn:github.issue:o/r:1","timestamp":"2025-01-02T03:04:05Z"},"contents":{"body":"a long body with \"quotes\" and a backslash \\ and brackets ]]}}{{[[ inside","labels":[["nested","arrays"],{"deeper":{"still":[1234567890,0.5]}}],"n":12345678901234}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := events.ParseValue(in)
		if err != nil {
			if !errors.Is(err, events.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(in, &obj) != nil {
			return
		}
		// encoding/json matches names case-insensitively (and by Unicode
		// folding: "contentſ" is contents); ParseValue matches them
		// exactly. Compare only where that makes no difference.
		for k := range obj {
			for _, m := range []string{"rid", "event_type", "manifest", "contents"} {
				if k != m && strings.EqualFold(k, m) {
					return
				}
			}
		}
		checkAgainstStd(t, in, v)
	})
}

// BenchmarkParseValue parses the value of a NEW event whose contents are a
// 9 kB push-like payload (short strings, URLs, nested objects, escapes),
// the shape of most records the cache applies.
func BenchmarkParseValue(b *testing.B) {
	in := benchEventRecord()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.ParseValue(in); err != nil {
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
