package replay

import (
	"errors"
	"strings"
	"testing"
)

func TestCursorText(t *testing.T) {
	tests := []struct {
		name string
		next []int64
	}{
		{"empty", nil},
		{"one partition", []int64{0}},
		{"eight partitions in the millions", []int64{1_000_000, 2_500_001, 0, 7, 1 << 40, 3, 99, 12345678}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCursor(tt.next)
			text := c.String()
			if text != NewCursor(tt.next).String() {
				t.Fatal("the same position encodes two ways")
			}
			if strings.ContainsAny(text, "\"\\ \r\n,") {
				t.Fatalf("cursor %q needs escaping in JSON, SSE or a header", text)
			}
			back, err := ParseCursor(text)
			if err != nil {
				t.Fatal(err)
			}
			if back.Partitions() != len(tt.next) {
				t.Fatalf("%d partitions back, want %d", back.Partitions(), len(tt.next))
			}
			for p, o := range tt.next {
				if back.Next(int32(p)) != o {
					t.Fatalf("partition %d at %d, want %d", p, back.Next(int32(p)), o)
				}
			}
		})
	}
	if n := len(NewCursor([]int64{1_000_000, 2_500_001, 3, 4, 5, 6, 7, 8_000_000}).String()); n > 48 {
		t.Fatalf("an eight-partition cursor takes %d characters", n)
	}
}

func TestParseCursorRefuses(t *testing.T) {
	good := NewCursor([]int64{5, 6}).String()
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"a PyPubSub cursor", "795ce89e-4d51-4730-b098-ab4d0b0263df"},
		{"not base64", "!!!!"},
		{"one character changed", good[:3] + string(rune(good[3]^1)) + good[4:]},
		{"truncated", good[:len(good)-2]},
		{"huge", strings.Repeat("A", 100000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseCursor(tt.in); !errors.Is(err, ErrBadCursor) {
				t.Fatalf("ParseCursor(%.40q) = %v, want ErrBadCursor", tt.in, err)
			}
		})
	}
}

func TestCursorAdvance(t *testing.T) {
	var c Cursor
	c.Advance(2, 10)
	c.Advance(2, 5) // behind: no move
	c.Advance(0, 0)
	if c.Next(0) != 1 || c.Next(1) != 0 || c.Next(2) != 11 || c.Next(9) != 0 {
		t.Fatalf("cursor %v", c.next)
	}
	d := c.Clone()
	d.Advance(0, 100)
	if c.Next(0) != 1 {
		t.Fatal("Advance on a clone moved the original")
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add(NewCursor([]int64{1, 2, 3}).String())
	f.Add("795ce89e-4d51-4730-b098-ab4d0b0263df")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to something that parses to the same.
		back, err := ParseCursor(c.String())
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", c.String(), err)
		}
		for p := 0; p < c.Partitions(); p++ {
			if back.Next(int32(p)) != c.Next(int32(p)) {
				t.Fatalf("partition %d: %d then %d", p, c.Next(int32(p)), back.Next(int32(p)))
			}
		}
	})
}

// TestCursorAppendTextAllocations: encoding a cursor of the default 8
// partitions into a buffer with room allocates nothing (it is done for
// every delivery).
func TestCursorAppendTextAllocations(t *testing.T) {
	c := NewCursor([]int64{1 << 40, 2, 3, 4, 5, 6, 7, 1 << 20})
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = c.AppendText(buf[:0]) }); n != 0 {
		t.Errorf("AppendText allocates %v times, want 0", n)
	}
}
