package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// testMaxDepth is the webhook parser's bound (koi.MaxNestingDepth).
const testMaxDepth = 10000

func TestValid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want bool
	}{
		{`{}`, true}, {` [ ] `, true}, {`{"a":[1,-0.5e+3,true,false,null,"x"]}`, true},
		{`"a long string with \"escapes\" \\ \/ \b\f\n\r\t \u00e9\uD83D\uDE00 and é"`, true},
		{`"\ud800"`, true}, // lone surrogate: allowed by the grammar, as encoding/json does
		{`{"a":{"b":{"c":[[[]]]}}}`, true}, {`0`, true}, {`-0`, true}, {`1E9`, true},
		{``, false}, {` `, false}, {`{`, false}, {`}`, false}, {`{"a"}`, false}, {`{"a":}`, false},
		{`{"a":1,}`, false}, {`[1,]`, false}, {`[1 2]`, false}, {`{"a":1 "b":2}`, false},
		{`{1:2}`, false}, {`01`, false}, {`1.`, false}, {`.5`, false}, {`1e`, false}, {`-`, false},
		{`+1`, false}, {`tru`, false}, {`nul`, false}, {`"abc`, false}, {"\"a\tb\"", false},
		{`"\x"`, false}, {`"\u12G4"`, false}, {`"\u12"`, false}, {"\"\xff\"", false},
		{`{} {}`, false}, {`[}`, false}, {`{]`, false}, {`{"a":1]`, false},
		{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), false},
	}
	for _, c := range cases {
		name := c.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := Valid([]byte(c.in), testMaxDepth); got != c.want {
				t.Fatalf("Valid(%q) = %v, want %v", c.in, got, c.want)
			}
			if c.want != reference([]byte(c.in)) && !strings.HasPrefix(c.in, "[[[") {
				t.Fatalf("case disagrees with encoding/json: fix the case")
			}
		})
	}
}

// reference is what Valid must answer: encoding/json's grammar, and
// UTF-8 throughout (encoding/json.Valid lets invalid UTF-8 in strings pass;
// webhook payloads are UTF-8 by GitHub's contract and precheck requires it).
func reference(b []byte) bool { return json.Valid(b) && utf8.Valid(b) }

// FuzzValid: Valid agrees with the reference on everything not
// nested deeper than maxDepth.
func FuzzValid(f *testing.F) {
	// A webhook-shaped seed: long plain strings take the eight-byte path.
	f.Add([]byte(`{"ref":"refs/heads/main","commits":[{"id":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","message":"` +
		strings.Repeat("fix the pond sensor ", 20) + `","author":{"name":"Koi","email":"koi@example.com"}}],"forced":false,"size":1.5e3}`))
	for _, s := range []string{`{"a":[1,2.5e-3,"x\u0041y"]}`, `"0123456789abcdef\"0123456789"`, `[-0,1E+2,{}]`, "\"\x01\"", `{"é":"😀"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if strings.Count(string(b), "[")+strings.Count(string(b), "{") > testMaxDepth {
			return
		}
		if got, want := Valid(b, testMaxDepth), reference(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}
