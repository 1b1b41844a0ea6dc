package fakegithub

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake clock shared by the fake server (for rate-limit windows,
// mutation times and the Events window) and the client under test (for its
// waits): Sleep returns at once, records the duration and moves the time
// forward by it, so tests that wait for a rate-limit reset run instantly and
// can assert on every wait. It satisfies backfill.Clock. Safe for
// concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep records d and advances the time by it, unless ctx is already done,
// in which case it returns ctx's error and changes nothing.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

// Advance moves the time forward by d without recording a sleep.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Sleeps returns a copy of the recorded sleep durations, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// ResetSleeps forgets the recorded sleeps.
func (c *Clock) ResetSleeps() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = nil
}

// realClock reads the system time.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
