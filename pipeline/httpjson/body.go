package httpjson

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// BodyError is a request body that could not be read, described in the
// client's terms: never the connection's addresses or the reader's own
// error text. The bodies a [BodyGuard] guards return it; a handler answers
// it with [BodyError.Answer].
type BodyError struct {
	// Status is the answer's HTTP status: 408 when the body stopped
	// arriving or did not arrive in time, 503 when the node stopped waiting
	// for it because it is shutting down, 400 when the body was cut short
	// or is malformed.
	Status int
	// Code is the machine-readable error code.
	Code string
	// Detail says what happened, in a sentence.
	Detail string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration

	err error
}

// Error returns the detail.
func (e *BodyError) Error() string { return e.Detail }

// Unwrap returns the reader's error, for logs.
func (e *BodyError) Unwrap() error { return e.err }

// Answer writes the error as a JSON error answer.
func (e *BodyError) Answer(w http.ResponseWriter) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	Error(w, e.Status, e.Code, e.Detail)
}

// BodyGuard bounds how long reading a request body may take: each read
// waits at most Idle for bytes to arrive, the whole body must have arrived
// Total after the handler started, and once Stop is called (the server is
// shutting down) bodies still arriving get Grace more. A read past a bound
// fails with a [*BodyError]. The bounds are read deadlines on the
// connection (http.ResponseController), so a read blocked on a stalled
// client returns when its bound passes; net/http's own ReadTimeout cannot
// do that for the shutdown, and it bounds the whole request only.
//
// Set the fields before the first request; a BodyGuard is then safe for
// concurrent use. A zero Idle or Total leaves that bound out.
type BodyGuard struct {
	// Idle bounds the wait for the next bytes of a body.
	Idle time.Duration
	// Total bounds the time from the handler's start to the body's end.
	Total time.Duration
	// Grace is how long bodies still arriving get after Stop.
	Grace time.Duration

	mu       sync.Mutex
	bodies   map[*guardedBody]struct{}
	stopped  bool
	stopTime time.Time
}

// Handler returns next with the body of every request guarded.
func (g *BodyGuard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		now := time.Now()
		b := &guardedBody{
			g:        g,
			body:     r.Body,
			rc:       http.NewResponseController(w),
			start:    now,
			declared: r.ContentLength,
			chunked:  slices.Contains(r.TransferEncoding, "chunked"),
		}
		if g.Total > 0 {
			b.end = now.Add(g.Total)
		}
		g.add(b)
		defer g.remove(b)
		// The handler gets a copy of the request with the guarded body:
		// net/http's own keeps the body it knows, so that it still sees
		// when a handler left it unread, and half-closes the connection
		// and waits before it closes it rather than resetting it at once.
		r = r.WithContext(r.Context())
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// Stop gives every body still arriving, now and later, at most Grace more
// before its reads fail with 503 shutting_down. Call it when the server
// starts shutting down (http.Server.RegisterOnShutdown), so that a stalled
// upload does not hold the shutdown up. It is idempotent.
func (g *BodyGuard) Stop() {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return
	}
	g.stopped, g.stopTime = true, time.Now()
	bodies := make([]*guardedBody, 0, len(g.bodies))
	for b := range g.bodies {
		bodies = append(bodies, b)
	}
	g.mu.Unlock()
	for _, b := range bodies {
		b.stop(g.stopTime.Add(g.Grace))
	}
}

func (g *BodyGuard) add(b *guardedBody) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		b.stop(g.stopTime.Add(g.Grace))
		return
	}
	if g.bodies == nil {
		g.bodies = map[*guardedBody]struct{}{}
	}
	g.bodies[b] = struct{}{}
}

func (g *BodyGuard) remove(b *guardedBody) {
	g.mu.Lock()
	delete(g.bodies, b)
	g.mu.Unlock()
}

// guardedBody is a request body read under a BodyGuard's bounds.
type guardedBody struct {
	g        *BodyGuard
	body     io.ReadCloser
	rc       *http.ResponseController
	start    time.Time
	declared int64 // Content-Length, or -1
	chunked  bool

	mu       sync.Mutex
	end      time.Time // the body's last moment; zero for none
	deadline time.Time // the read deadline last set
	read     int64
	stopped  bool // the server is shutting down: end is the grace's end
	done     bool // the body ended (io.EOF)
	err      error
}

func (b *guardedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.err != nil || b.done {
		err := b.err
		b.mu.Unlock()
		if err == nil {
			err = io.EOF
		}
		return 0, err
	}
	b.setDeadline(time.Now())
	b.mu.Unlock()

	n, err := b.body.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.read += int64(n)
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		b.done = true
		// The rest of the request (net/http reads on in the background to
		// notice a client going away) keeps the whole-request bound, as
		// the server's ReadTimeout would.
		b.deadline = b.end
		_ = b.rc.SetReadDeadline(b.end)
	default:
		b.err = b.describe(err, time.Now())
		err = b.err
	}
	return n, err
}

func (b *guardedBody) Close() error { return b.body.Close() }

// setDeadline sets the read deadline for a read starting at now: the idle
// bound, but not past the body's end. Called with b.mu held.
func (b *guardedBody) setDeadline(now time.Time) {
	dl := b.end
	if idle := b.g.Idle; idle > 0 && (dl.IsZero() || now.Add(idle).Before(dl)) {
		dl = now.Add(idle)
	}
	// Moving a deadline costs a lock in the runtime's poller; a read soon
	// after the last move keeps it (the idle bound is then a tenth
	// shorter at worst).
	if !dl.IsZero() && !b.deadline.IsZero() && !dl.Before(b.deadline) && dl.Sub(b.deadline) < b.g.Idle/10 {
		return
	}
	if dl.Equal(b.deadline) {
		return
	}
	// A writer that cannot set deadlines (not net/http's) leaves the
	// server's own timeouts as the only bound.
	_ = b.rc.SetReadDeadline(dl)
	b.deadline = dl
}

// stop brings the body's end forward to until, unless it has ended: the
// server is shutting down.
func (b *guardedBody) stop(until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done || b.err != nil {
		return
	}
	b.stopped = true
	b.boundLocked(until)
}

// bound brings the body's end forward to until, unless it has ended or
// ends sooner.
func (b *guardedBody) bound(until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done || b.err != nil {
		return
	}
	b.boundLocked(until)
}

// boundLocked is bound with b.mu held.
func (b *guardedBody) boundLocked(until time.Time) {
	if b.end.IsZero() || until.Before(b.end) {
		b.end = until
	}
	if b.deadline.IsZero() || b.end.Before(b.deadline) {
		b.deadline = b.end
		_ = b.rc.SetReadDeadline(b.end)
	}
}

// describe turns the reader's error into a BodyError. Called with b.mu
// held.
func (b *guardedBody) describe(err error, now time.Time) *BodyError {
	e := &BodyError{err: err}
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	switch {
	case timedOut && b.stopped && !now.Before(b.end):
		e.Status, e.Code, e.RetryAfter = http.StatusServiceUnavailable, "shutting_down", time.Second
		e.Detail = fmt.Sprintf("the node is shutting down and stopped waiting for the rest of the request body (%s); send the request again", b.progress())
	case timedOut && !b.end.IsZero() && !now.Before(b.end):
		e.Status, e.Code = http.StatusRequestTimeout, "body_timeout"
		e.Detail = fmt.Sprintf("the request body was not received completely within %s (%s)", seconds(b.g.Total), b.progress())
	case timedOut:
		e.Status, e.Code = http.StatusRequestTimeout, "body_timeout"
		e.Detail = fmt.Sprintf("no part of the request body arrived for %s (%s)", seconds(b.g.Idle), b.progress())
	case errors.Is(err, io.ErrUnexpectedEOF) && b.declared >= 0:
		e.Status, e.Code = http.StatusBadRequest, "incomplete_body"
		e.Detail = fmt.Sprintf("the connection ended after %d bytes of the body, before the %d its Content-Length declares", b.read, b.declared)
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Status, e.Code = http.StatusBadRequest, "incomplete_body"
		e.Detail = fmt.Sprintf("the connection ended before the last chunk of the body (%d bytes arrived)", b.read)
	case b.chunked:
		e.Status, e.Code = http.StatusBadRequest, "malformed_body"
		e.Detail = fmt.Sprintf("the chunked transfer encoding of the body is malformed after %d bytes", b.read)
	default:
		e.Status, e.Code = http.StatusBadRequest, "unreadable_body"
		e.Detail = fmt.Sprintf("the connection failed while the body arrived (%s)", b.progress())
	}
	return e
}

// progress says how much of the body arrived.
func (b *guardedBody) progress() string {
	if b.declared >= 0 {
		return fmt.Sprintf("%d of %d bytes arrived", b.read, b.declared)
	}
	return fmt.Sprintf("%d bytes arrived", b.read)
}

// seconds prints d as a client reads it: "60s", "0.5s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
