package koi_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

func TestEventJSON(t *testing.T) {
	m := koi.Manifest{RID: "orn:github.issue:o/r:7", Timestamp: "2025-01-02T03:04:05Z", SHA256Hash: "ab"}
	const mJSON = `{"rid":"orn:github.issue:o/r:7","timestamp":"2025-01-02T03:04:05Z","sha256_hash":"ab"}`
	tests := []struct {
		name string
		ev   koi.Event
		want string
	}{
		{"forget", koi.NewForgetEvent("orn:github.issue:o/r:7"), `{"rid":"orn:github.issue:o/r:7","event_type":"FORGET"}`},
		{"bundle", koi.NewBundleEvent(koi.EventNew, koi.Bundle{Manifest: m, Contents: json.RawMessage(`{"b":null,"a":1}`)}),
			`{"rid":"orn:github.issue:o/r:7","event_type":"NEW","manifest":` + mJSON + `,"contents":{"b":null,"a":1}}`},
		{"manifest only", koi.Event{RID: m.RID, EventType: koi.EventUpdate, Manifest: &m},
			`{"rid":"orn:github.issue:o/r:7","event_type":"UPDATE","manifest":` + mJSON + `}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("json.Marshal = %s, want %s", got, tc.want)
			}
			var back koi.Event
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != tc.want {
				t.Errorf("round trip = %s, want %s", again, tc.want)
			}
		})
	}
}

func TestEventUnmarshal(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantType   koi.EventType
		wantBundle bool
		want       string // re-marshalled form
		wantErr    error
	}{
		{"1.0 nulls", `{"rid":"orn:x:y","event_type":"FORGET","manifest":null,"contents":null}`, koi.EventForget, false, `{"rid":"orn:x:y","event_type":"FORGET"}`, nil},
		{"full", `{"rid":"orn:x:y","event_type":"NEW","manifest":{"rid":"orn:x:y","timestamp":"t","sha256_hash":"h"},"contents":{"k": [1, 2]}}`, koi.EventNew, true,
			`{"rid":"orn:x:y","event_type":"NEW","manifest":{"rid":"orn:x:y","timestamp":"t","sha256_hash":"h"},"contents":{"k":[1,2]}}`, nil},
		{"empty contents object", `{"rid":"orn:x:y","event_type":"UPDATE","manifest":{"rid":"orn:x:y","timestamp":"t","sha256_hash":"h"},"contents":{}}`, koi.EventUpdate, true,
			`{"rid":"orn:x:y","event_type":"UPDATE","manifest":{"rid":"orn:x:y","timestamp":"t","sha256_hash":"h"},"contents":{}}`, nil},
		{"unknown field ignored", `{"rid":"orn:x:y","event_type":"FORGET","extra":1}`, koi.EventForget, false, `{"rid":"orn:x:y","event_type":"FORGET"}`, nil},
		{"bad type", `{"rid":"orn:x:y","event_type":"DELETE"}`, "", false, "", koi.ErrInvalidEvent},
		{"lowercase type", `{"rid":"orn:x:y","event_type":"new"}`, "", false, "", koi.ErrInvalidEvent},
		{"missing rid", `{"event_type":"NEW"}`, "", false, "", koi.ErrInvalidEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev koi.Event
			err := json.Unmarshal([]byte(tc.in), &ev)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.EventType != tc.wantType {
				t.Errorf("EventType = %q, want %q", ev.EventType, tc.wantType)
			}
			if _, ok := ev.Bundle(); ok != tc.wantBundle {
				t.Errorf("Bundle() ok = %v, want %v", ok, tc.wantBundle)
			}
			got, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("re-marshalled = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestEventTypeValid(t *testing.T) {
	tests := []struct {
		t    koi.EventType
		want bool
	}{
		{koi.EventNew, true}, {koi.EventUpdate, true}, {koi.EventForget, true}, {"", false}, {"new", false},
	}
	for _, tc := range tests {
		t.Run(string(tc.t), func(t *testing.T) {
			if got := tc.t.Valid(); got != tc.want {
				t.Errorf("Valid() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEventAppendJSON pins the bytes of AppendJSON, which are the events
// topic's values: contents verbatim (whitespace and key order kept),
// strings escaped as pydantic prints them, and MarshalJSON the same bytes.
func TestEventAppendJSON(t *testing.T) {
	m := koi.Manifest{RID: "orn:github.issue:o/r:7", Timestamp: "2025-01-02T03:04:05.123456Z", SHA256Hash: "c823c275099e9446e747b73e2ba6b23593ef29c603b75d52649b502334e5ce17"}
	const mJSON = `{"rid":"orn:github.issue:o/r:7","timestamp":"2025-01-02T03:04:05.123456Z","sha256_hash":"c823c275099e9446e747b73e2ba6b23593ef29c603b75d52649b502334e5ce17"}`
	tests := []struct {
		name string
		ev   koi.Event
		want string
	}{
		{"forget", koi.NewForgetEvent("orn:github.issue:o/r:7"), `{"rid":"orn:github.issue:o/r:7","event_type":"FORGET"}`},
		{"contents verbatim", koi.NewBundleEvent(koi.EventNew, koi.Bundle{Manifest: m, Contents: []byte("{ \"b\": null,\n\"a\":1.0 }")}),
			`{"rid":"orn:github.issue:o/r:7","event_type":"NEW","manifest":` + mJSON + `,"contents":{ "b": null,` + "\n" + `"a":1.0 }}`},
		{"manifest only", koi.Event{RID: m.RID, EventType: koi.EventUpdate, Manifest: &m},
			`{"rid":"orn:github.issue:o/r:7","event_type":"UPDATE","manifest":` + mJSON + `}`},
		{"escapes as pydantic", koi.NewForgetEvent("orn:x:<a&b>\"é\"\u2028\x01"),
			`{"rid":"orn:x:<a&b>\"é\"` + "\u2028" + `\u0001","event_type":"FORGET"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.ev.AppendJSON(nil)); got != tc.want {
				t.Errorf("AppendJSON(nil) = %s, want %s", got, tc.want)
			}
			prefix := []byte("prefix ")
			if got := string(tc.ev.AppendJSON(prefix)); got != "prefix "+tc.want {
				t.Errorf("AppendJSON(prefix) = %s, want the prefix and %s", got, tc.want)
			}
			if got, err := tc.ev.MarshalJSON(); err != nil || string(got) != tc.want {
				t.Errorf("MarshalJSON = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestEventAppendJSONAllocatesOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	m := koi.Manifest{RID: "orn:github.issue:o/r:7", Timestamp: "2025-01-02T03:04:05Z", SHA256Hash: "ab"}
	ev := koi.NewBundleEvent(koi.EventNew, koi.Bundle{Manifest: m, Contents: []byte(`{"title":"` + strings.Repeat("x", 10000) + `"}`)})
	if n := testing.AllocsPerRun(100, func() { ev.AppendJSON(nil) }); n != 1 {
		t.Errorf("AppendJSON(nil) allocates %v times, want 1", n)
	}
}

// BenchmarkEventAppendJSON writes the events topic's value of a NEW event
// with a 9.7 kB push payload (testdata/push.json) as contents, as ridify does
// for every observation.
func BenchmarkEventAppendJSON(b *testing.B) {
	contents, err := os.ReadFile("testdata/push.json")
	if err != nil {
		b.Fatal(err)
	}
	m := koi.Manifest{RID: "orn:github.push:octo-org/hello-world:c441029cf673f84c8b7db52d0a5944ee5c52ff89", Timestamp: "2025-01-02T03:04:05.123456Z", SHA256Hash: "c823c275099e9446e747b73e2ba6b23593ef29c603b75d52649b502334e5ce17"}
	ev := koi.NewBundleEvent(koi.EventNew, koi.Bundle{Manifest: m, Contents: contents})
	b.SetBytes(int64(len(ev.AppendJSON(nil))))
	b.ReportAllocs()
	for b.Loop() {
		ev.AppendJSON(nil)
	}
}
