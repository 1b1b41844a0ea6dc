package koi

import (
	"bytes"
	"fmt"
)

// Marshal returns the compact JSON encoding of v as pydantic prints it
// (PROTOCOL.md section 3.1), for bodies that Python nodes re-serialize when
// checking signatures. It is encoding/json's encoding with two differences:
// '<', '>' and '&' are not HTML-escaped, and U+2028 and U+2029 are written as
// raw UTF-8 instead of \u2028 and \u2029. Raw JSON (json.RawMessage, such as
// Bundle and Event contents) is compacted but otherwise kept byte for byte,
// so numbers are not reformatted. Errors are encoding/json's, wrapped.
//
// json.Marshal on the types of this package produces the same bytes except
// for those escapes, which a Python verifier would undo (and so reject the
// signature).
func Marshal(v any) ([]byte, error) {
	b, err := encodeNoEscape(v)
	if err != nil {
		return nil, fmt.Errorf("koi: marshal: %w", err)
	}
	return unescapeLineSeparators(b), nil
}

// unescapeLineSeparators rewrites the escapes \u2028 and \u2029, which
// encoding/json always emits inside strings, as raw UTF-8. b must be valid
// JSON, so every backslash is inside a string and starts an escape.
func unescapeLineSeparators(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u202`)) {
		return b
	}
	out := b[:0] // in place: the output is never longer than the input
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' || i+1 >= len(b) {
			out = append(out, c)
			i++
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+5]) == "202" && (b[i+5] == '8' || b[i+5] == '9') {
			out = append(out, 0xE2, 0x80, 0xA8+(b[i+5]-'8'))
			i += 6
			continue
		}
		out = append(out, c, b[i+1])
		i += 2
	}
	return out
}
