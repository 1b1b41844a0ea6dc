package bodybudget_test

import (
	"sync"
	"testing"

	"github.com/koistream/koistream/pipeline/bodybudget"
)

// TestTryAcquire: bytes are taken while they fit, a request that does not
// fit takes nothing, and released bytes can be taken again.
func TestTryAcquire(t *testing.T) {
	t.Parallel()
	b := bodybudget.New(100)
	for _, tc := range []struct {
		name    string
		acquire int64 // taken when positive, released when negative
		want    bool
		held    int64
	}{
		{"nothing", 0, true, 0},
		{"part", 60, true, 60},
		{"more than is left", 41, false, 60},
		{"exactly what is left", 40, true, 100},
		{"nothing when full", 0, true, 100},
		{"a byte when full", 1, false, 100},
		{"give some back", -30, true, 70},
		{"take them again", 30, true, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := true
			if tc.acquire < 0 {
				b.Release(-tc.acquire)
			} else {
				got = b.TryAcquire(tc.acquire)
			}
			if got != tc.want || b.Held() != tc.held {
				t.Fatalf("got %v holding %d, want %v holding %d", got, b.Held(), tc.want, tc.held)
			}
		})
	}
	if b.Limit() != 100 {
		t.Errorf("Limit() = %d, want 100", b.Limit())
	}
}

// TestTryAcquireConcurrent: goroutines taking and giving back bytes at
// once never hold more than the limit together, and give all of it back.
func TestTryAcquireConcurrent(t *testing.T) {
	t.Parallel()
	const limit, n = 1000, 300
	b := bodybudget.New(limit)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inFlight int64
		over     int64
	)
	for i := range 16 {
		wg.Go(func() {
			for j := range n {
				size := int64(50 + (i*7+j)%200)
				if !b.TryAcquire(size) {
					continue
				}
				mu.Lock()
				inFlight += size
				over = max(over, inFlight)
				mu.Unlock()
				mu.Lock()
				inFlight -= size
				mu.Unlock()
				b.Release(size)
			}
		})
	}
	wg.Wait()
	if over > limit {
		t.Errorf("%d bytes held at once, over the limit %d", over, limit)
	}
	if b.Held() != 0 {
		t.Errorf("%d bytes still held", b.Held())
	}
}

// TestNewNegative: a negative limit is a programming error.
func TestNewNegative(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("New(-1) did not panic")
		}
	}()
	bodybudget.New(-1)
}
