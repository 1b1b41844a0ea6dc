package koi_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gowebpki/jcs"

	"github.com/koistream/koistream/topics/koi"
)

// The RFC 8785 cases and vectors of jcs_test.go, run against the two Go
// libraries that koi.Canonicalize was measured against (issue 9; see
// benchmarks.BenchmarkJCS): a library that differs from koi on valid input
// could not replace it, and one that accepts input koi rejects would change
// what ridify lets through.

// jcsLibraries are the RFC 8785 libraries, each as a function from a JSON
// text to its canonical form.
var jcsLibraries = []struct {
	name  string
	canon func([]byte) ([]byte, error)
}{
	{"gowebpki", jcs.Transform},
	{"jsontext", func(in []byte) ([]byte, error) {
		v := jsontext.Value(bytes.Clone(in))
		err := v.Canonicalize()
		return v, err
	}},
}

// unchanged marks, in libraryAcceptsInvalid, a library output equal to
// its input.
const unchanged = "(input unchanged)"

// libraryAcceptsInvalid lists, per library, the cases of
// canonicalizeErrors that it canonicalises instead of rejecting, and what
// it returns; every other case it rejects, as koi does.
var libraryAcceptsInvalid = map[string]map[string]string{
	// gowebpki/jcs v1.0.1 scans any run of number characters and leaves
	// the grammar to strconv.ParseFloat, copies the bytes of strings without
	// checking UTF-8, decodes an ill-formed surrogate pair to U+FFFD and
	// has no nesting limit (it recurses, copying each level's output into
	// the level above). v1.0.2 rejects all of these.
	"gowebpki": {
		"leading zero":                "1",
		"leading plus":                "1",
		"dot without digits":          "1",
		"leading dot":                 "0.5",
		"high surrogate then non-low": "\"\ufffd\"",
		"two high surrogates":         "\"\ufffd\"",
		"invalid utf-8":               unchanged,
		"truncated utf-8":             unchanged,
		"utf-8 encoded surrogate":     unchanged,
		"overlong utf-8":              unchanged,
		"invalid utf-8 in key":        unchanged,
		"too deep arrays":             unchanged,
		"too deep objects":            unchanged,
	},
	// jsontext rounds a number beyond float64's range to the largest
	// float64 of its sign instead of rejecting it.
	"jsontext": {
		"overflow":              "1.7976931348623157e+308",
		"negative overflow":     "-1.7976931348623157e+308",
		"overflow long integer": "1.7976931348623157e+308",
	},
}

// libraryRejectsValid lists, per library, valid inputs that it rejects.
var libraryRejectsValid = map[string][]string{
	// gowebpki/jcs v1.0.1 passes a top-level number or literal to
	// strconv.ParseFloat together with the whitespace around it (found by
	// FuzzCanonicalizeLibraries); v1.0.2 accepts these. Bundle contents are
	// objects, where it handles whitespace.
	"gowebpki": {" 0", "1 ", "\n-1.5", " true", "null\t"},
}

// topLevelScalarInSpace reports whether in is a number or literal with
// whitespace around it, the valid input gowebpki/jcs v1.0.1 rejects.
func topLevelScalarInSpace(in []byte) bool {
	trimmed := bytes.Trim(in, " \t\r\n")
	return len(trimmed) > 0 && len(trimmed) < len(in) && strings.IndexByte("-0123456789tfn", trimmed[0]) >= 0
}

// validCase is a JSON text and its RFC 8785 form.
type validCase struct {
	name, in, want string
}

// validCases collects every valid input of the koi tests with the
// canonical form that koi.Canonicalize is tested to produce.
func validCases(t testing.TB) []validCase {
	t.Helper()
	var cases []validCase
	for _, tc := range rfc8785Numbers {
		if tc.want == "" {
			continue
		}
		raw, err := strconv.ParseUint(tc.bits, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		f := math.Float64frombits(raw)
		for _, in := range []string{strconv.FormatFloat(f, 'g', -1, 64), strconv.FormatFloat(f, 'e', 16, 64), tc.want} {
			cases = append(cases, validCase{"rfc8785 number " + in, in, tc.want})
		}
	}
	for _, tc := range canonicalNumbers {
		cases = append(cases, validCase{"number " + tc.in, tc.in, tc.want})
	}
	for _, tc := range canonicalStrings {
		cases = append(cases, validCase{"string " + tc.name, tc.in, tc.want})
	}
	for _, tc := range canonicalStructures {
		cases = append(cases, validCase{"structure " + tc.name, tc.in, tc.want})
	}
	v := readVectors(t)
	contents := vectorContents(t, v)
	cases = append(cases,
		validCase{"vectors compact", string(contents), v["CONTENTS_JCS"]},
		validCase{"vectors indented", string(indent(t, contents)), v["CONTENTS_JCS"]},
	)
	push, err := os.ReadFile("testdata/push.json")
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile("testdata/push.jcs.json")
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases,
		validCase{"push as delivered", string(push), string(golden)},
		validCase{"push indented", string(indent(t, push)), string(golden)},
		validCase{"push canonical", string(golden), string(golden)},
	)
	deep := strings.Repeat("[", koi.MaxNestingDepth) + strings.Repeat("]", koi.MaxNestingDepth)
	cases = append(cases, validCase{"max depth", deep, deep})
	return cases
}

func TestCanonicalizeValidCasesSelfCheck(t *testing.T) {
	// validCases must hold only what koi itself produces, or the library
	// comparison below would test the table rather than the libraries.
	for _, tc := range validCases(t) {
		got, err := koi.Canonicalize(nil, []byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: koi.Canonicalize = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestCanonicalizeLibrariesValid(t *testing.T) {
	cases := validCases(t)
	for _, lib := range jcsLibraries {
		t.Run(lib.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					got, err := lib.canon([]byte(tc.in))
					if err != nil {
						t.Fatalf("%s rejects valid input: %v", lib.name, err)
					}
					if string(got) != tc.want {
						t.Errorf("%s = %q, want %q", lib.name, got, tc.want)
					}
				})
			}
		})
	}
}

func TestCanonicalizeLibrariesRejectValid(t *testing.T) {
	for _, lib := range jcsLibraries {
		t.Run(lib.name, func(t *testing.T) {
			for _, in := range libraryRejectsValid[lib.name] {
				t.Run(in, func(t *testing.T) {
					if _, err := koi.Canonicalize(nil, []byte(in)); err != nil {
						t.Fatalf("koi rejects %q: %v", in, err)
					}
					if got, err := lib.canon([]byte(in)); err == nil {
						t.Errorf("%s now accepts %q (returns %q); drop it from libraryRejectsValid", lib.name, in, got)
					}
				})
			}
		})
	}
}

func TestCanonicalizeLibrariesInvalid(t *testing.T) {
	for _, lib := range jcsLibraries {
		t.Run(lib.name, func(t *testing.T) {
			accepts := libraryAcceptsInvalid[lib.name]
			for name := range accepts {
				if !slices.ContainsFunc(canonicalizeErrors, func(tc canonicalizeError) bool { return tc.name == name }) {
					t.Errorf("libraryAcceptsInvalid[%q] names %q, which is not in canonicalizeErrors", lib.name, name)
				}
			}
			for _, tc := range canonicalizeErrors {
				t.Run(tc.name, func(t *testing.T) {
					got, err := lib.canon([]byte(tc.in))
					want, accepted := accepts[tc.name]
					switch {
					case !accepted && err != nil:
					case !accepted:
						t.Errorf("%s accepts %.40q (koi: %v) and returns %.40q; list it in libraryAcceptsInvalid", lib.name, tc.in, tc.want, got)
					case err != nil:
						t.Errorf("%s now rejects %.40q: %v; drop it from libraryAcceptsInvalid", lib.name, tc.in, err)
					default:
						if want == unchanged {
							want = tc.in
						}
						if string(got) != want {
							t.Errorf("%s(%.40q) = %.40q, want %.40q", lib.name, tc.in, got, want)
						}
					}
				})
			}
		})
	}
}

// FuzzCanonicalizeLibraries checks that whatever koi accepts, every library
// canonicalises to the same bytes (but for libraryRejectsValid), and that jsontext, which is as strict as
// koi except for numbers beyond float64's range, rejects whatever koi
// rejects.
func FuzzCanonicalizeLibraries(f *testing.F) {
	for _, tc := range validCases(f) {
		if len(tc.in) < 2000 {
			f.Add([]byte(tc.in))
		}
	}
	for _, tc := range canonicalizeErrors {
		if len(tc.in) < 100 {
			f.Add([]byte(tc.in))
		}
	}
	for _, ins := range libraryRejectsValid {
		for _, in := range ins {
			f.Add([]byte(in))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, kerr := koi.Canonicalize(nil, in)
		for _, lib := range jcsLibraries {
			got, err := lib.canon(in)
			switch {
			case kerr == nil && err != nil && lib.name == "gowebpki" && topLevelScalarInSpace(in):
			case kerr == nil && err != nil:
				t.Errorf("%s rejects %q, which koi accepts: %v", lib.name, in, err)
			case kerr == nil && !bytes.Equal(got, want):
				t.Errorf("%s(%q) = %q, koi gives %q", lib.name, in, got, want)
			case kerr != nil && err == nil && lib.name == "jsontext" && !errors.Is(kerr, koi.ErrNumberRange):
				t.Errorf("jsontext accepts %q, which koi rejects (%v), and returns %q", in, kerr, got)
			}
		}
	})
}
