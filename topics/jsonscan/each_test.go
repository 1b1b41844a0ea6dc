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

// members returns what EachMember hands over, as "name=raw value" lines,
// and its error.
func members(b []byte, stopAfter int) ([]string, error) {
	var got []string
	err := jsonscan.EachMember(b, 8, func(m jsonscan.Member) bool {
		if !bytes.HasSuffix(m.Raw, m.Value) || m.Raw[0] != '"' {
			got = append(got, "BAD SPANS "+string(m.Raw))
		}
		got = append(got, string(m.Name)+"="+string(m.Value))
		return len(got) != stopAfter
	})
	return got, err
}

func TestEachMember(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		stopAfter int
		want      []string
		wantErr   error // nil: no error; errAny: any error
	}{
		{name: "empty", in: ` { } `},
		{name: "in order, values raw", in: `{"b":1,"a":{"x":[1,"}"]},"c":"s\"q","d":null}`,
			want: []string{`b=1`, `a={"x":[1,"}"]}`, `c="s\"q"`, `d=null`}},
		{name: "whitespace", in: "{ \"a\" :\t1 ,\n\"b\": [ ] }", want: []string{`a=1`, `b=[ ]`}},
		{name: "escaped name decoded", in: `{"p\u0061y\"":true}`, want: []string{`pay"=true`}},
		{name: "repeated names each time", in: `{"a":1,"a":2}`, want: []string{`a=1`, `a=2`}},
		{name: "stops when told", in: `{"a":1,"b":2,"c":3}`, stopAfter: 2, want: []string{`a=1`, `b=2`}},
		{name: "array", in: `[1]`, wantErr: jsonscan.ErrNotObject},
		{name: "string", in: `"{"`, wantErr: jsonscan.ErrNotObject},
		{name: "nothing", in: ``, wantErr: jsonscan.ErrNotObject},
		{name: "too deep", in: `{"a":[[[[[[[[[1]]]]]]]]]}`, wantErr: jsonscan.ErrTooDeep},
		{name: "name not a string", in: `{a:1}`, wantErr: errAny},
		{name: "no colon", in: `{"a" 1}`, wantErr: errAny},
		{name: "no value", in: `{"a":}`, wantErr: errAny},
		{name: "unterminated name", in: `{"a`, wantErr: errAny},
		{name: "missing comma", in: `{"a":1 "b":2}`, want: []string{`a=1`}, wantErr: errAny},
		{name: "cut short", in: `{"a":1,`, want: []string{`a=1`}, wantErr: errAny},
		{name: "trailing comma", in: `{"a":1,}`, want: []string{`a=1`}, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := members([]byte(tt.in), tt.stopAfter)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("members\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

var errAny = errors.New("any error")

// FuzzEachMember: on every UTF-8 object encoding/json accepts, EachMember hands
// over exactly the members encoding/json's tokenizer reads, in order, with
// values that decode to the same thing.
func FuzzEachMember(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[true,{"c":"}"}],"d\u0041":"x\"y"}`, `{}`, ` {"a" : null } `, `{"a":{"a":{"a":1}}}`, `{"a":1,"b\u0062":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) || !utf8.Valid(b) || bytes.Count(b, []byte("{"))+bytes.Count(b, []byte("[")) > 8 {
			return
		}
		var want []string
		dec := json.NewDecoder(bytes.NewReader(b))
		if tok, _ := dec.Token(); tok != json.Delim('{') {
			if _, err := members(b, 0); !errors.Is(err, jsonscan.ErrNotObject) {
				t.Fatalf("EachMember(%q) = %v, want ErrNotObject", b, err)
			}
			return
		}
		for dec.More() {
			name, _ := dec.Token()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(v)
			want = append(want, name.(string)+"="+string(raw))
		}
		var got []string
		orig := bytes.Clone(b)
		err := jsonscan.EachMember(b, 8, func(m jsonscan.Member) bool {
			var v any
			if err := json.Unmarshal(m.Value, &v); err != nil {
				t.Fatalf("value %q of %q: %v", m.Value, b, err)
			}
			raw, _ := json.Marshal(v)
			got = append(got, string(m.Name)+"="+string(raw))
			return true
		})
		if err != nil {
			t.Fatalf("EachMember(%q): %v", b, err)
		}
		if !bytes.Equal(b, orig) {
			t.Fatalf("EachMember changed its input\n got %q\nwant %q", b, orig)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("EachMember(%q)\n%s\nwant\n%s", b, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
