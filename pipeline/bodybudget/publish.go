package bodybudget

import (
	"errors"
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
// It is safe for concurrent use, as b is; held must be the caller's own.
func (b *Budget) Publish(held *int64, timeout time.Duration, publish func() error) error {
	n := *held
	*held = 0
	errc := make(chan error, 1)
	go func() {
		err := publish()
		b.Release(n)
		errc <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-errc:
		return err
	case <-t.C:
		return ErrNotConfirmed
	}
}
