package koi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

// goWords are pieces of the decoders' own error texts (Go type names,
// struct descriptions, the decoder's prefix) that a peer must never see.
var goWords = []string{"Go ", "struct", "*string", "[]string", "koi.", "json:", "unmarshal", "reflect"}

// decodeErrorCases are bad bodies and what the decoders must say about
// them, in the terms of the JSON that was sent.
var decodeErrorCases = []struct {
	name   string
	decode func([]byte) (any, error)
	in     string
	msg    string
}{
	// Not an object, not JSON.
	{"empty", decodeFetchRids, ``, `the body is empty; it must be a JSON object`},
	{"whitespace", decodeFetchRids, " \r\n\t", `the body is empty; it must be a JSON object`},
	{"null", decodeFetchRids, `null`, `the body must be a JSON object, got null`},
	{"array", decodeFetchRids, `[]`, `the body must be a JSON object, got an array`},
	{"string", decodeFetchManifests, `"orn:x:y"`, `the body must be a JSON object, got a string`},
	{"number", decodeFetchBundles, `17`, `the body must be a JSON object, got a number`},
	{"boolean", decodeFetchBundles, `true`, `the body must be a JSON object, got true`},
	{"not JSON", decodeFetchRids, `not json`, `the body is not JSON: invalid character 'o' in literal null (expecting 'u') at byte 2`},
	{"cut short", decodeFetchRids, `{"rid_types":["a"`, `the body is not JSON: unexpected end at byte 17`},
	{"cut after a key", decodeFetchRids, `{"type":`, `the body is not JSON: unexpected end at byte 8`},
	{"array cut short", decodeFetchRids, `[1`, `the body is not JSON: unexpected end at byte 2`},
	{"trailing comma", decodeFetchBundles, `{"rids":["a"],}`, `the body is not JSON: invalid character '}' looking for beginning of object key string at byte 15`},
	{"unquoted key", decodeFetchManifests, `{rids:[]}`, `the body is not JSON: invalid character 'r' looking for beginning of object key string at byte 2`},
	{"trailing value", decodeFetchRids, `{} {}`, `the body is not JSON: invalid character '{' after top-level value at byte 4`},
	{"trailing garbage", decodeFetchRids, `{}x`, `the body is not JSON: invalid character 'x' after top-level value at byte 3`},
	{"control character in a string", decodeFetchRids, "{\"a\":\"\x01\"}", `the body is not JSON: invalid character '\x01' in string literal at byte 7`},
	{"bad escape", decodeFetchBundles, `{"rids":["\x"]}`, `the body is not JSON: invalid character 'x' in string escape code at byte 12`},
	// A syntax error is reported even where the decoder stopped earlier,
	// at a type mismatch.
	{"type mismatch then garbage", decodeFetchRids, `{"rid_types":5} x`, `the body is not JSON: invalid character 'x' after top-level value at byte 17`},
	{"nested too deeply", decodeFetchRids, `{"rid_types":5,"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, `the body nests arrays and objects too deeply at byte 10019`},
	{"broken contents", decodeBundlesPayload, `{"bundles":[{"manifest":{"rid":"a"},"contents":[}]}`, `the body is not JSON: invalid character '}' looking for beginning of value at byte 49`},

	// Members of the wrong JSON type.
	{"rid_types a string", decodeFetchRids, `{"rid_types":"orn:x"}`, `field "rid_types" must be an array of strings, got a string`},
	{"rid_types an object", decodeFetchRids, `{"rid_types":{}}`, `field "rid_types" must be an array of strings, got an object`},
	{"rid_types element a number", decodeFetchRids, `{"rid_types":["a",1]}`, `field "rid_types[1]" must be a string, got a number`},
	{"rid_types element an array", decodeFetchRids, `{"rid_types":[[]]}`, `field "rid_types[0]" must be a string, got an array`},
	{"type a number", decodeFetchRids, `{"type":1}`, `field "type" must be a string, got a number`},
	{"rids of numbers", decodeFetchManifests, `{"rids":[1,2]}`, `field "rids[0]" must be a string, got a number`},
	{"rids of booleans", decodeFetchManifests, `{"rid_types":null,"rids":[true]}`, `field "rids[0]" must be a string, got true`},
	{"rids a string", decodeFetchBundles, `{"rids":"orn:x:y"}`, `field "rids" must be an array of strings, got a string`},
	{"limit a string", decodePollEvents, `{"limit":"3"}`, `field "limit" must be an integer, got a string`},
	{"limit a fraction", decodePollEvents, `{"limit":1.5}`, `field "limit" must be an integer, got 1.5`},
	{"limit with an exponent", decodePollEvents, `{"limit":1e3}`, `field "limit" must be an integer, got 1e3`},
	{"limit too large", decodePollEvents, `{"limit":99999999999999999999}`, `field "limit" must be an integer from -9223372036854775808 to 9223372036854775807, got 99999999999999999999`},
	{"limit too small", decodePollEvents, `{"limit":-99999999999999999999}`, `field "limit" must be an integer from -9223372036854775808 to 9223372036854775807, got -99999999999999999999`},
	{"limit very long", decodePollEvents, `{"limit":` + strings.Repeat("1", 100) + `}`, `field "limit" must be an integer from -9223372036854775808 to 9223372036854775807, got ` + strings.Repeat("1", 64) + `…`},
	{"limit a boolean", decodePollEvents, `{"limit":true}`, `field "limit" must be an integer, got true`},
	{"rid an array", decodePollEvents, `{"rid":[]}`, `field "rid" must be a string, got an array`},
	{"manifests an object", decodeManifestsPayload, `{"manifests":{}}`, `field "manifests" must be an array of objects, got an object`},
	{"manifest rid a number", decodeManifestsPayload, `{"manifests":[{"rid":1}]}`, `field "manifests[0].rid" must be a string, got a number`},
	{"not_found of numbers", decodeManifestsPayload, `{"manifests":[],"not_found":[1]}`, `field "not_found[0]" must be a string, got a number`},
	{"bundle manifest an array", decodeBundlesPayload, `{"bundles":[{"manifest":[]}]}`, `field "bundles[0].manifest" must be an object, got an array`},
	{"deferred a string", decodeBundlesPayload, `{"bundles":[],"deferred":"x"}`, `field "deferred" must be an array of strings, got a string`},
	{"error a number", decodeErrorResponse, `{"error":5}`, `field "error" must be a string, got a number`},
	// The decoder fails on the first copy of a duplicated member; the
	// message says what is expected without claiming what the last copy
	// holds.
	{"duplicate member, last one bad", decodeFetchBundles, `{"rids":["a"],"rids":5}`, `field "rids" must be an array of strings, got a number`},
	{"duplicate member, first one bad", decodeFetchBundles, `{"rids":5,"rids":["a"]}`, `field "rids" must be an array of strings`},

	// Required members.
	{"rids missing", decodeFetchBundles, `{}`, `field "rids" is required`},
	{"rids in another case", decodeFetchBundles, `{"RIDS":[]}`, `field "rids" is required`},
	{"rids null", decodeFetchBundles, `{"rids":null}`, `field "rids" must be an array of strings, got null`},
	{"rids_payload without rids", decodeRidsPayload, `{"type":"rids_payload"}`, `field "rids" is required`},
	{"manifests missing", decodeManifestsPayload, `{"not_found":[]}`, `field "manifests" is required`},
	{"bundles missing", decodeBundlesPayload, `{"type":"bundles_payload"}`, `field "bundles" is required`},
	{"events null", decodeEventsPayload, `{"events":null}`, `field "events" must be an array of objects, got null`},
	{"error missing", decodeErrorResponse, `{"detail":[{"msg":"x"}]}`, `field "error" is required`},
	{"error null", decodeErrorResponse, `{"error":null}`, `field "error" must be a string, got null`},

	// The "type" discriminator.
	{"another payload", decodeFetchRids, `{"type":"fetch_bundles"}`, `field "type" must be "fetch_rids", got "fetch_bundles"`},
	{"type in capitals", decodeFetchRids, `{"type":"FETCH_RIDS"}`, `field "type" must be "fetch_rids", got "FETCH_RIDS"`},
	{"type with escapes", decodeFetchManifests, `{"type":"a\"\n<é>"}`, `field "type" must be "fetch_manifests", got "a\"\n<é>"`},
	{"type very long", decodeFetchBundles, `{"type":"` + strings.Repeat("x", 100) + `"}`, `field "type" must be "fetch_bundles", got "` + strings.Repeat("x", 64) + `"…`},

	// Events, named by their index.
	{"event a number", decodeEventsPayload, `{"events":[1]}`, `field "events[0]" must be an object, got a number`},
	{"event null", decodeEventsPayload, `{"events":[null]}`, `field "events[0].rid" must be a non-empty string`},
	{"events a string", decodeEventsPayload, `{"events":"x"}`, `field "events" must be an array of objects, got a string`},
	{"event rid a number", decodeEventsPayload, `{"events":[{"rid":5}]}`, `field "events[0].rid" must be a string, got a number`},
	{"event without rid", decodeEventsPayload, `{"events":[{"rid":"x","event_type":"NEW"},{"RID":"y","event_type":"NEW"}]}`, `field "events[1].rid" must be a non-empty string`},
	{"event type unknown", decodeEventsPayload, `{"events":[{"rid":"x","event_type":"new"}]}`, `field "events[0].event_type" must be "NEW", "UPDATE" or "FORGET", got "new"`},
	{"event type missing", decodeEventsPayload, `{"events":[{"rid":"x"}]}`, `field "events[0].event_type" must be "NEW", "UPDATE" or "FORGET"`},
	{"event manifest a number", decodeEventsPayload, `{"events":[{"rid":"x","event_type":"NEW","manifest":5}]}`, `field "events[0].manifest" must be an object, got a number`},
	{"event manifest rid a number", decodeEventsPayload, `{"events":[{"rid":"a","event_type":"NEW","manifest":{"rid":1}}]}`, `field "events[0].manifest.rid" must be a string, got a number`},
}

func TestDecodeErrorMessages(t *testing.T) {
	for _, tc := range decodeErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.decode([]byte(tc.in))
			pe, ok := errors.AsType[*koi.PayloadError](err)
			if !ok {
				t.Fatalf("error = %#v, want a *koi.PayloadError", err)
			}
			if pe.Msg != tc.msg {
				t.Errorf("Msg:\n got %s\nwant %s", pe.Msg, tc.msg)
			}
			if !errors.Is(err, koi.ErrInvalidPayload) {
				t.Errorf("error %v does not wrap ErrInvalidPayload", err)
			}
			if want := ": decoding " + pe.Payload + ": " + tc.msg; !strings.HasPrefix(err.Error(), "koi: invalid payload") || !strings.HasSuffix(err.Error(), want) {
				t.Errorf("Error() = %s, want koi: invalid payload…%s", err, want)
			}
			for _, w := range goWords {
				if strings.Contains(pe.Msg, w) {
					t.Errorf("Msg %q contains %q", pe.Msg, w)
				}
			}
		})
	}
}

// TestPayloadErrorWraps pins Error() and what each kind of PayloadError
// wraps.
func TestPayloadErrorWraps(t *testing.T) {
	tests := []struct {
		name     string
		decode   func([]byte) (any, error)
		in       string
		err      string
		is, isNt []error
	}{
		{"type mismatch", decodeFetchRids, `{"rid_types":"orn:x"}`,
			`koi: invalid payload: decoding fetch_rids: field "rid_types" must be an array of strings, got a string`,
			[]error{koi.ErrInvalidPayload}, []error{koi.ErrPayloadType, koi.ErrInvalidEvent}},
		{"wrong payload", decodeFetchBundles, `{"type":"fetch_rids","rids":[]}`,
			`koi: invalid payload: wrong type: decoding fetch_bundles: field "type" must be "fetch_bundles", got "fetch_rids"`,
			[]error{koi.ErrInvalidPayload, koi.ErrPayloadType}, []error{koi.ErrInvalidEvent}},
		{"bad event", decodeEventsPayload, `{"events":[{"rid":"orn:x:y","event_type":"NOPE"}]}`,
			`koi: invalid payload: decoding events_payload: field "events[0].event_type" must be "NEW", "UPDATE" or "FORGET", got "NOPE"`,
			[]error{koi.ErrInvalidPayload, koi.ErrInvalidEvent}, []error{koi.ErrPayloadType}},
		{"event of the wrong JSON type", decodeEventsPayload, `{"events":[{"rid":7}]}`,
			`koi: invalid payload: decoding events_payload: field "events[0].rid" must be a string, got a number`,
			[]error{koi.ErrInvalidPayload}, []error{koi.ErrPayloadType, koi.ErrInvalidEvent}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.decode([]byte(tc.in))
			if err == nil || err.Error() != tc.err {
				t.Fatalf("error:\n got %v\nwant %s", err, tc.err)
			}
			for _, s := range tc.is {
				if !errors.Is(err, s) {
					t.Errorf("error does not wrap %v", s)
				}
			}
			for _, s := range tc.isNt {
				if errors.Is(err, s) {
					t.Errorf("error wraps %v", s)
				}
			}
		})
	}
}

// TestEventUnmarshalErrorMessages checks that Event.UnmarshalJSON names the
// member at fault as the payload decoders do.
func TestEventUnmarshalErrorMessages(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"event_type":"NEW"}`, `koi: invalid event: field "rid" must be a non-empty string`},
		{`{"rid":"orn:x:y","event_type":"DELETE"}`, `koi: invalid event: field "event_type" must be "NEW", "UPDATE" or "FORGET", got "DELETE"`},
	}
	for _, tc := range tests {
		var ev koi.Event
		err := ev.UnmarshalJSON([]byte(tc.in))
		if err == nil || err.Error() != tc.want || !errors.Is(err, koi.ErrInvalidEvent) {
			t.Errorf("UnmarshalJSON(%s) = %v, want %s wrapping ErrInvalidEvent", tc.in, err, tc.want)
		}
	}
}

// FuzzDecodePayloads feeds every decoder arbitrary bodies: each refusal is
// a PayloadError wrapping ErrInvalidPayload whose message is one of the
// translated kinds, never the decoder's own words.
func FuzzDecodePayloads(f *testing.F) {
	for _, tc := range decodeErrorCases {
		f.Add([]byte(tc.in))
	}
	for _, s := range []string{
		`{}`, `{"type":"fetch_rids","rid_types":["orn:x"]}`, `{"events":[{"rid":"orn:x:y","event_type":"FORGET","manifest":null,"contents":null}]}`,
		`{"bundles":[{"manifest":{"rid":"a","timestamp":"t","sha256_hash":"h"},"contents":{"k":[1,{"x":null}]}}],"not_found":[],"deferred":[]}`,
		`{"limit":-0}`, `{"limit":1.0}`, `{"rids":[null]}`, `{"rids":["\ud800"]}`, "{\"rids\":[\"\xff\"]}", `{"Rids":5,"rids":[]}`,
	} {
		f.Add([]byte(s))
	}
	decoders := []func([]byte) (any, error){
		decodeFetchRids, decodeFetchManifests, decodeFetchBundles, decodePollEvents, decodeEventsPayload,
		decodeRidsPayload, decodeManifestsPayload, decodeBundlesPayload, decodeErrorResponse,
	}
	kinds := []string{"the body is empty", "the body is not JSON", "the body nests ", "the body must be a JSON object, got ", `field "`}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, decode := range decoders {
			_, err := decode(b)
			if err == nil {
				continue
			}
			pe, ok := errors.AsType[*koi.PayloadError](err)
			if !ok || !errors.Is(err, koi.ErrInvalidPayload) {
				t.Fatalf("%q: error %#v is not a PayloadError wrapping ErrInvalidPayload", b, err)
			}
			known := false
			for _, k := range kinds {
				known = known || strings.HasPrefix(pe.Msg, k)
			}
			if !known {
				t.Fatalf("%q: untranslated message %q", b, pe.Msg)
			}
			for _, w := range goWords {
				// A message may quote the body; only words the body
				// does not hold are the decoder's.
				if strings.Contains(pe.Msg, w) && !strings.Contains(string(b), w) {
					t.Fatalf("%q: message %q contains %q", b, pe.Msg, w)
				}
			}
		}
	})
}
