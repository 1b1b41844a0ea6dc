package koi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PayloadError is the error the Decode functions return for a body they
// refuse. Msg says what is wrong in the terms of the JSON the peer sent (the
// member, what it must be and what it is), never in Go's, so that an
// endpoint can answer it as it is. errors.Is reports ErrInvalidPayload for
// every PayloadError, ErrPayloadType when "type" names another payload, and
// ErrInvalidEvent when an event of an events_payload is not a valid event.
type PayloadError struct {
	// Payload is the payload type being decoded, such as PayloadTypeFetchRids.
	Payload string
	// Msg is what is wrong with the body, such as
	// `field "rid_types" must be an array of strings, got a string` or
	// `the body is not JSON: unexpected end at byte 17`.
	Msg string

	kind  error // ErrInvalidPayload or ErrPayloadType
	event error // ErrInvalidEvent or nil
}

// Error returns the sentinel's text, the payload type and Msg, such as
// `koi: invalid payload: decoding fetch_rids: field "rid_types" must be an
// array of strings, got a string`.
func (e *PayloadError) Error() string {
	return e.kind.Error() + ": decoding " + e.Payload + ": " + e.Msg
}

// Unwrap returns the sentinels e wraps: ErrInvalidPayload or ErrPayloadType,
// and ErrInvalidEvent for a bad event.
func (e *PayloadError) Unwrap() []error {
	if e.event != nil {
		return []error{e.kind, e.event}
	}
	return []error{e.kind}
}

// memberError reports a member of a decoded JSON object that a KOI-net type
// refuses after decoding it, such as an event without an RID. path is where
// the member is, relative to the value decoded, written as
// json.UnmarshalTypeError.Field writes it ("rid", "manifest.rid"), so that a
// caller holding the enclosing value can prefix it; reason says what is
// wrong, starting with a verb ("must be a non-empty string").
type memberError struct {
	sentinel error
	path     string
	reason   string
}

func (e *memberError) Error() string {
	return e.sentinel.Error() + ": " + memberMsg(e.path, e.reason)
}

func (e *memberError) Unwrap() error { return e.sentinel }

// invalidPayload returns the PayloadError for payload whose body b failed to
// decode with err. base is the path in b of the value whose decoding failed
// ("events.3"; "" for the body itself), in json.UnmarshalTypeError.Field's
// notation.
func invalidPayload(payload string, b []byte, base string, err error) *PayloadError {
	pe := &PayloadError{Payload: payload, kind: ErrInvalidPayload}
	var me *memberError
	if errors.As(err, &me) && errors.Is(me.sentinel, ErrInvalidEvent) {
		pe.event = ErrInvalidEvent
	}
	pe.Msg = describe(b, base, err)
	return pe
}

// notAnObject returns the PayloadError for a body b that does not start with
// '{', as every KOI-net payload must.
func notAnObject(payload string, b []byte) *PayloadError {
	pe := &PayloadError{Payload: payload, kind: ErrInvalidPayload}
	if len(bytes.TrimLeft(b, " \t\r\n")) == 0 {
		pe.Msg = "the body is empty; it must be a JSON object"
	} else if pe.Msg = syntaxProblem(b); pe.Msg == "" {
		v, _ := valueAt(b, "")
		pe.Msg = "the body must be a JSON object, got " + found(v)
	}
	return pe
}

// missingMember returns the PayloadError for a required member of payload,
// named field and of Go type t, that decoded to nothing: absent, or null.
func missingMember(payload string, b []byte, field string, t reflect.Type) *PayloadError {
	reason := "is required"
	// A peer that sent null did send the member; telling it the member is
	// missing would send it looking for a typo.
	if v, ok := valueAt(b, field); ok && v == nil {
		reason = "must be " + typeName(t) + ", got null"
	}
	return &PayloadError{Payload: payload, Msg: memberMsg(field, reason), kind: ErrInvalidPayload}
}

// wrongType returns the PayloadError for a "type" discriminator naming
// another payload than want.
func wrongType(want, got string) *PayloadError {
	return &PayloadError{
		Payload: want,
		Msg:     memberMsg("type", fmt.Sprintf("must be %q, got %s", want, quoteInput(got))),
		kind:    ErrPayloadType,
	}
}

// describe says what is wrong with the body b, whose value at base (see
// invalidPayload) failed to decode with err. Syntax comes first: a body that
// is not JSON is reported as such even where the decoder stopped at a type
// mismatch before reaching the broken part. Type mismatches are translated
// from the decoder's json.UnmarshalTypeError: its Field (the path, with
// array indices) and Type (what was expected); what was found is read from
// the body at that path, because segmentio's decoder fills Value with a
// slice of the input rather than encoding/json's "string", "number"....
func describe(b []byte, base string, err error) string {
	if msg := syntaxProblem(b); msg != "" {
		return msg
	}
	var me *memberError
	if errors.As(err, &me) {
		return memberMsg(joinPath(base, me.path), me.reason)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		path := joinPath(base, te.Field)
		v, ok := valueAt(b, path)
		return memberMsg(path, mismatch(te.Type, v, ok))
	}
	// Not reached by any body the fuzz tests found; said without the
	// decoder's words, which name Go types and quote raw input.
	return "the body is not a valid payload"
}

// unexpectedEnd is encoding/json's message for a text cut short, which is
// reported at its last byte.
const unexpectedEnd = "unexpected end of JSON input"

// syntaxProblem returns "" when b is JSON, and otherwise what is wrong with
// it and at which byte (counted from 1, as the webhook intake counts them),
// from encoding/json's SyntaxError: segmentio's decoder leaves its Offset
// at 0, puts the rest of the input in the message, and reports a trailing
// comma as an unexpected end.
func syntaxProblem(b []byte) string {
	if json.Valid(b) {
		return ""
	}
	var se *json.SyntaxError
	if err := json.Unmarshal(b, new(json.RawMessage)); !errors.As(err, &se) {
		return "the body is not JSON"
	}
	if strings.HasSuffix(se.Error(), "exceeded max depth") {
		// JSON, but beyond encoding/json's nesting limit, which this
		// description relies on; the decoder itself went deeper.
		return fmt.Sprintf("the body nests arrays and objects too deeply at byte %d", se.Offset)
	}
	if se.Error() == unexpectedEnd {
		return fmt.Sprintf("the body is not JSON: unexpected end at byte %d", len(b))
	}
	// Offset counts the bytes read, the one at fault last.
	return fmt.Sprintf("the body is not JSON: %s at byte %d", se.Error(), se.Offset)
}

// valueAt decodes the JSON text b and returns its value at path (in
// json.UnmarshalTypeError.Field's notation: member names and array indices
// joined by dots), with numbers as json.Number so that their text survives.
// ok is false when b is not JSON or has nothing at path. Where an object has
// a member twice, the last one is taken, as encoding/json does; the decoder
// may have failed on the first one, so callers compare before saying what
// they found.
func valueAt(b []byte, path string) (v any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if path == "" {
		return v, true
	}
	for _, c := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			if v, ok = x[c]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(c)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// mismatch says what a value of Go type t must be and, when known (ok), what
// v is instead.
func mismatch(t reflect.Type, v any, ok bool) string {
	want := "must be " + typeName(t)
	if !ok {
		return want
	}
	if n, isNum := v.(json.Number); isNum && isInteger(t) {
		// The number itself says what is wrong: a fraction, an exponent
		// or too many digits.
		if !strings.ContainsAny(string(n), ".eE") {
			lo, hi := intRange(t)
			want = "must be an integer from " + lo + " to " + hi
		}
		return want + ", got " + clip(string(n))
	}
	if jsonKind(t) == valueKind(v) {
		// A duplicated member whose last copy fits: the decoder failed on
		// an earlier copy, so what was found here would contradict it.
		return want
	}
	return want + ", got " + found(v)
}

// memberMsg is the message for the member at path (UnmarshalTypeError.Field
// notation; "" is the body itself) with reason.
func memberMsg(path, reason string) string {
	if path == "" {
		return "the body " + reason
	}
	return fmt.Sprintf("field %q %s", clientPath(path), reason)
}

// clientPath writes a path as a client would: "events.0.manifest.rid"
// becomes "events[0].manifest.rid". An all-digit step is an array index:
// the payloads' members are never named with digits alone, and their only
// maps are raw JSON the decoders do not look into.
func clientPath(path string) string {
	var sb strings.Builder
	for i, c := range strings.Split(path, ".") {
		switch {
		case c != "" && strings.Trim(c, "0123456789") == "":
			sb.WriteString("[" + c + "]")
		case i > 0:
			sb.WriteString("." + c)
		default:
			sb.WriteString(c)
		}
	}
	return sb.String()
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// typeName names what a JSON value decoded into t must be, with its
// article: "a string", "an array of strings".
func typeName(t reflect.Type) string {
	one, _ := typeNames(t)
	return one
}

// typeNames returns the JSON name of t, singular with its article and
// plural: ("an integer", "integers").
func typeNames(t reflect.Type) (one, many string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return "a JSON value", "JSON values"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string", "strings"
	case reflect.Bool:
		return "true or false", "booleans"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer", "integers"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer", "non-negative integers"
	case reflect.Float32, reflect.Float64:
		return "a number", "numbers"
	case reflect.Slice, reflect.Array:
		_, elems := typeNames(t.Elem())
		return "an array of " + elems, "arrays of " + elems
	case reflect.Struct, reflect.Map:
		return "an object", "objects"
	}
	return "a JSON value", "JSON values"
}

func isInteger(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// intRange returns the smallest and largest value of the integer type t.
func intRange(t reflect.Type) (lo, hi string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bits := t.Bits()
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "0", strconv.FormatUint(^uint64(0)>>(64-bits), 10)
	}
	return strconv.FormatInt(-1<<(bits-1), 10), strconv.FormatInt(1<<(bits-1)-1, 10)
}

// jsonKind is the kind of JSON value t decodes from ("string", "number",
// "boolean", "array", "object"), or "" when any value may do.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return ""
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	if isInteger(t) || t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64 {
		return "number"
	}
	return ""
}

// valueKind is jsonKind's counterpart for a value valueAt returned.
func valueKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

// found names a value valueAt returned as the peer would: "a string",
// "an array", "null", "true".
func found(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a JSON value"
}

// maxQuoted bounds how much of the peer's own input a message repeats.
const maxQuoted = 64

// quoteInput writes s, a string from the peer, as a JSON string, shortened
// to maxQuoted bytes with "…" after the closing quote when longer.
func quoteInput(s string) string {
	c, cut := clipped(s)
	q := string(AppendString(nil, c))
	if cut {
		q += "…"
	}
	return q
}

// clip shortens s to at most maxQuoted bytes, marking a cut with "…".
func clip(s string) string {
	if c, cut := clipped(s); cut {
		return c + "…"
	}
	return s
}

// clipped returns s shortened to at most maxQuoted bytes on a rune boundary,
// and whether it was cut.
func clipped(s string) (string, bool) {
	if len(s) <= maxQuoted {
		return s, false
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}
