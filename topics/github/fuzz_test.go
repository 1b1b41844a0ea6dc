package github_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/koistream/koistream/topics/github"
)

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

// payloadSeeds are small payloads in the shapes webhooks have: nested
// objects, long plain strings (the validator's eight-byte fast path),
// escapes and non-ASCII text.
var payloadSeeds = []string{
	`{"zen":"Keep it logically awesome.","hook_id":1,"hook":{"type":"Repository","events":["push"],"active":true}}`,
	`{"ref":"refs/heads/main","commits":[{"id":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","message":"` + strings.Repeat("fix the pond sensor ", 20) + `"}],"repository":{"full_name":"o/r","private":false,"stargazers_count":0}}`,
	`{"action":"opened","issue":{"number":1,"title":"h\u00e9llo \"quoted\" \\ \/ \ud83d\ude00","body":null,"labels":[]}}`,
	"{\"title\":\"héllo 😀\",\"score\":1.0e-3}",
}

func FuzzDecodeBody(f *testing.F) {
	for _, p := range payloadSeeds {
		f.Add(ctJSON, []byte(p))
		f.Add(ctForm, []byte(url.Values{"payload": {p}}.Encode()))
	}
	f.Add("application/json; charset=utf-8", []byte(`{"a":[1,2,{"b":null}]}`))
	f.Add(ctForm, []byte("a=1&payload=%7B%7D&payload=x"))
	f.Add(ctJSON, []byte(`[{}]`))
	f.Add(ctJSON, []byte(`{"a":"\ud800"}`))
	f.Add("text/plain", []byte(`{}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		orig := bytes.Clone(body)
		payload, err := github.DecodeBody(contentType, body)
		if !bytes.Equal(body, orig) {
			t.Fatal("DecodeBody modified body")
		}
		extracted, xerr := github.ExtractPayload(contentType, body)
		if err != nil {
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			if xerr != nil && !errors.Is(xerr, github.ErrBadPayload) {
				t.Fatalf("ExtractPayload error %v does not wrap ErrBadPayload", xerr)
			}
			return
		}
		// Whatever DecodeBody accepts, ExtractPayload accepts the same.
		if xerr != nil || !bytes.Equal(extracted, payload) {
			t.Fatalf("ExtractPayload = %q, %v; DecodeBody gave %q", extracted, xerr, payload)
		}
		if !json.Valid(payload) || !utf8.Valid(payload) {
			t.Fatalf("payload is not valid JSON: %q", payload)
		}
		if p := bytes.TrimLeft(payload, " \t\r\n"); len(p) == 0 || p[0] != '{' {
			t.Fatalf("payload is not an object: %q", payload)
		}
	})
}

// FuzzCheckEvent: an accepted event name is 1 to 64 lowercase letters and
// underscores, and every refusal wraps ErrBadPayload.
func FuzzCheckEvent(f *testing.F) {
	for _, s := range []string{"push", "pull_request", "", "Push", "a-b", "évent", strings.Repeat("x", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, e string) {
		err := github.CheckEvent(e)
		if err != nil {
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			return
		}
		if e == "" || len(e) > 64 || strings.Trim(e, "abcdefghijklmnopqrstuvwxyz_") != "" {
			t.Fatalf("CheckEvent accepted %q", e)
		}
	})
}

// FuzzCheckDelivery: an accepted delivery id is one RID component, printable
// ASCII without space, ':' or '/'.
func FuzzCheckDelivery(f *testing.F) {
	for _, s := range []string{"72d3162e-cc78-11e3-81ab-4c9367dc0958", "", "a:b", "a/b", "a b", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d string) {
		err := github.CheckDelivery(d)
		if err != nil {
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			return
		}
		if d == "" || strings.ContainsAny(d, " :/") || strings.IndexFunc(d, func(r rune) bool { return r < '!' || r > '~' }) >= 0 {
			t.Fatalf("CheckDelivery accepted %q", d)
		}
	})
}
