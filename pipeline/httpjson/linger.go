package httpjson

import (
	"io"
	"net/http"
	"time"
)

// Linger makes an answer readable that a handler wrote before it read the
// request's body, or all of it (a refusal decided from the headers): it
// flushes the answer, then reads and throws away what is left of the body,
// at most maxBytes and for at most d, and reports whether it reached the
// body's end. Call it last in the handler; the answer must say
// "Connection: close" and declare its Content-Length ([Error] does), so
// that the client has all of it at once.
//
// Without it, the connection is closed with the client's body still
// arriving, and a TCP connection closed with unread data is reset: the
// client's write fails with "connection reset by peer", and a client that
// sees that first (Go's does, by chance) or whose stack drops the answer
// already received (many do) never reads the refusal. net/http's guard
// against it (rstAvoidanceDelay) half-closes and waits 500 ms before the
// close, reading nothing meanwhile, so a client with more than the socket
// buffers left to send is reset all the same; and once r.Body is replaced
// (a [BodyGuard] replaces it) net/http no longer recognises the body as
// unread and closes at once. Reading the rest, as nginx's lingering close
// does, lets the client finish sending and the connection end with a
// close, not a reset. Nothing is kept: the bytes are discarded as they
// arrive. A body longer than maxBytes, or still arriving after d, is left
// to net/http's close.
func Linger(w http.ResponseWriter, r *http.Request, maxBytes int64, d time.Duration) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return false // the client is gone
	}
	until := time.Now().Add(d)
	if b, ok := r.Body.(*guardedBody); ok {
		// The guard sets the read deadlines; it ends the body at until
		// (or sooner, when the server shuts down).
		b.bound(until)
	} else if err := rc.SetReadDeadline(until); err != nil {
		return false // no bound on the wait: do not wait
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r.Body, maxBytes+1))
	return err == nil && n <= maxBytes
}
