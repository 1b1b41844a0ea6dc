package jsonscan_test

import (
	"testing"

	"github.com/koistream/koistream/topics/jsonscan"
)

func TestNumberEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		end     int
		integer bool
	}{
		{"0", 1, true}, {"-0", 2, true}, {"123,", 3, true}, {"-123]", 4, true},
		{"1.5", 3, false}, {"1e9", 3, false}, {"1E+9 ", 4, false}, {"-0.5e-3}", 7, false},
		{"01", 1, true}, // the number is 0; what follows is the caller's
		{"1.5.5", 3, false}, {"12x", 2, true},
		{"", -1, false}, {"-", -1, false}, {"+1", -1, false}, {".5", -1, false},
		{"1.", -1, false}, {"1.e3", -1, false}, {"1e", -1, false}, {"1e+", -1, false}, {"-x", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if end, integer := jsonscan.NumberEnd([]byte(tt.in), 0); end != tt.end || integer != tt.integer {
				t.Errorf("NumberEnd(%q, 0) = %d, %v; want %d, %v", tt.in, end, integer, tt.end, tt.integer)
			}
		})
	}
}
