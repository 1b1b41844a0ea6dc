package jsonscan

import (
	"encoding/binary"
	"unicode/utf8"
)

// The SWAR tests below use the classic has-zero-byte test: for v = x xor
// c repeated, (v - lo) &^ v has a byte's high bit set where that byte of x
// was c (and possibly above it, which only costs a slower byte loop, never
// a missed byte). x - lo*0x20 borrows, setting the high bit, in a byte below
// 0x20. Each reports on all eight bytes at once, so the loops that use them
// step eight bytes a time over plain text.
const (
	lo = 0x0101010101010101
	hi = 0x8080808080808080
)

// plainASCII8 reports whether all eight bytes of x are printable ASCII other
// than '"' and '\\': bytes a string holds verbatim in every encoding.
func plainASCII8(x uint64) bool {
	q := x ^ (lo * '"')
	k := x ^ (lo * '\\')
	special := (x - lo*0x20) | (q-lo)&^q | (k-lo)&^k
	return (x|special)&hi == 0
}

// plainString8 reports whether none of the eight bytes of x ends or escapes
// a string or is a control character: no '"', no '\\', none below 0x20.
// Bytes of 0x80 and above are plain (UTF-8 is checked separately), which
// &^ x masks out.
func plainString8(x uint64) bool {
	q := x ^ (lo * '"')
	k := x ^ (lo * '\\')
	special := (x - lo*0x20) | (q-lo)&^q | (k-lo)&^k
	return special&^x&hi == 0
}

// quoteOrBackslash8 reports whether one of the eight bytes of x is '"' or
// '\\'.
func quoteOrBackslash8(x uint64) bool {
	q := x ^ (lo * '"')
	k := x ^ (lo * '\\')
	return ((q-lo)&^q|(k-lo)&^k)&hi != 0
}

// isPlainASCII marks the bytes plainASCII8 accepts, for the tail shorter
// than eight bytes.
var isPlainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// PlainEnd returns the end of the run of plain bytes at b[i:]: the index of
// the first byte at or after i that is not printable ASCII or is '"' or
// '\\', or len(b). Those are the bytes a string copies verbatim when it is
// re-encoded (RFC 8785 canonical form, the JSON koi.AppendString writes), so
// a writer copies b[i:PlainEnd(b, i)] and looks only at the byte after it.
// It inlines.
func PlainEnd(b []byte, i int) int {
	for i+8 <= len(b) && plainASCII8(binary.LittleEndian.Uint64(b[i:])) {
		i += 8
	}
	for i < len(b) && isPlainASCII[b[i]] {
		i++
	}
	return i
}

// StringEnd returns the index after the closing quote of the string whose
// body starts at b[i] (just after its opening quote), or -1 if the string
// is not terminated. It checks nothing else: a backslash skips the byte
// after it whatever it is, and control characters and invalid UTF-8 pass.
// It is for input whose strings were validated before (an events record's
// contents, which ridify parsed and hashed) or will be by a decoder.
func StringEnd(b []byte, i int) int {
	for {
		for i+8 <= len(b) && !quoteOrBackslash8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return -1
		}
		if b[i] == '"' {
			return i + 1
		}
		i += 2 // the backslash and the byte it escapes
	}
}

// ValidStringEnd is StringEnd for input that is not trusted: it returns -1
// also for a control character (below 0x20) in the string or an escape
// RFC 8259 does not define (\" \\ \/ \b \f \n \r \t and \u with four hex
// digits are). Like encoding/json it accepts a \u escape of a lone
// surrogate, which the grammar allows. It does not check UTF-8: callers
// check their whole input at once with utf8.Valid, which is faster than
// string by string.
func ValidStringEnd(b []byte, i int) int {
	for {
		for i+8 <= len(b) && plainString8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := Hex4(b, i+2); !ok {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default:
			i++
		}
	}
}

// Hex4 decodes the four hexadecimal digits of a \u escape at b[i:i+4]
// (either case) and reports false if there are fewer than four or one is
// not a hex digit.
func Hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// AppendUnescaped appends the value of the string body raw (what lies
// between the quotes) with its escapes decoded, as encoding/json decodes
// it: a \u escape of a surrogate pair becomes the one character, and a
// \u escape of a lone surrogate becomes U+FFFD. raw must be a body
// ValidStringEnd accepts; other bytes, invalid UTF-8 included, are copied
// as they are.
func AppendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := Hex4(raw, i+2)
			i += 6
			switch {
			case r >= 0xD800 && r < 0xDC00:
				if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if lo, ok := Hex4(raw, i+2); ok && lo >= 0xDC00 && lo < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
						i += 6
						break
					}
				}
				r = utf8.RuneError
			case r >= 0xDC00 && r < 0xE000:
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}
