package koi_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/koistream/koistream/topics/koi"
)

// rfc8785Numbers is RFC 8785 Appendix B: IEEE-754 bit patterns and their
// canonical serialization. NaN and Infinity (empty expectation) cannot occur
// in JSON text and are tested as rejected input instead.
var rfc8785Numbers = []struct {
	bits string
	want string
}{
	{"0000000000000000", "0"},
	{"8000000000000000", "0"},
	{"0000000000000001", "5e-324"},
	{"8000000000000001", "-5e-324"},
	{"7fefffffffffffff", "1.7976931348623157e+308"},
	{"ffefffffffffffff", "-1.7976931348623157e+308"},
	{"4340000000000000", "9007199254740992"},
	{"c340000000000000", "-9007199254740992"},
	{"4430000000000000", "295147905179352830000"},
	{"7fffffffffffffff", ""}, // NaN
	{"7ff0000000000000", ""}, // Infinity
	{"44b52d02c7e14af5", "9.999999999999997e+22"},
	{"44b52d02c7e14af6", "1e+23"},
	{"44b52d02c7e14af7", "1.0000000000000001e+23"},
	{"444b1ae4d6e2ef4e", "999999999999999700000"},
	{"444b1ae4d6e2ef4f", "999999999999999900000"},
	{"444b1ae4d6e2ef50", "1e+21"},
	{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
	{"3eb0c6f7a0b5ed8d", "0.000001"},
	{"41b3de4355555553", "333333333.3333332"},
	{"41b3de4355555554", "333333333.33333325"},
	{"41b3de4355555555", "333333333.3333333"},
	{"41b3de4355555556", "333333333.3333334"},
	{"41b3de4355555557", "333333333.33333343"},
	{"becbf647612f3696", "-0.0000033333333333333333"},
	{"43143ff3c1cb0959", "1424953923781206.2"},
}

func TestCanonicalizeRFC8785Numbers(t *testing.T) {
	for _, tc := range rfc8785Numbers {
		t.Run(tc.bits, func(t *testing.T) {
			raw, err := hex.DecodeString(tc.bits)
			if err != nil {
				t.Fatal(err)
			}
			f := math.Float64frombits(binary.BigEndian.Uint64(raw))
			if tc.want == "" {
				if !math.IsNaN(f) && !math.IsInf(f, 0) {
					t.Fatalf("row without expectation must be NaN or Inf, got %v", f)
				}
				return
			}
			// Feed the value in several JSON spellings: Go's shortest,
			// exponent form with 17 digits, and the expected text itself.
			inputs := []string{
				strconv.FormatFloat(f, 'g', -1, 64),
				strconv.FormatFloat(f, 'e', 16, 64),
				tc.want,
			}
			for _, in := range inputs {
				got, err := koi.Canonicalize(nil, []byte(in))
				if err != nil {
					t.Fatalf("Canonicalize(%s): %v", in, err)
				}
				if string(got) != tc.want {
					t.Errorf("Canonicalize(%s) = %s, want %s", in, got, tc.want)
				}
			}
		})
	}
}

// canonicalNumbers are number spellings and their RFC 8785 form.
var canonicalNumbers = []struct {
	in, want string
}{
	{"1.0", "1"},
	{"1e16", "10000000000000000"},
	{"1e21", "1e+21"},
	{"1e20", "100000000000000000000"},
	{"-0", "0"},
	{"-0.0", "0"},
	{"0e10", "0"},
	{"1e-7", "1e-7"},
	{"0.000001", "0.000001"},
	{"0.0000001", "1e-7"},
	{"1.5e-7", "1.5e-7"},
	{"9007199254740993", "9007199254740992"},
	{"123456789012345678901234567890", "1.2345678901234568e+29"},
	{"1E2", "100"},
	{"1e+2", "100"},
	{"4.50", "4.5"},
	{"2e-3", "0.002"},
	{"0.000000000000000000000000001", "1e-27"},
	{"333333333.33333329", "333333333.3333333"},
	{"1E30", "1e+30"},
	{"-1.5", "-1.5"},
	{"123", "123"},
	{"-123", "-123"},
	{"999999999999999", "999999999999999"},
	{"1234567890123456", "1234567890123456"},
	{"12345678901234567", "12345678901234568"},
	{"1e-400", "0"},
	{"-1e-400", "0"},
	{"2500000000000000.0", "2500000000000000"},
	{"100.0", "100"},
	{"0.1", "0.1"},
	{"1e300", "1e+300"},
}

func TestCanonicalizeNumbers(t *testing.T) {
	for _, tc := range canonicalNumbers {
		t.Run(tc.in, func(t *testing.T) {
			got, err := koi.Canonicalize(nil, []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Canonicalize(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// canonicalStrings are string spellings and their RFC 8785 form.
var canonicalStrings = []struct {
	name, in, want string
}{
	{"plain", `"abc"`, `"abc"`},
	{"short escapes", `"\b\f\n\r\t"`, `"\b\f\n\r\t"`},
	{"unicode short escapes", `"\u0008\u000C\u000a\u000D\u0009"`, `"\b\f\n\r\t"`},
	{"other controls lowercase", `"\u0000\u001F\u000B"`, `"\u0000\u001f\u000b"`},
	{"quote and backslash", `"\"\\\u0022\u005C"`, `"\"\\\"\\"`},
	{"solidus", `"\/"`, `"/"`},
	{"html not escaped", `"\u003c\u003e\u0026<>&"`, `"<>&<>&"`},
	{"line separators raw", `"\u2028\u2029"`, "\"\u2028\u2029\""},
	{"raw line separators kept", "\"\u2028\u2029\"", "\"\u2028\u2029\""},
	{"DEL raw", `"\u007f"`, "\"\x7f\""},
	{"non-ASCII escape", `"\u00e9\u20AC"`, `"é€"`},
	{"surrogate pair", `"\ud83d\ude00"`, `"😀"`},
	{"surrogate pair upper hex", `"\uD83D\uDE00"`, `"😀"`},
	{"raw emoji", `"😀"`, `"😀"`},
	{"noncharacter kept", `"\uffff"`, "\"\uffff\""},
}

func TestCanonicalizeStrings(t *testing.T) {
	for _, tc := range canonicalStrings {
		t.Run(tc.name, func(t *testing.T) {
			got, err := koi.Canonicalize(nil, []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Canonicalize(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// canonicalStructures are documents, among them the examples of RFC 8785
// sections 3.2.2 and 3.2.3, and their RFC 8785 form.
var canonicalStructures = []struct {
	name, in, want string
}{
	// RFC 8785 section 3.2.2.
	{
		"rfc8785 3.2.2",
		`{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
		`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
	},
	// RFC 8785 section 3.2.3: sorting by UTF-16 code units.
	{
		"rfc8785 3.2.3 sorting",
		`{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
		"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
	},
	{"raw utf-8 keys sort like escaped", "{\"\ufb33\":1,\"😀\":2,\"\u20ac\":3}", "{\"€\":3,\"😀\":2,\"\ufb33\":1}"},
	{"empty object", ` { } `, `{}`},
	{"empty array", "[\n]", `[]`},
	{"empty key", `{"":1,"a":2}`, `{"":1,"a":2}`},
	{"nested sort", `{"b":{"z":1,"y":[{"d":1,"c":2}]},"a":null}`, `{"a":null,"b":{"y":[{"c":2,"d":1}],"z":1}}`},
	{"prefix keys", `{"ab":1,"a":2,"":3}`, `{"":3,"a":2,"ab":1}`},
	{"escaped key sorts decoded", `{"a":1,"\n":2,"\u0041":3}`, `{"\n":2,"A":3,"a":1}`},
	{"nulls kept", `{"a":null,"b":[null]}`, `{"a":null,"b":[null]}`},
	{"literals", `[true,false,null]`, `[true,false,null]`},
	{"top-level string", ` "x" `, `"x"`},
	{"whitespace everywhere", " \t\r\n[ 1 , { \"a\" : 2 } ] \n", `[1,{"a":2}]`},
	{"array order kept", `[3,1,2]`, `[3,1,2]`},
}

func TestCanonicalizeStructure(t *testing.T) {
	for _, tc := range canonicalStructures {
		t.Run(tc.name, func(t *testing.T) {
			got, err := koi.Canonicalize(nil, []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Canonicalize =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestCanonicalizeAppends(t *testing.T) {
	dst := []byte("prefix:")
	got, err := koi.Canonicalize(dst, []byte(`{"b":1,"a":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `prefix:{"a":2,"b":1}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	got, err = koi.Canonicalize(dst, []byte(`{"a":`))
	if err == nil {
		t.Fatal("want error")
	}
	if string(got) != "prefix:" {
		t.Errorf("on error got %q, want dst unchanged", got)
	}
}

// canonicalizeError is an input that Canonicalize rejects and the sentinel
// its error wraps.
type canonicalizeError struct {
	name string
	in   string
	want error
}

var canonicalizeErrors = []canonicalizeError{
	{"empty", ``, koi.ErrInvalidJSON},
	{"whitespace only", ` `, koi.ErrInvalidJSON},
	{"trailing data", `{} {}`, koi.ErrInvalidJSON},
	{"trailing comma array", `[1,]`, koi.ErrInvalidJSON},
	{"trailing comma object", `{"a":1,}`, koi.ErrInvalidJSON},
	{"unquoted key", `{a:1}`, koi.ErrInvalidJSON},
	{"single quotes", `'a'`, koi.ErrInvalidJSON},
	{"missing colon", `{"a" 1}`, koi.ErrInvalidJSON},
	{"unterminated object", `{"a":1`, koi.ErrInvalidJSON},
	{"unterminated array", `[1`, koi.ErrInvalidJSON},
	{"unterminated string", `"abc`, koi.ErrInvalidJSON},
	{"raw control char", "\"a\x01b\"", koi.ErrInvalidJSON},
	{"raw newline", "\"a\nb\"", koi.ErrInvalidJSON},
	{"bad escape", `"\x"`, koi.ErrInvalidJSON},
	{"short unicode escape", `"\u12"`, koi.ErrInvalidJSON},
	{"bad hex", `"\u12G4"`, koi.ErrInvalidJSON},
	{"lone high surrogate", `"\ud800"`, koi.ErrInvalidJSON},
	{"lone high surrogate then char", `"\ud800x"`, koi.ErrInvalidJSON},
	{"high surrogate then non-low", `"\ud800\u0041"`, koi.ErrInvalidJSON},
	{"two high surrogates", `"\ud800\ud800"`, koi.ErrInvalidJSON},
	{"lone low surrogate", `"\udc00"`, koi.ErrInvalidJSON},
	{"invalid utf-8", "\"\xff\"", koi.ErrInvalidJSON},
	{"truncated utf-8", "\"\xe2\x82\"", koi.ErrInvalidJSON},
	{"utf-8 encoded surrogate", "\"\xed\xa0\x80\"", koi.ErrInvalidJSON},
	{"overlong utf-8", "\"\xc0\xaf\"", koi.ErrInvalidJSON},
	{"invalid utf-8 in key", "{\"\xff\":1}", koi.ErrInvalidJSON},
	{"leading zero", `01`, koi.ErrInvalidJSON},
	{"leading plus", `+1`, koi.ErrInvalidJSON},
	{"bare minus", `-`, koi.ErrInvalidJSON},
	{"dot without digits", `1.`, koi.ErrInvalidJSON},
	{"leading dot", `.5`, koi.ErrInvalidJSON},
	{"exponent without digits", `1e`, koi.ErrInvalidJSON},
	{"exponent sign without digits", `1e+`, koi.ErrInvalidJSON},
	{"hex number", `0x10`, koi.ErrInvalidJSON},
	{"NaN", `NaN`, koi.ErrInvalidJSON},
	{"Infinity", `Infinity`, koi.ErrInvalidJSON},
	{"minus Infinity", `-Infinity`, koi.ErrInvalidJSON},
	{"bad literal", `tru`, koi.ErrInvalidJSON},
	{"capital literal", `True`, koi.ErrInvalidJSON},
	{"literal with suffix", `nullx`, koi.ErrInvalidJSON},
	{"comment", `{} // x`, koi.ErrInvalidJSON},
	{"BOM", "\ufeff{}", koi.ErrInvalidJSON},
	{"overflow", `1e309`, koi.ErrNumberRange},
	{"negative overflow", `-1e400`, koi.ErrNumberRange},
	{"overflow long integer", `1` + strings.Repeat("0", 400), koi.ErrNumberRange},
	{"duplicate key", `{"a":1,"a":2}`, koi.ErrDuplicateKey},
	{"duplicate key unsorted", `{"b":1,"a":2,"b":3}`, koi.ErrDuplicateKey},
	{"duplicate key via escape", `{"a":1,"\u0061":2}`, koi.ErrDuplicateKey},
	{"duplicate nested", `[{"x":{"k":1,"k":1}}]`, koi.ErrDuplicateKey},
	{"too deep arrays", strings.Repeat("[", koi.MaxNestingDepth+1) + strings.Repeat("]", koi.MaxNestingDepth+1), koi.ErrTooDeep},
	{"too deep objects", strings.Repeat(`{"a":`, koi.MaxNestingDepth+1) + "1" + strings.Repeat("}", koi.MaxNestingDepth+1), koi.ErrTooDeep},
}

func TestCanonicalizeErrors(t *testing.T) {
	for _, tc := range canonicalizeErrors {
		t.Run(tc.name, func(t *testing.T) {
			got, err := koi.Canonicalize(nil, []byte(tc.in))
			if err == nil {
				t.Fatalf("Canonicalize(%q) = %s, want error", tc.in, got)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Canonicalize(%q) error = %v, want %v", tc.in, err, tc.want)
			}
			if _, herr := koi.Hash([]byte(tc.in)); !errors.Is(herr, tc.want) {
				t.Errorf("Hash(%q) error = %v, want %v", tc.in, herr, tc.want)
			}
		})
	}
}

func TestCanonicalizeMaxDepth(t *testing.T) {
	d := koi.MaxNestingDepth
	in := strings.Repeat("[", d) + strings.Repeat("]", d)
	got, err := koi.Canonicalize(nil, []byte(in))
	if err != nil {
		t.Fatalf("depth %d: %v", d, err)
	}
	if string(got) != in {
		t.Error("deep array not preserved")
	}
}

// readVectors parses testdata/vectors.txt ("KEY VALUE" lines).
func readVectors(t testing.TB) map[string]string {
	t.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := make(map[string]string)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		key, value, _ := strings.Cut(line, " ")
		v[key] = value
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

// vectorContents returns the raw contents of the event in the vectors'
// UNSIGNED_ENVELOPE_JSON, the CONTENTS of PROTOCOL.md section 8.
func vectorContents(t testing.TB, v map[string]string) []byte {
	t.Helper()
	var env struct {
		Payload struct {
			Events []struct {
				Contents json.RawMessage `json:"contents"`
			} `json:"events"`
		} `json:"payload"`
	}
	if err := json.Unmarshal([]byte(v["UNSIGNED_ENVELOPE_JSON"]), &env); err != nil {
		t.Fatal(err)
	}
	if len(env.Payload.Events) != 1 {
		t.Fatalf("want 1 event in envelope, got %d", len(env.Payload.Events))
	}
	return env.Payload.Events[0].Contents
}

func TestCanonicalizeVectors(t *testing.T) {
	v := readVectors(t)
	contents := vectorContents(t, v)
	const wantContents = `{"webhook_event_type":"issues","action":"opened","payload":{"number":1,"title":"héllo 😀","closed_at":null,"score":1.0,"labels":[]}}`
	if string(contents) != wantContents {
		t.Fatalf("vector contents = %s, want %s", contents, wantContents)
	}
	tests := []struct {
		name     string
		contents []byte
	}{
		{"compact", contents},
		{"indented", indent(t, contents)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := koi.Canonicalize(nil, tc.contents)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v["CONTENTS_JCS"] {
				t.Errorf("JCS = %s, want %s", got, v["CONTENTS_JCS"])
			}
			h, err := koi.Hash(tc.contents)
			if err != nil {
				t.Fatal(err)
			}
			if h != v["CONTENTS_SHA256"] {
				t.Errorf("Hash = %s, want %s", h, v["CONTENTS_SHA256"])
			}
		})
	}
}

func indent(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "    "); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCanonicalizePushGolden compares with the output of rid-lib's vendored
// Python JCS implementation for testdata/push.json.
func TestCanonicalizePushGolden(t *testing.T) {
	in, err := os.ReadFile("testdata/push.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/push.jcs.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"as delivered", in},
		{"indented", indent(t, in)},
		{"already canonical", want},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := koi.Canonicalize(nil, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Canonicalize differs from golden:\n got %s\nwant %s", got, want)
			}
			h, err := koi.Hash(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(want)
			if h != hex.EncodeToString(sum[:]) {
				t.Errorf("Hash = %s, want sha256 of golden", h)
			}
		})
	}
}

func TestHash(t *testing.T) {
	tests := []struct {
		name, a, b string
		equal      bool
	}{
		{"key order irrelevant", `{"a":1,"b":2}`, `{"b":2,"a":1}`, true},
		{"whitespace irrelevant", `{"a":[1,2]}`, "{ \"a\" : [ 1 , 2 ] }", true},
		{"number spelling irrelevant", `{"a":1.0}`, `{"a":1}`, true},
		{"escape spelling irrelevant", `{"a":"\u00e9"}`, `{"a":"é"}`, true},
		{"null member matters", `{"a":null}`, `{}`, false},
		{"array order matters", `[1,2]`, `[2,1]`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ha, err := koi.Hash([]byte(tc.a))
			if err != nil {
				t.Fatal(err)
			}
			hb, err := koi.Hash([]byte(tc.b))
			if err != nil {
				t.Fatal(err)
			}
			if len(ha) != 64 || strings.ToLower(ha) != ha {
				t.Errorf("Hash = %q, want 64 lowercase hex digits", ha)
			}
			if (ha == hb) != tc.equal {
				t.Errorf("Hash(%s) = %s, Hash(%s) = %s, want equal=%v", tc.a, ha, tc.b, hb, tc.equal)
			}
		})
	}
}

func TestCanonicalizeConcurrent(t *testing.T) {
	in, err := os.ReadFile("testdata/push.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/push.jcs.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			for range 50 {
				got, err := koi.Canonicalize(nil, in)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, want) {
					t.Error("concurrent Canonicalize differs from golden")
					return
				}
			}
		})
	}
}

func BenchmarkCanonicalize(b *testing.B) {
	in, err := os.ReadFile("testdata/push.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Canonicalize", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		buf := make([]byte, 0, 2*len(in))
		for b.Loop() {
			var err error
			buf, err = koi.Canonicalize(buf[:0], in)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Hash", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := koi.Hash(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func FuzzCanonicalize(f *testing.F) {
	for _, tc := range rfc8785Numbers {
		if tc.want != "" {
			f.Add([]byte(tc.want))
		}
	}
	for _, s := range []string{
		`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`,
		`{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7}`,
		`[1.0,1e16,1e21,-0,1e-7,0.000001,9007199254740993,1E2,-1.5e-300]`,
		`"\b\f\n\r\t\u0000\u001f\"\\\/\u2028<>&"`,
		`{"a":{"b":{"c":[[[]]]}}}`,
		`{"a":1,"a":2}`,
		`"\ud800"`,
		"\"\xff\"",
		`1e400`,
	} {
		f.Add([]byte(s))
	}
	for _, tc := range canonicalizeErrors {
		if len(tc.in) < 100 {
			f.Add([]byte(tc.in))
		}
	}
	if in, err := os.ReadFile("testdata/push.json"); err == nil {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := koi.Canonicalize(nil, in)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not valid JSON: %q (input %q)", out, in)
		}
		again, err := koi.Canonicalize(nil, out)
		if err != nil {
			t.Fatalf("canonical output rejected: %v (output %q)", err, out)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n first %q\nsecond %q", out, again)
		}
		var vin, vout any
		if err := json.Unmarshal(in, &vin); err != nil {
			t.Fatalf("accepted input that encoding/json rejects: %v (input %q)", err, in)
		}
		if err := json.Unmarshal(out, &vout); err != nil {
			t.Fatalf("encoding/json rejects output: %v", err)
		}
		if !reflect.DeepEqual(vin, vout) {
			t.Fatalf("value changed:\n in %#v\nout %#v", vin, vout)
		}
	})
}

// TestCanonicalizeSortOrder checks member order against a reference sort by
// UTF-16 code units, for names mixing ASCII, NUL, BMP characters on both
// sides of the surrogate range, and supplementary characters.
func TestCanonicalizeSortOrder(t *testing.T) {
	alphabet := []string{"a", "b", "\x00", "\x7f", "é", "ÿ", "\u0800", "€", "\ud7ff", "\ue000", "\ufb33", "\uffff", "😀", "𝄞", "\U0010ffff"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			seen := map[string]bool{}
			var names []string
			for range 1 + rng.IntN([]int{5, 40, 300}[round%3]) {
				var sb strings.Builder
				for range rng.IntN(12) {
					sb.WriteString(alphabet[rng.IntN(len(alphabet))])
				}
				if n := sb.String(); !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
			var in bytes.Buffer
			in.WriteByte('{')
			for i, n := range names {
				if i > 0 {
					in.WriteByte(',')
				}
				k, _ := json.Marshal(n)
				in.Write(k)
				in.WriteString(":" + strconv.Itoa(i))
			}
			in.WriteByte('}')
			out, err := koi.Canonicalize(nil, in.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(names)
			slices.SortFunc(want, func(a, b string) int {
				return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
			})
			got := objectKeys(t, out)
			if !slices.Equal(got, want) {
				t.Errorf("order:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// objectKeys returns the member names of a JSON object in document order.
func objectKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
