package bodybudget

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// ErrNotConfirmed is returned by [Budget.Publish] when its wait ended
// before the publish call did.
var ErrNotConfirmed = errors.New("bodybudget: the log did not confirm in time")

// Publish calls publish on a goroutine of its own and waits for it at most
// timeout. It returns publish's error if publish returned in time, and
// ErrNotConfirmed otherwise.
//
// Publish takes over the *held bytes of b that the body holds: it sets
// *held to 0 (so the caller's deferred Release(*held) gives back nothing)
// and gives the bytes back itself when publish returns, in time or not.
// publish must not end on a deadline of its own while the record may still
// be written: the wait's end only decides the answer. Then a body answered
// "not confirmed in time" keeps its share of the budget for as long as the
// log client holds its record for retry, so during a long log outage the
// budget bounds those records too; with the share given back at the
// answer, an intake refusing nothing filled memory with records its client
// kept retrying.
//
// A panic of publish gives the bytes back too, and is raised again on the
// caller's goroutine if it still waits (as if publish had run there, so
// that net/http recovers it for the one request); after the wait it is
// returned to no one, and the process is not taken down by it.
//
// It is safe for concurrent use, as b is; held must be the caller's own.
func (b *Budget) Publish(held *int64, timeout time.Duration, publish func() error) error {
	n := *held
	*held = 0
	type result struct {
		err      error
		panicked bool
		p        any
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if p := recover(); p != nil {
				res = result{panicked: true, p: fmt.Sprintf("%v\n%s", p, debug.Stack())}
			}
			b.Release(n)
			done <- res
		}()
		res.err = publish()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case res := <-done:
		if res.panicked {
			panic(res.p)
		}
		return res.err
	case <-t.C:
		return ErrNotConfirmed
	}
}
