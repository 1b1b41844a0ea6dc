package projections

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/koistream/koistream/topics/koi"
)

// splitEvent takes a KOI event record apart without decoding its contents:
// it walks the top-level object, reading rid and event_type and slicing the
// raw bytes of manifest and contents. Contents are the bulk of a record
// (whole webhook payloads) and were validated and hashed by ridify, so
// re-validating every string of them here would only cost time (it was 18%
// of the pipeline's CPU). Structure is still checked: the record must be one
// object, keys must be strings, values must be balanced.
func splitEvent(b []byte) (ev eventRecord, err error) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return ev, errors.New("event record is not a JSON object")
	}
	i = skipWS(b, i+1)
	for i >= len(b) || b[i] != '}' {
		i = skipWS(b, i)
		ks, ke, err := scanString(b, i)
		if err != nil {
			return ev, fmt.Errorf("event record key: %w", err)
		}
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return ev, errors.New("event record: missing ':' after key")
		}
		i = skipWS(b, i+1)
		vs := i
		if i, err = skipValue(b, i); err != nil {
			return ev, fmt.Errorf("event record value of %s: %w", b[ks:ke], err)
		}
		val := b[vs:i]
		key := string(b[ks:ke])
		if bytes.IndexByte(b[ks:ke], '\\') >= 0 {
			if k, err := strconv.Unquote(key); err == nil {
				key = strconv.Quote(k)
			}
		}
		switch key {
		case `"rid"`:
			s, err := strconv.Unquote(string(val))
			if err != nil {
				return ev, fmt.Errorf("event record rid: %w", err)
			}
			ev.RID = s
		case `"event_type"`:
			s, err := strconv.Unquote(string(val))
			if err != nil {
				return ev, fmt.Errorf("event record event_type: %w", err)
			}
			ev.EventType = koi.EventType(s)
		case `"manifest"`:
			ev.Manifest = val
		case `"contents"`:
			ev.Contents = val
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == '}' {
				return ev, errors.New("event record: trailing comma")
			}
			continue
		}
		if i >= len(b) || b[i] != '}' {
			return ev, errors.New("event record: expected ',' or '}'")
		}
	}
	if skipWS(b, i+1) != len(b) {
		return ev, errors.New("event record: data after the object")
	}
	return ev, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// scanString returns the bounds of the string starting at i, quotes
// included. It looks at eight bytes at a time for a quote or a backslash:
// contents are most of a record and mostly plain text.
func scanString(b []byte, i int) (int, int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, errors.New("expected a string")
	}
	j := i + 1
	for {
		for j+8 <= len(b) && !quoteOrBackslash8(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		for j < len(b) && b[j] != '"' && b[j] != '\\' {
			j++
		}
		if j >= len(b) {
			return 0, 0, errors.New("unterminated string")
		}
		if b[j] == '"' {
			return i, j + 1, nil
		}
		j += 2 // skip the escaped character
		if j > len(b) {
			return 0, 0, errors.New("unterminated string")
		}
	}
}

// quoteOrBackslash8 reports whether one of the eight bytes of x is '"' or
// '\\' (the classic has-zero-byte test on x xor each of them).
func quoteOrBackslash8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q := x ^ (lo * '"')
	k := x ^ (lo * '\\')
	return ((q-lo)&^q|(k-lo)&^k)&hi != 0
}

// skipValue returns the index after the JSON value starting at i.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("missing value")
	}
	switch b[i] {
	case '"':
		_, e, err := scanString(b, i)
		return e, err
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			// Most bytes of a value are none of the six that matter here.
			for j+8 <= len(b) && !structural8(binary.LittleEndian.Uint64(b[j:])) {
				j += 8
			}
			if j >= len(b) {
				break
			}
			switch b[j] {
			case '"':
				_, e, err := scanString(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
				if depth > koi.MaxNestingDepth {
					return 0, errors.New("nested too deep")
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("unbalanced value")
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
			j++
		}
		if j == i {
			return 0, errors.New("missing value")
		}
		return j, nil
	}
}

// structural8 reports whether one of the eight bytes of x is '"', '{', '}',
// '[' or ']'. A backslash matters only inside strings, which scanString
// skips whole.
func structural8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	has := func(c byte) uint64 { v := x ^ (lo * uint64(c)); return (v - lo) &^ v }
	return (has('"')|has('{')|has('}')|has('[')|has(']'))&hi != 0
}
