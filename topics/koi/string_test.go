package koi_test

import (
	"encoding/json"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

func TestAppendString(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"orn:github.event:o/r:d-1", `"orn:github.event:o/r:d-1"`},
		{`q"b\`, `"q\"b\\"`},
		{"\n\t\x01\x1f", `"\n\t\u0001\u001f"`},
		{"héllo 😀 <>& \u2028", "\"héllo 😀 <>& \u2028\""},
		{"bad\xffutf8", "\"bad\uFFFDutf8\""},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			got := string(koi.AppendString(nil, c.in))
			if got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
			canon, err := koi.Canonicalize(nil, []byte(got))
			if err != nil || string(canon) != got {
				t.Fatalf("not canonical: %s (%v)", canon, err)
			}
		})
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\x00", "é", "\xff", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := koi.AppendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q: %s is not a JSON string: %v", s, b, err)
		}
		if canon, err := koi.Canonicalize(nil, b); err != nil || string(canon) != string(b) {
			t.Fatalf("%q: %s not canonical (%s, %v)", s, b, canon, err)
		}
	})
}
