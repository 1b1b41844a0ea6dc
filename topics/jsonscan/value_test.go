package jsonscan_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/jsonscan"
)

func TestValueEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		end      int // -1: an error
		tooDeep  bool
	}{
		{"string", `"a\"b",`, 6, false},
		{"object", `{"a":"}\"{","b":[1,{"c":null}]} x`, 31, false},
		{"array", `[[],[[]]],`, 9, false},
		{"long object", `{"k":"` + strings.Repeat("plain text ", 10) + `","l":[` + strings.Repeat(`"x",`, 10) + `1]},`, 166, false},
		{"number", `-1.5e3,`, 6, false},
		{"literal", `true}`, 4, false},
		{"number at end", `12`, 2, false},
		{"not checked", `nonsense ,`, 8, false},
		{"mismatched brackets", `{]`, 2, false},
		{"missing", ``, -1, false},
		{"missing before comma", `,`, -1, false},
		{"unterminated string", `"abc`, -1, false},
		{"unterminated string in object", `{"a":"b}`, -1, false},
		{"unbalanced", `{"a":[}`, -1, false},
		{"deep enough", strings.Repeat("[", 3) + strings.Repeat("]", 3), 6, false},
		{"too deep", strings.Repeat("[", 4) + strings.Repeat("]", 4), -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			end, err := jsonscan.ValueEnd([]byte(tt.in), 0, 3)
			if tt.end < 0 {
				if err == nil {
					t.Fatalf("ValueEnd(%q) = %d, want an error", tt.in, end)
				}
				if errors.Is(err, jsonscan.ErrTooDeep) != tt.tooDeep {
					t.Fatalf("ValueEnd(%q) error %v, want ErrTooDeep %v", tt.in, err, tt.tooDeep)
				}
				return
			}
			if err != nil || end != tt.end {
				t.Fatalf("ValueEnd(%q) = %d, %v; want %d", tt.in, end, err, tt.end)
			}
		})
	}
}
