package koiapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/koistream/koistream/pipeline/bodybudget"
	"github.com/koistream/koistream/pipeline/httpjson"
)

// DefaultBodyBudget bounds the bytes of request bodies the KOI-net API
// holds in memory at once, read or being read, across all its endpoints:
// four broadcasts of the largest size (DefaultMaxBroadcastBody, 31 MiB),
// or thousands of the few-kilobyte batches peers send. A broadcast body is
// held while it is decoded and appended to the log, which copies it into a
// record and parses it into events, so each held byte costs about three;
// with the webhook budget's 256 MiB beside it, the bodies of both intakes
// stay within the node's 768 MiB soft memory limit. Without a budget, peers
// sending large broadcasts at once could take all of it.
const DefaultBodyBudget = 128 << 20

// smallBody and smallReserve: the last smallReserve bytes of the body
// budget (an eighth of the room beside the largest body when that is
// less) are only for bodies of at most smallBody bytes
// (bodybudget.NewReserved). A koi-net 2.1 node's start-up broadcast of its
// own profile (FORGET and NEW, its public key: about 3 KB signed) aborts
// its start-up when it is refused, so large broadcasts filling the budget
// must not refuse it; 1 MiB holds 64 small bodies of the largest small
// size and hundreds of such profiles.
const (
	smallBody    = 16 << 10
	smallReserve = 1 << 20
)

// A refusal decided before a body was read whole (over the largest size or
// the budget) is followed by a lingering close (httpjson.Linger): the rest
// of the body is read and thrown away, at most lingerBytes (or twice the
// endpoint's largest body, if more) for at most lingerTime, so that a peer
// still sending reads the refusal rather than a reset connection, which a
// Python node counts as a connection failure (after more than 3 it forgets
// the peer). The reference client gives up after 5 s.
const (
	lingerBytes = 64 << 20
	lingerTime  = 5 * time.Second
)

// readBody reads r's body within maxBytes and the server's body budget
// (bodybudget.Budget.Read). It returns the body, or ok false once it has
// answered the refusal: 413 {"detail":…} for a body over maxBytes, 503
// {"error":"over_budget","detail":…} with Retry-After for one that does not
// fit in the budget, and for a body that could not be read the body
// guard's answer (httpjson.BodyError) or 400. done must be called (defer
// it at once, also when ok is false) when the body is no longer needed: it
// gives the body's bytes back to the budget and then, after a refusal
// decided before the body arrived whole, discards the rest of it. As a
// deferred call it runs on every path, a panic included.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, maxBytes int64) (body []byte, done func(), ok bool) {
	body, _, done, ok = s.readBodyHeld(w, r, maxBytes)
	return body, done, ok
}

// readBodyHeld is readBody that also returns where the bytes the body
// holds are counted: done gives back *held, so a caller that hands them
// over (bodybudget.Budget.Publish sets *held to 0) leaves done nothing to
// give back.
func (s *Server) readBodyHeld(w http.ResponseWriter, r *http.Request, maxBytes int64) (body []byte, held *int64, done func(), ok bool) {
	body, n, err := s.budget.Read(r.Body, r.ContentLength, maxBytes)
	held = &n
	linger := false
	done = func() {
		s.budget.Release(*held)
		if linger {
			httpjson.Linger(w, r, max(lingerBytes, 2*maxBytes), lingerTime)
		}
	}
	if err == nil {
		return body, held, done, true
	}
	// The rest of the body is not read: without it net/http would read up
	// to 256 KiB of it before answering and keep the connection for a
	// client that may never send the rest.
	w.Header().Set("Connection", "close")
	if errors.Is(err, bodybudget.ErrOverBudget) {
		linger = true
		w.Header().Set("Retry-After", fmt.Sprint(int(bodybudget.RetryAfter/time.Second)))
		httpjson.Error(w, http.StatusServiceUnavailable, "over_budget", fmt.Sprintf(
			"the node already holds KOI-net request bodies close to its budget of %d bytes; send the request again in a moment",
			s.budget.Limit()))
		return nil, held, done, false
	}
	if _, ok := errors.AsType[*bodybudget.TooLargeError](err); ok {
		linger = true
		writeDetail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxBytes))
		return nil, held, done, false
	}
	// A body that could not be read has nothing more to give.
	if be, ok := errors.AsType[*httpjson.BodyError](err); ok {
		if be.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int((be.RetryAfter+time.Second-1)/time.Second)))
		}
		writeDetail(w, be.Status, be.Detail)
		return nil, held, done, false
	}
	if re, ok := errors.AsType[*bodybudget.ReadError](err); ok {
		err = re.Err
	}
	writeDetail(w, http.StatusBadRequest, "reading the body failed: "+err.Error())
	return nil, held, done, false
}
