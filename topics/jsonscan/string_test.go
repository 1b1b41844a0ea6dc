package jsonscan_test

import (
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/jsonscan"
)

// long makes a string long enough for the eight-byte loops, with s at its
// end, so that each case is tried at both speeds.
func long(s string) string { return strings.Repeat("abcdefgh", 3) + s }

func TestPlainEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int // from 0
	}{
		{"", 0}, {"abc", 3}, {`ab"c`, 2}, {`ab\c`, 2}, {"ab\x1fc", 2}, {"ab\x7fc", 4},
		{"abé", 2}, {"ab\xffc", 2}, {"~ !", 3},
		{long(""), 24}, {long(`"`), 24}, {long("\x00"), 24}, {long("é") + "abcdefgh", 24},
		{strings.Repeat("a", 31) + `"`, 31},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := jsonscan.PlainEnd([]byte(tt.in), 0); got != tt.want {
				t.Errorf("PlainEnd(%q, 0) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestStringEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in  string // in holds a string body and what follows it
		end       int    // StringEnd's answer
		validEnd  int    // ValidStringEnd's
		unescaped string // AppendUnescaped of the body, when valid
	}{
		{"empty", `"`, 1, 1, ""},
		{"plain", `abc"x`, 4, 4, "abc"},
		{"unterminated", `abc`, -1, -1, ""},
		{"escaped quote", `a\"b"`, 5, 5, `a"b`},
		{"escaped backslash last", `a\\"`, 4, 4, `a\`},
		{"backslash at end", `a\`, -1, -1, ""},
		{"short escapes", `\/\b\f\n\r\t"`, 13, 13, "/\b\f\n\r\t"},
		{"unicode", `\u00e9\u00C9"`, 13, 13, "éÉ"},
		{"surrogate pair", `\ud83d\ude00"`, 13, 13, "😀"},
		{"lone high surrogate", `\ud83dx"`, 8, 8, "\uFFFDx"},
		{"high surrogate then escape", `\ud83d\n"`, 9, 9, "\uFFFD\n"},
		{"high surrogate then not low", `\ud83d\u0041"`, 13, 13, "\uFFFDA"},
		{"lone low surrogate", `\ude00"`, 7, 7, "\uFFFD"},
		{"two high surrogates", `\ud83d\ud83d\ude00"`, 19, 19, "\uFFFD😀"},
		{"bad escape", `\x"`, 3, -1, ""},
		{"short unicode", `\u12"`, 5, -1, ""},
		{"bad hex", `\u12G4"`, 7, -1, ""},
		{"control character", "a\tb\"", 4, -1, ""},
		{"DEL is plain", "a\x7fb\"", 4, 4, "a\x7fb"},
		{"UTF-8 not checked", "\xff\"", 2, 2, "\xff"},
		{"long plain", long(`"`), 25, 25, long("")},
		{"long escape", long(`\"`) + `"`, 27, 27, long(`"`)},
		{"long control", long("\x01\""), 26, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := []byte(tt.in)
			if got := jsonscan.StringEnd(b, 0); got != tt.end {
				t.Errorf("StringEnd(%q, 0) = %d, want %d", b, got, tt.end)
			}
			got := jsonscan.ValidStringEnd(b, 0)
			if got != tt.validEnd {
				t.Errorf("ValidStringEnd(%q, 0) = %d, want %d", b, got, tt.validEnd)
			}
			if got < 0 {
				return
			}
			if u := jsonscan.AppendUnescaped([]byte("x"), b[:got-1]); string(u) != "x"+tt.unescaped {
				t.Errorf("AppendUnescaped(x, %q) = %q, want %q", b[:got-1], u, "x"+tt.unescaped)
			}
		})
	}
}

func TestHex4(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		i    int
		want rune
		ok   bool
	}{
		{"00e9", 0, 0xe9, true}, {"FfFf", 0, 0xffff, true}, {`\uD83D`, 2, 0xd83d, true},
		{"12G4", 0, 0, false}, {"123", 0, 0, false}, {"1234", 1, 0, false}, {"1234", -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if r, ok := jsonscan.Hex4([]byte(tt.in), tt.i); r != tt.want || ok != tt.ok {
				t.Errorf("Hex4(%q, %d) = %#x, %v; want %#x, %v", tt.in, tt.i, r, ok, tt.want, tt.ok)
			}
		})
	}
}
