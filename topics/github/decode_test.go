package github_test

import (
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/github"
)

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	const obj = `{"zen":"Non-blocking is better than blocking.","hook_id":1}`
	form := url.Values{"payload": {obj}}.Encode()
	tests := []struct {
		name, contentType, body, want string
	}{
		{"json", "application/json", obj, obj},
		{"json upper case", "Application/JSON", obj, obj},
		{"json charset", "application/json; charset=utf-8", obj, obj},
		{"json spaces", " application/json ;charset=UTF-8", obj, obj},
		{"json whitespace kept", "application/json", "\n " + obj + " \n", "\n " + obj + " \n"},
		{"form", "application/x-www-form-urlencoded", form, obj},
		{"form charset", "application/x-www-form-urlencoded; charset=utf-8", form, obj},
		{"form other fields", "application/x-www-form-urlencoded", "a=%zz&" + form + "&payload=%7B%7D", obj},
		{"form escaped key", "application/x-www-form-urlencoded", "pay%6Coad=" + url.QueryEscape(obj), obj},
		{"form plus is space", "application/x-www-form-urlencoded", "payload=%7B%22a%22:+%22b+c%22%7D", `{"a": "b c"}`},
		{"brackets in strings are not nesting", "application/json", `{"a":"` + strings.Repeat("[", 10001) + `"}`, `{"a":"` + strings.Repeat("[", 10001) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, decode := range decoders {
				got, err := decode.fn(tt.contentType, []byte(tt.body))
				if err != nil {
					t.Fatalf("%s: %v", decode.name, err)
				}
				if string(got) != tt.want {
					t.Errorf("%s: got %q, want %q", decode.name, got, tt.want)
				}
			}
		})
	}
}

// decoders are the two ways to get a payload out of a body: they agree on
// every body DecodeBody accepts.
var decoders = []struct {
	name string
	fn   func(string, []byte) ([]byte, error)
}{
	{"DecodeBody", github.DecodeBody},
	{"ExtractPayload", github.ExtractPayload},
}

func TestDecodeBodyJSONAliasesBody(t *testing.T) {
	t.Parallel()
	body := []byte(`{"a":1}`)
	for _, decode := range decoders {
		got, err := decode.fn("application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		if &got[0] != &body[0] {
			t.Errorf("%s: application/json payload is a copy, documented to alias body", decode.name)
		}
	}
}

func TestDecodeBodyErrors(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	tests := []struct {
		name, contentType, body string
		unsupported             bool // the error also wraps ErrUnsupportedContentType
		syntax                  bool // only the full validation finds it
	}{
		{"no content type", "", `{}`, true, false},
		{"text/plain", "text/plain", `{}`, true, false},
		{"multipart", "multipart/form-data; boundary=x", `{}`, true, false},
		{"json suffix type", "application/vnd.github+json", `{}`, true, false},
		{"form without payload", "application/x-www-form-urlencoded", "a=1&b=2", false, false},
		{"empty form", "application/x-www-form-urlencoded", "", false, false},
		{"form bad escape", "application/x-www-form-urlencoded", "payload=%7B%7", false, false},
		{"form payload not json", "application/x-www-form-urlencoded", "payload=hello", false, false},
		{"empty", "application/json", "", false, false},
		{"whitespace", "application/json", " \n", false, false},
		{"array", "application/json", `[{}]`, false, false},
		{"string", "application/json", `"{}"`, false, false},
		{"null", "application/json", `null`, false, false},
		{"number", "application/json", `1`, false, false},
		{"truncated", "application/json", `{"zen":"x","hook":{"id":1`, false, true},
		{"two objects", "application/json", `{} {}`, false, true},
		{"trailing garbage", "application/json", `{}x`, false, true},
		{"invalid utf-8", "application/json", "{\"zen\":\"\xff\"}", false, false},
		{"control character", "application/json", "{\"zen\":\"a\x01b\"}", false, true},
		{"too deep", "application/json", `{"a":` + deep + `}`, false, false},
		{"too deep and unterminated", "application/json", `{"a":` + deep[:10001], false, false},
		// The decoder stops at the end of the object and rejects what
		// follows without descending into it.
		{"too deep after the object", "application/json", `{}` + deep, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := github.DecodeBody(tt.contentType, []byte(tt.body))
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("DecodeBody error %v does not wrap ErrBadPayload", err)
			}
			if got := errors.Is(err, github.ErrUnsupportedContentType); got != tt.unsupported {
				t.Errorf("DecodeBody error %v: wraps ErrUnsupportedContentType = %v, want %v", err, got, tt.unsupported)
			}
			_, err = github.ExtractPayload(tt.contentType, []byte(tt.body))
			if tt.syntax {
				if err != nil {
					t.Errorf("ExtractPayload error %v; syntax is left to the parser's decoder", err)
				}
				return
			}
			if !errors.Is(err, github.ErrBadPayload) {
				t.Errorf("ExtractPayload error %v does not wrap ErrBadPayload", err)
			}
		})
	}
}

// BenchmarkDecodeBody is the webhook handler's check of every body: a 9.7 kB
// push payload (testdata/push.json) extracted, prechecked and validated.
func BenchmarkDecodeBody(b *testing.B) {
	body, err := os.ReadFile("testdata/push.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := github.DecodeBody("application/json", body); err != nil {
			b.Fatal(err)
		}
	}
}
