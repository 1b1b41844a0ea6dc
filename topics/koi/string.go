package koi

import "unicode/utf8"

// AppendString appends s to b as a JSON string escaped exactly as RFC 8785
// and pydantic print strings (only '"', '\\' and control characters are
// escaped; everything else is raw UTF-8), so what koistream writes is what a
// KOI-net peer re-prints. Invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		b = appendCanonicalRune(b, r)
		i += size
	}
	return append(b, '"')
}
