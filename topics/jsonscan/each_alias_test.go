package jsonscan_test

import (
	"testing"

	"github.com/koistream/koistream/topics/jsonscan"
)

// TestEachMemberLeavesInputAlone: an escaped name after a plain one must
// not be decoded into the input (the plain name aliased it).
func TestEachMemberLeavesInputAlone(t *testing.T) {
	for _, in := range []string{
		`{"a":1,"b\u0062":2}`,
		`{"x":"long value","p\u0061yload":{}}`,
	} {
		t.Run(in, func(t *testing.T) {
			b := []byte(in)
			var names []string
			if err := jsonscan.EachMember(b, 8, func(m jsonscan.Member) bool {
				names = append(names, string(m.Name))
				return true
			}); err != nil {
				t.Fatal(err)
			}
			if string(b) != in {
				t.Errorf("input changed\n got %s\nwant %s", b, in)
			}
		})
	}
}

func TestHasMemberLeavesInputAlone(t *testing.T) {
	in := `{"rid":"x","p\u0061yload":{}}`
	b := []byte(in)
	if !jsonscan.HasMember(b, 8, "payload") {
		t.Fatal("payload not found")
	}
	if string(b) != in {
		t.Errorf("input changed\n got %s\nwant %s", b, in)
	}
}
