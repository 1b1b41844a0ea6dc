package stages

import (
	"fmt"
	"testing"
)

func TestMemo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		size    int
		puts    []string
		touch   []string // looked up after puts
		more    []string // put after touch
		present []string
		absent  []string
	}{
		{"holds what fits", 4, []string{"a", "b"}, nil, nil, []string{"a", "b"}, []string{"c"}},
		{"drops the oldest generation", 4, []string{"a", "b", "c", "d", "e"}, nil, nil, []string{"c", "d", "e"}, []string{"a", "b"}},
		{"a hit is copied forward", 4, []string{"a", "b", "c"}, []string{"a"}, []string{"d"}, []string{"a", "c", "d"}, []string{"b"}},
		{"without the hit it is dropped", 4, []string{"a", "b", "c"}, nil, []string{"d", "e"}, []string{"c", "d", "e"}, []string{"a", "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := newMemo[string](c.size)
			for _, k := range c.puts {
				m.put([]byte(k), "v"+k)
			}
			for _, k := range c.touch {
				m.get([]byte(k))
			}
			for _, k := range c.more {
				m.put([]byte(k), "v"+k)
			}
			for _, k := range c.absent {
				if _, ok := m.get([]byte(k)); ok {
					t.Errorf("%q still held", k)
				}
			}
			for _, k := range c.present {
				if v, ok := m.get([]byte(k)); !ok || v != "v"+k {
					t.Errorf("%q: got %q, %v; want %q", k, v, ok, "v"+k)
				}
			}
		})
	}
}

func TestMemoIsBounded(t *testing.T) {
	t.Parallel()
	m := newMemo[int](100)
	for i := range 10_000 {
		m.put(fmt.Appendf(nil, "k%d", i), i)
		if n := len(m.cur) + len(m.prev); n > 100 {
			t.Fatalf("after %d puts the memo holds %d entries, want at most 100", i+1, n)
		}
	}
	if v, ok := m.get([]byte("k9999")); !ok || v != 9999 {
		t.Fatalf("newest entry: %v %v", v, ok)
	}
}
