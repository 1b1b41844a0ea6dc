package koi_test

import (
	"encoding/json"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

func TestMarshal(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"html chars raw", koi.NewRidsPayload([]string{"https://x/?a=1&b=<2>"}), `{"type":"rids_payload","rids":["https://x/?a=1&b=<2>"]}`},
		{"line separators raw", map[string]string{"k": "a\u2028b\u2029c"}, "{\"k\":\"a\u2028b\u2029c\"}"},
		{"escaped backslash before u2028 text", map[string]string{"k": `\u2028`}, `{"k":"\\u2028"}`},
		{"controls lowercase", map[string]string{"k": "\x01\x1f\n\t\b\f\r"}, `{"k":"\u0001\u001f\n\t\b\f\r"}`},
		{"quote and backslash", "\"\\", `"\"\\"`},
		{"non-ascii raw", "héllo 😀 \x7f", "\"héllo 😀 \x7f\""},
		{"raw contents html and separators", koi.Event{RID: "orn:x:y", EventType: koi.EventNew, Contents: json.RawMessage("{\"a\": \"<&>\u2028\", \"b\": 1.0}")},
			"{\"rid\":\"orn:x:y\",\"event_type\":\"NEW\",\"contents\":{\"a\":\"<&>\u2028\",\"b\":1.0}}"},
		{"raw contents escaped separators", koi.Event{RID: "orn:x:y", EventType: koi.EventNew, Contents: json.RawMessage(`{"a":"\u2028"}`)},
			"{\"rid\":\"orn:x:y\",\"event_type\":\"NEW\",\"contents\":{\"a\":\"\u2028\"}}"},
		{"nested payload in envelope", struct {
			Payload any `json:"payload"`
		}{koi.NewErrorResponse("a<b")}, `{"payload":{"type":"error_response","error":"a<b"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := koi.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Marshal = %q\nwant %q", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("Marshal output is not valid JSON")
			}
		})
	}
}

func TestMarshalError(t *testing.T) {
	if _, err := koi.Marshal(func() {}); err == nil {
		t.Error("Marshal(func) succeeded, want error")
	}
	if _, err := koi.Marshal(koi.Event{RID: "orn:x:y", EventType: koi.EventNew, Contents: json.RawMessage(`{bad`)}); err == nil {
		t.Error("Marshal with invalid raw contents succeeded, want error")
	}
}
