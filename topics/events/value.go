package events

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/koi"
)

// Value is an events record's value taken apart by ParseValue: the members
// of the KOI event that koi.Event.AppendJSON wrote, with the manifest and
// the contents left as raw JSON so that they can be stored and served byte
// for byte.
type Value struct {
	// RID is the decoded rid member; empty when absent.
	RID string
	// EventType is the decoded event_type member; empty when absent. It is
	// not checked against NEW, UPDATE and FORGET.
	EventType koi.EventType
	// Manifest is the raw JSON of the manifest member, aliasing the parsed
	// bytes; nil when absent or null (koi-net 1.0 writes null for absent).
	Manifest []byte
	// Contents is the raw JSON of the contents member, aliasing the parsed
	// bytes; nil when absent or null.
	Contents []byte
}

// ParseValue takes apart the value of an events record without decoding
// its contents: it walks the top-level object, decoding rid and event_type
// and slicing the raw bytes of manifest and contents out of b. Other
// members are skipped; of a member given twice the last counts, as with
// encoding/json.
//
// It checks the structure: b must be one JSON object with nothing but
// whitespace around it, its keys strings, its values balanced and nested at
// most koi.MaxNestingDepth deep, and rid and event_type JSON strings in
// valid UTF-8. It does not validate the manifest and contents (strings,
// numbers, commas): the contents are the bulk of a record (whole webhook
// payloads) and were validated and hashed by ridify, which wrote the
// record, so re-validating every string of them here would only cost time:
// it was 18% of the pipeline's CPU when the cache projection did it. Nor
// does it check what the values mean (a valid RID, a known event type, a
// manifest for NEW and UPDATE): that is for the consumer. Errors wrap
// ErrInvalid.
//
// The returned slices alias b. The strings cost no allocation for the
// event types NEW, UPDATE and FORGET and one for the RID (two when its JSON
// has escapes, which koi.AppendString writes only for quotes, backslashes
// and control characters).
func ParseValue(b []byte) (Value, error) {
	var v Value
	i := jsonscan.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return v, fmt.Errorf("%w: value is not a JSON object", ErrInvalid)
	}
	i = jsonscan.SkipSpace(b, i+1)
	for i >= len(b) || b[i] != '}' {
		if i >= len(b) || b[i] != '"' {
			return v, fmt.Errorf("%w: expected a string for a member name", ErrInvalid)
		}
		ks := i
		ke := jsonscan.StringEnd(b, i+1)
		if ke < 0 {
			return v, fmt.Errorf("%w: unterminated member name", ErrInvalid)
		}
		i = jsonscan.SkipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return v, fmt.Errorf("%w: missing ':' after member name", ErrInvalid)
		}
		vs := jsonscan.SkipSpace(b, i+1)
		ve, err := jsonscan.ValueEnd(b, vs, koi.MaxNestingDepth)
		if err != nil {
			return v, fmt.Errorf("%w: value of %.80s: %w", ErrInvalid, b[ks:ke], err)
		}
		val := b[vs:ve]
		var nameBuf [16]byte
		switch string(memberName(nameBuf[:0], b[ks:ke])) {
		case "rid":
			s, err := stringValue(val)
			if err != nil {
				return v, fmt.Errorf("%w: rid: %w", ErrInvalid, err)
			}
			v.RID = string(s)
		case "event_type":
			s, err := stringValue(val)
			if err != nil {
				return v, fmt.Errorf("%w: event_type: %w", ErrInvalid, err)
			}
			v.EventType = eventType(s)
		case "manifest":
			v.Manifest = rawValue(val)
		case "contents":
			v.Contents = rawValue(val)
		}
		i = jsonscan.SkipSpace(b, ve)
		if i < len(b) && b[i] == ',' {
			i = jsonscan.SkipSpace(b, i+1)
			if i < len(b) && b[i] == '}' {
				return v, fmt.Errorf("%w: trailing comma", ErrInvalid)
			}
			continue
		}
		if i >= len(b) || b[i] != '}' {
			return v, fmt.Errorf("%w: expected ',' or '}'", ErrInvalid)
		}
	}
	if jsonscan.SkipSpace(b, i+1) != len(b) {
		return v, fmt.Errorf("%w: data after the object", ErrInvalid)
	}
	return v, nil
}

// memberName returns the name of the member whose quoted JSON name is
// quoted: the bytes between the quotes, or, when they hold escapes, their
// decoded value appended to buf. A name with malformed escapes is returned
// as it is and so matches no member ParseValue reads.
func memberName(buf, quoted []byte) []byte {
	raw := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(raw, '\\') < 0 || jsonscan.ValidStringEnd(quoted, 1) != len(quoted) {
		return raw
	}
	return jsonscan.AppendUnescaped(buf, raw)
}

// stringValue returns the decoded value of the JSON string val: the bytes
// between its quotes when it has no escapes (aliasing val), else a new
// slice.
func stringValue(val []byte) ([]byte, error) {
	if len(val) < 2 || val[0] != '"' || jsonscan.ValidStringEnd(val, 1) != len(val) {
		return nil, errNotString
	}
	raw := val[1 : len(val)-1]
	if !utf8.Valid(raw) {
		return nil, errNotUTF8
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw, nil
	}
	return jsonscan.AppendUnescaped(make([]byte, 0, len(raw)), raw), nil
}

var (
	errNotString = errors.New("not a JSON string")
	errNotUTF8   = errors.New("not valid UTF-8")
)

// eventType returns s as an event type, the constant without allocating
// when s is one of the three.
func eventType(s []byte) koi.EventType {
	switch string(s) {
	case string(koi.EventNew):
		return koi.EventNew
	case string(koi.EventUpdate):
		return koi.EventUpdate
	case string(koi.EventForget):
		return koi.EventForget
	}
	return koi.EventType(s)
}

// rawValue returns the raw JSON val, or nil for null.
func rawValue(val []byte) []byte {
	if string(val) == "null" {
		return nil
	}
	return val
}
