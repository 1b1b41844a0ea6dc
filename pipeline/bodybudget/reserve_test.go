package bodybudget_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/koistream/koistream/pipeline/bodybudget"
)

// TestNewReserved: of a budget of 100 with 20 reserved for bodies of at
// most 10 bytes, bodies over 10 bytes take at most 80 between them, small
// ones the rest, and a chunked body counts as large once it has grown past
// 10 bytes.
func TestNewReserved(t *testing.T) {
	tests := []struct {
		name    string
		held    []int64 // taken first, in order, each as one body
		n       int64
		want    bool
		chunked bool // n is read as a chunked body through Read (64 KiB growth)
	}{
		{"a large body within the unreserved part", []int64{50}, 30, true, false},
		{"a large body into the reserve", []int64{50}, 31, false, false},
		{"a small body into the reserve", []int64{45, 35}, 10, true, false},
		{"small bodies fill the reserve", []int64{45, 35, 10, 10}, 1, false, false},
		{"a body one byte over small", []int64{45, 35}, 11, false, false},
		{"small bodies may also take the unreserved part", []int64{10, 10, 10, 10, 10, 10, 10, 10}, 10, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bodybudget.NewReserved(100, 20, 10)
			for _, h := range tt.held {
				if !b.TryAcquire(h) {
					t.Fatalf("could not take %d after %d held", h, b.Held())
				}
			}
			if got := b.TryAcquire(tt.n); got != tt.want {
				t.Fatalf("TryAcquire(%d) with %d held = %v, want %v", tt.n, b.Held(), got, tt.want)
			}
		})
	}
	t.Run("a chunked body growing past small", func(t *testing.T) {
		// 64 KiB growth steps: a reserve of 64 KiB for bodies up to 64
		// KiB; the second step makes the body large.
		b := bodybudget.NewReserved(192<<10, 64<<10, 64<<10)
		if !b.TryAcquire(64 << 10) { // one large-ish body holds 64 of the 128 KiB unreserved
			t.Fatal("setup")
		}
		body := bytes.NewReader(make([]byte, 100<<10))
		_, held, err := b.Read(body, -1, 1<<20)
		if !errors.Is(err, bodybudget.ErrOverBudget) {
			t.Fatalf("Read of a 100 KiB chunked body = %v, want ErrOverBudget (its second step needs the reserve)", err)
		}
		b.Release(held)
		if got := b.Held(); got != 64<<10 {
			t.Fatalf("held %d after the refusal, want %d", got, 64<<10)
		}
	})
	t.Run("invalid reserves panic", func(t *testing.T) {
		for _, c := range [][3]int64{{10, 11, 1}, {10, -1, 1}, {10, 1, -1}} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("NewReserved%v did not panic", c)
					}
				}()
				bodybudget.NewReserved(c[0], c[1], c[2])
			}()
		}
	})
}
