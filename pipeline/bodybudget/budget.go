package bodybudget

import (
	"fmt"
	"sync/atomic"
	"time"
)

// RetryAfter is the Retry-After of a 503 for an exhausted budget: bodies in
// flight are read and answered within seconds, so the budget frees as fast.
const RetryAfter = time.Second

// Budget counts the bytes of request bodies held by the requests in flight
// against a fixed limit. Bytes are taken with [Budget.TryAcquire] (or by
// [Budget.Read]) and must be given back with [Budget.Release] once the body
// is no longer referenced, on every path (a deferred Release right after
// the acquisition covers errors and panics).
//
// A Budget is safe for concurrent use; it never blocks: a request that does
// not fit is told so at once, and the caller refuses it. Create one with
// [New]; the zero value has a limit of 0 and takes only empty bodies.
type Budget struct {
	limit int64
	// reserve bytes of limit are for bodies of at most small bytes (see
	// NewReserved); 0 without a reserve.
	reserve, small int64
	used           atomic.Int64
}

// New returns a budget of limit bytes. It panics if limit is negative,
// which is a configuration mistake its caller validates first.
func New(limit int64) *Budget {
	if limit < 0 {
		panic(fmt.Sprintf("bodybudget: negative limit %d", limit))
	}
	return &Budget{limit: limit}
}

// NewReserved returns a budget of limit bytes whose last reserve bytes only
// bodies of at most small bytes may take: while large bodies fill the rest,
// small requests still pass. The KOI-net API keeps such a reserve so that
// a peer's start-up broadcast of its profile (a few kilobytes, and a
// koi-net 2.1 node aborts its start-up when it is refused) is not refused
// because other peers' large broadcasts hold the budget. It panics if a
// value is negative or reserve is larger than limit, configuration
// mistakes its caller validates first.
func NewReserved(limit, reserve, small int64) *Budget {
	if reserve < 0 || small < 0 || reserve > limit {
		panic(fmt.Sprintf("bodybudget: reserve %d for bodies of at most %d bytes in a limit of %d", reserve, small, limit))
	}
	b := New(limit)
	b.reserve, b.small = reserve, small
	return b
}

// Limit returns the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Held returns the bytes taken and not given back yet. It is a snapshot:
// other requests may take or give back bytes as soon as it returns.
func (b *Budget) Held() int64 { return b.used.Load() }

// TryAcquire takes n bytes (n ≥ 0) for a body of n bytes if they fit
// within the limit together with those already held (for a body larger
// than a reserved budget's small size: within the limit less the reserve),
// and reports whether it did. It takes nothing when it returns false.
// Taking 0 bytes always succeeds.
func (b *Budget) TryAcquire(n int64) bool { return b.tryAcquire(n, n) }

// tryAcquire takes n bytes for a body that then holds total bytes.
func (b *Budget) tryAcquire(n, total int64) bool {
	limit := b.limit
	if total > b.small {
		limit -= b.reserve
	}
	for {
		used := b.used.Load()
		if used+n > limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// Release gives back n bytes taken with TryAcquire (or held after
// [Budget.Read]). Releasing 0 is a no-op, so that a caller can defer
// Release of whatever it ended up holding.
func (b *Budget) Release(n int64) {
	if n != 0 {
		b.used.Add(-n)
	}
}
