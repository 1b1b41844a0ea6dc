package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/koistream/koistream/topics/jsonscan"
)

// stringSeeds are string bodies with what can follow them: long plain runs
// for the eight-byte loops, every escape, surrogates, control characters.
var stringSeeds = []string{
	`abc"`, `a\"b"`, `\/\b\f\n\r\t\\"`, `\u00e9\ud83d\ude00\ud800x"`, `\u12G4"`, `\x"`, "a\x01\"",
	"h\u00e9llo \U0001F600\"", `fix the pond sensor fix the pond sensor \"quoted\" and more plain text"`, `a\`,
}

// FuzzStrings: ValidStringEnd ends a string exactly where encoding/json
// does and rejects what it rejects; StringEnd finds the same end, checking
// nothing; AppendUnescaped decodes as encoding/json does.
func FuzzStrings(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := append([]byte{'"'}, body...)
		end := jsonscan.StringEnd(in, 1)
		valid := jsonscan.ValidStringEnd(in, 1)
		if valid >= 0 && valid != end {
			t.Fatalf("ValidStringEnd(%q) = %d, StringEnd %d", in, valid, end)
		}
		if !utf8.Valid(in) {
			return // encoding/json lets invalid UTF-8 pass in strings; we check it apart
		}
		// A JSON string ends at its first unescaped quote, which StringEnd
		// finds: if a prefix of in is a string, it is in[:end].
		want := end >= 0 && json.Valid(in[:end])
		if (valid >= 0) != want {
			t.Fatalf("ValidStringEnd(%q) = %d, encoding/json says valid=%v", in, valid, want)
		}
		if want {
			var s string
			if err := json.Unmarshal(in[:end], &s); err != nil {
				t.Fatal(err)
			}
			if got := jsonscan.AppendUnescaped(nil, in[1:end-1]); string(got) != s {
				t.Fatalf("AppendUnescaped(%q) = %q, encoding/json %q", in[1:end-1], got, s)
			}
		}
	})
}

// FuzzPlainEnd: PlainEnd stops at the first byte that is not printable
// ASCII or is '"' or '\\', and nowhere else.
func FuzzPlainEnd(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add([]byte(s), 0)
	}
	f.Fuzz(func(t *testing.T, b []byte, i int) {
		if i < 0 || i > len(b) {
			return
		}
		want := i
		for want < len(b) && b[want] >= 0x20 && b[want] < 0x80 && b[want] != '"' && b[want] != '\\' {
			want++
		}
		if got := jsonscan.PlainEnd(b, i); got != want {
			t.Fatalf("PlainEnd(%q, %d) = %d, want %d", b, i, got, want)
		}
	})
}

// FuzzNumberEnd: NumberEnd takes the longest prefix that is a JSON number
// by encoding/json, unless a '.' or an exponent without digits follows it
// ("1.", "1e+"), which it rejects as the grammar does where a number must
// be followed by a delimiter.
func FuzzNumberEnd(f *testing.F) {
	for _, s := range []string{"0", "-0", "123,", "-1.5e+3]", "01", "1.", ".5", "1e", "-", "1E-07x", "1.5.5", "1e5.", "12345678901234567890.5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64 || len(b) > 0 && (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
			return // NumberEnd is called where a number must start
		}
		end, integer := jsonscan.NumberEnd(b, 0)
		longest := -1
		for k := 1; k <= len(b); k++ {
			// json.Valid allows whitespace after the value; a number
			// cannot contain any.
			if json.Valid(b[:k]) && !bytes.ContainsAny(b[:k], " \t\r\n") {
				longest = k
			}
		}
		want := longest
		if longest > 0 && longest < len(b) {
			switch next, n := b[longest], b[:longest]; {
			case next == '.' && !bytes.ContainsAny(n, ".eE"), (next == 'e' || next == 'E') && !bytes.ContainsAny(n, "eE"):
				want = -1
			}
		}
		if end != want {
			t.Fatalf("NumberEnd(%q) = %d, want %d", b, end, want)
		}
		if end >= 0 && integer == bytes.ContainsAny(b[:end], ".eE") {
			t.Fatalf("NumberEnd(%q) says integer=%v", b, integer)
		}
	})
}

// FuzzValueEnd: on a valid value followed by a delimiter, ValueEnd ends
// where encoding/json's decoder does; on anything else it does not panic,
// and it reports ErrTooDeep only for nesting encoding/json finds too deep
// as well.
func FuzzValueEnd(f *testing.F) {
	for _, s := range []string{
		`{"a":"}\"{","b":[1,{"c":null}]}`, `[[],[[]]]`, `"a\"b"`, `-1.5e3`, `true`, `{]`, `{"a":[}`,
		`{"body":"a long body with \"quotes\" and a backslash \\ and brackets ]]}}{{[[ inside","n":12345678901234}`,
		strings.Repeat("[", 6) + strings.Repeat("]", 6),
	} {
		f.Add([]byte(s))
	}
	const maxDepth = 5
	f.Fuzz(func(t *testing.T, b []byte) {
		end, err := jsonscan.ValueEnd(b, 0, maxDepth)
		if err == nil && (end <= 0 || end > len(b)) {
			t.Fatalf("ValueEnd(%q) = %d", b, end)
		}
		if !json.Valid(b) || len(b) == 0 || jsonscan.SkipSpace(b, 0) != 0 || b[len(b)-1] <= ' ' {
			return
		}
		depth, deepest := 0, 0
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = jsonscan.StringEnd(b, i+1) - 1
			case '{', '[':
				depth++
				deepest = max(deepest, depth)
			case '}', ']':
				depth--
			}
		}
		if deepest > maxDepth {
			if !errors.Is(err, jsonscan.ErrTooDeep) {
				t.Fatalf("ValueEnd(%q) = %d, %v; nested %d deep", b, end, err, deepest)
			}
			return
		}
		withComma := append(bytes.Clone(b), ',')
		if end, err := jsonscan.ValueEnd(withComma, 0, maxDepth); err != nil || end != len(b) {
			t.Fatalf("ValueEnd(%q) = %d, %v; want %d", withComma, end, err, len(b))
		}
	})
}
