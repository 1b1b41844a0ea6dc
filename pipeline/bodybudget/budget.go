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
	used  atomic.Int64
}

// New returns a budget of limit bytes. It panics if limit is negative,
// which is a configuration mistake its caller validates first.
func New(limit int64) *Budget {
	if limit < 0 {
		panic(fmt.Sprintf("bodybudget: negative limit %d", limit))
	}
	return &Budget{limit: limit}
}

// Limit returns the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Held returns the bytes taken and not given back yet. It is a snapshot:
// other requests may take or give back bytes as soon as it returns.
func (b *Budget) Held() int64 { return b.used.Load() }

// TryAcquire takes n bytes (n ≥ 0) if they fit within the limit together
// with those already held, and reports whether it did. It takes nothing
// when it returns false. Taking 0 bytes always succeeds.
func (b *Budget) TryAcquire(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
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
