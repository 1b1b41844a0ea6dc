package koiapi_test

import (
	"net/http"
	"testing"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/topics/topicstest"
)

// TestBodyBudgetReservesSmall: large broadcasts cannot take the last part
// of the body budget, which small bodies (up to 16 KiB: a peer's start-up
// broadcast of its profile) still get while large ones fill the rest. A
// koi-net 2.1 node aborts its start-up when that broadcast is refused.
func TestBodyBudgetReservesSmall(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	// Room beside the largest body: 200 - 64 = 136 KiB, an eighth of it
	// (17 KiB) reserved; three stalled 61 KiB broadcasts fill the rest.
	const maxBody, budget, stalled = 64 << 10, 200 << 10, 61 << 10
	b := startBudgeted(t, addr, koiapi.Config{MaxBroadcastBody: maxBody, MaxRequestBody: 16 << 10, BodyBudget: budget})
	for range 3 {
		big := b.broadcast(t, stalled)
		stall(t, b.addr, head("/events/broadcast", len(big)), big[:100])
	}
	b.held(t, 3*stalled, "three stalled broadcasts")

	medium := b.broadcast(t, 16<<10+512) // fits the budget, not beside the reserve
	small := b.broadcast(t, 3<<10)
	for _, tc := range []struct {
		name   string
		raw    []byte
		status int
	}{
		{"a body over 16 KiB cannot take the reserve", []byte(head("/events/broadcast", len(medium))), http.StatusServiceUnavailable},
		{"a small broadcast takes it", append([]byte(head("/events/broadcast", len(small))), small...), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, b.addr, tc.raw)
			if tc.status == http.StatusServiceUnavailable {
				checkOverBudget(t, r, budget)
				return
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
	if n := b.records(t); n != 1 {
		t.Fatalf("raw topic holds %d records, want the small broadcast's 1", n)
	}
}
