package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/koistream/koistream/pipeline/httpjson"
	"github.com/koistream/koistream/replay"
	"github.com/koistream/koistream/topics/streams"
)

// Media types of the framings a subscriber may ask for with Accept.
const (
	// MediaGitPubSub is GitPubSub's framing: each object followed by
	// "\r\n".
	MediaGitPubSub = "application/x-gitpubsub"
	// MediaPyPubSub is PyPubSub's framing, the default: each object
	// followed by "\n", and by "\x00" too for clients whose User-Agent
	// contains OldschoolAgent.
	MediaPyPubSub = "application/vnd.pypubsub-stream"
	// MediaSSE is server-sent events: "id: <cursor>\ndata: <object>\n\n",
	// pings as comments.
	MediaSSE = "text/event-stream"
	// OldschoolAgent marks the svnpubsub clients that expect a trailing
	// NUL after each object (PyPubSub's default "oldschoolers").
	OldschoolAgent = "svnwcsub"
)

// Request headers of a subscription. net/http reads header names without
// regard to case, unlike GitPubSub.
const (
	// HeaderFetchSince replays from a time: seconds since the epoch,
	// integer or fractional.
	HeaderFetchSince = "X-Fetch-Since"
	// HeaderFetchSinceCursor replays after a cursor (an event's
	// pubsub_cursor).
	HeaderFetchSinceCursor = "X-Fetch-Since-Cursor"
	// HeaderLastEventID is the SSE reconnection header, a cursor too.
	HeaderLastEventID = "Last-Event-ID"
)

type framing int

const (
	framePy framing = iota
	frameGit
	frameSSE
)

// chooseFraming returns the framing of the first media type in accept that
// names one, PyPubSub's when none does.
func chooseFraming(accept string) framing {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case MediaGitPubSub:
			return frameGit
		case MediaPyPubSub:
			return framePy
		case MediaSSE:
			return frameSSE
		}
	}
	return framePy
}

// CheckSubscription checks a subscription path: each of its
// ','-separated alternatives follows topics/streams.CheckPath, and the
// whole is at most streams.MaxPathLen bytes. The error wraps
// streams.ErrInvalidPath.
func CheckSubscription(path string) error {
	if len(path) > streams.MaxPathLen {
		return fmt.Errorf("%w: %d bytes, more than %d", streams.ErrInvalidPath, len(path), streams.MaxPathLen)
	}
	for alt := range strings.SplitSeq(path, ",") {
		if err := streams.CheckPath(alt); err != nil {
			return err
		}
	}
	return nil
}

// ParseEpoch reads seconds since the epoch, integer or fractional, not
// negative. A plain decimal is read digit by digit, exactly to the
// nanosecond: through a float64, 1795911262.774 became .773999999 s, so a
// replay from an item's own timestamp began at the item before it (the
// broker's timestamp index is in milliseconds and the time was truncated).
// Other float spellings (1.7e9) are rounded to the nearest microsecond.
func ParseEpoch(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%.40q is not seconds since the epoch", s)
	if whole, frac, ok := decimal(s); ok {
		whole = strings.TrimLeft(whole, "0")
		if len(whole) > 12 {
			return time.Time{}, bad
		}
		sec, _ := strconv.ParseInt("0"+whole, 10, 64)
		frac = (frac + "000000000")[:9] // digits beyond the nanosecond are dropped
		ns, _ := strconv.ParseInt(frac, 10, 64)
		if sec > 1e11 || sec == 1e11 && ns > 0 {
			return time.Time{}, bad
		}
		return time.Unix(sec, ns), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, bad
	}
	sec, fr := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(fr*1e6))*1e3), nil
}

// decimal splits s of the form digits[.digits] into its whole and
// fractional digits.
func decimal(s string) (whole, frac string, ok bool) {
	whole, frac, _ = strings.Cut(s, ".")
	if whole == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return "", "", false
	}
	return whole, frac, true
}

// parseUntil reads until: RFC 3339 or seconds since the epoch.
func parseUntil(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	t, err := ParseEpoch(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("until %.40q is neither an RFC 3339 time nor seconds since the epoch", s)
	}
	return t, nil
}

// subscribeOptions reads a GET's subscription, or answers 4xx and returns
// false.
func subscribeOptions(w http.ResponseWriter, r *http.Request, f framing) (replay.SubscribeOptions, bool) {
	var opts replay.SubscribeOptions
	path := r.URL.Path
	if len(path) > streams.MaxPathLen {
		httpjson.Error(w, http.StatusRequestURITooLong, "path_too_long",
			fmt.Sprintf("the path is %d bytes, more than %d", len(path), streams.MaxPathLen))
		return opts, false
	}
	if err := CheckSubscription(path); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_path", err.Error())
		return opts, false
	}
	q := r.URL.Query()
	filter, err := replay.NewFilter(path, q.Get("key"))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_key", err.Error())
		return opts, false
	}
	opts.Filter = filter
	if u := q.Get("until"); u != "" {
		if opts.Until, err = parseUntil(u); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "bad_until", err.Error())
			return opts, false
		}
	}
	cur := r.Header.Get(HeaderFetchSinceCursor)
	name := HeaderFetchSinceCursor
	if cur == "" && f == frameSSE {
		cur, name = r.Header.Get(HeaderLastEventID), HeaderLastEventID
	}
	if cur != "" {
		c, err := replay.ParseCursor(strings.TrimSpace(cur))
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "bad_cursor", fmt.Sprintf("%s: %v", name, err))
			return opts, false
		}
		opts.Cursor = &c
	}
	if since := r.Header.Get(HeaderFetchSince); since != "" && opts.Cursor == nil {
		if opts.Since, err = ParseEpoch(since); err != nil {
			httpjson.Error(w, http.StatusBadRequest, "bad_since", fmt.Sprintf("%s: %v", HeaderFetchSince, err))
			return opts, false
		}
	}
	return opts, true
}

// serveStream checks a subscription, subscribes, takes the connection over
// and streams until the client goes, the subscription ends or the server
// shuts down.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	f := chooseFraming(r.Header.Get("Accept"))
	opts, ok := subscribeOptions(w, r, f)
	if !ok {
		return
	}
	if s.cfg.Hub == nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "streams_unavailable", "the replay hub is not running on this node")
		return
	}
	if !s.startStream() {
		httpjson.Error(w, http.StatusServiceUnavailable, "shutting_down", "the node is shutting down")
		return
	}
	defer s.streams.Done()
	sub, err := s.cfg.Hub.Subscribe(r.Context(), opts)
	switch {
	case err == nil:
	case r.Context().Err() != nil:
		return // the client went away while waiting
	case errors.Is(err, replay.ErrBadCursor), errors.Is(err, replay.ErrCursorBeyondEnd):
		// A cursor naming partitions the topic does not have, or
		// offsets past its end: it is from another topic or server.
		httpjson.Error(w, http.StatusBadRequest, "bad_cursor", err.Error())
		return
	default:
		// The log did not answer (a time or end-offset lookup): worth
		// retrying, unlike a bad cursor.
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, "subscribe_failed", err.Error())
		return
	}
	defer sub.Close()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		httpjson.Error(w, http.StatusHTTPVersionNotSupported, "cannot_stream", "streams need HTTP/1.x")
		return
	}
	defer conn.Close()
	// The server's read deadline was for the request; a stream lasts.
	_ = conn.SetDeadline(time.Time{})

	s.subscribers.Add(1)
	s.mSubscribers.Add(r.Context(), 1)
	defer func() {
		s.subscribers.Add(-1)
		s.mSubscribers.Add(r.Context(), -1)
	}()
	st := &stream{
		s: s, conn: conn, f: f, chunked: r.ProtoAtLeast(1, 1),
		nul: f == framePy && strings.Contains(r.UserAgent(), OldschoolAgent),
	}
	st.head()
	st.ping()
	if st.flush() != nil {
		return
	}
	st.run(r, sub)
}

// stream writes one subscriber's stream on a hijacked connection.
type stream struct {
	s       *Server
	conn    net.Conn
	f       framing
	chunked bool // HTTP/1.1: chunked; 1.0: raw until close
	nul     bool // svnwcsub: a NUL after each object
	buf     []byte
	sent    int64
}

const (
	chunkReserve = 10       // room for a chunk-size line: 8 hex digits and CRLF
	flushAt      = 32 << 10 // write out a busy stream's batch at this size
	keepCap      = 64 << 10 // a larger buffer is dropped after a write
)

func (st *stream) head() {
	ct := MediaPyPubSub
	switch st.f {
	case frameGit:
		ct = MediaGitPubSub
	case frameSSE:
		ct = MediaSSE + "; charset=utf-8"
	}
	b := append(st.buf, "HTTP/1.1 200 OK\r\nServer: koistream\r\nContent-Type: "...)
	b = append(b, ct...)
	b = append(b, "\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\nX-Subscribers: "...)
	b = strconv.AppendInt(b, st.s.subscribers.Load(), 10)
	if st.chunked {
		b = append(b, "\r\nTransfer-Encoding: chunked"...)
	} else {
		b = append(b, "\r\nConnection: close"...)
	}
	st.buf = append(b, "\r\n\r\n"...)
}

// begin starts a chunk; end finishes the chunk begun at start, placing the
// size line in front of the payload.
func (st *stream) begin() int {
	start := len(st.buf)
	if st.chunked {
		st.buf = append(st.buf, make([]byte, chunkReserve)...)
	}
	return start
}

func (st *stream) end(start int) {
	if !st.chunked {
		return
	}
	body := start + chunkReserve
	var line [chunkReserve]byte
	l := strconv.AppendInt(line[:0], int64(len(st.buf)-body), 16)
	l = append(l, '\r', '\n')
	copy(st.buf[start:], l)
	n := copy(st.buf[start+len(l):], st.buf[body:])
	st.buf = append(st.buf[:start+len(l)+n], '\r', '\n')
}

// terminate appends the object terminator of the framing.
func (st *stream) terminate() {
	switch st.f {
	case frameGit:
		st.buf = append(st.buf, '\r', '\n')
	case framePy:
		st.buf = append(st.buf, '\n')
		if st.nul {
			st.buf = append(st.buf, 0)
		}
	case frameSSE:
		st.buf = append(st.buf, '\n', '\n')
	}
}

// appendStillalive appends GitPubSub's ping number: seconds with exactly 6
// decimals.
func appendStillalive(dst []byte, t time.Time) []byte {
	return strconv.AppendFloat(dst, float64(t.UnixMicro())/1e6, 'f', 6, 64)
}

func (st *stream) ping() {
	start := st.begin()
	if st.f == frameSSE {
		st.buf = append(st.buf, ": stillalive "...)
		st.buf = appendStillalive(st.buf, time.Now())
	} else {
		st.buf = append(st.buf, `{"stillalive": `...)
		st.buf = appendStillalive(st.buf, time.Now())
		st.buf = append(st.buf, '}')
	}
	st.terminate()
	st.end(start)
}

func (st *stream) item(it *replay.Item, sub *replay.Subscription) {
	start := st.begin()
	if st.f == frameSSE {
		st.buf = append(st.buf, "id: "...)
		c0 := len(st.buf)
		st.buf = sub.AppendCursor(st.buf)
		cur := st.buf[c0:len(st.buf):len(st.buf)]
		st.buf = append(st.buf, "\ndata: "...)
		st.buf = it.AppendObject(st.buf, cur)
	} else {
		// The cursor is written where the object goes, then the object
		// after it, which is moved down over it: no second buffer.
		c0 := len(st.buf)
		st.buf = sub.AppendCursor(st.buf)
		cur := st.buf[c0:len(st.buf):len(st.buf)]
		o0 := len(st.buf)
		st.buf = it.AppendObject(st.buf, cur)
		n := copy(st.buf[c0:], st.buf[o0:])
		st.buf = st.buf[:c0+n]
	}
	st.terminate()
	st.end(start)
	st.sent++
}

// endWith appends the final object of a stream the server ends before the
// subscriber asked it to: why ("fell behind", "shutting down", "stream
// failed"), the detail, and the cursor to resume from, so that a client can
// tell it from the clean end of an until and carry on where it stopped.
func (st *stream) endWith(reason string, err error, sub *replay.Subscription) {
	detail, _ := json.Marshal(err.Error())
	start := st.begin()
	if st.f == frameSSE {
		st.buf = append(st.buf, "event: error\nid: "...)
		st.buf = sub.AppendCursor(st.buf)
		st.buf = append(st.buf, "\ndata: "...)
	}
	st.buf = append(st.buf, `{"error":"`...)
	st.buf = append(st.buf, reason...)
	st.buf = append(st.buf, `","detail":`...)
	st.buf = append(st.buf, detail...)
	st.buf = append(st.buf, `,"pubsub_cursor":"`...)
	st.buf = sub.AppendCursor(st.buf)
	st.buf = append(st.buf, `"}`...)
	st.terminate()
	st.end(start)
}

// errShuttingDown is the detail of the object a stream ends with when the
// node shuts down.
var errShuttingDown = errors.New("the node is shutting down; resume with the cursor")

// finish appends the last chunk of a chunked stream.
func (st *stream) finish() {
	if st.chunked {
		st.buf = append(st.buf, "0\r\n\r\n"...)
	}
}

// flush writes the buffer out in one write.
func (st *stream) flush() error {
	if len(st.buf) == 0 {
		return nil
	}
	_ = st.conn.SetWriteDeadline(time.Now().Add(st.s.cfg.WriteTimeout))
	_, err := st.conn.Write(st.buf)
	st.buf = st.buf[:0]
	if cap(st.buf) > keepCap {
		st.buf = nil
	}
	if st.sent > 0 {
		st.s.mSent.Add(context.Background(), st.sent)
		st.sent = 0
	}
	return err
}

// run streams until the end.
func (st *stream) run(r *http.Request, sub *replay.Subscription) {
	log := st.s.cfg.Logger
	timer := time.NewTimer(st.s.cfg.PingInterval)
	defer timer.Stop()
	for {
		select {
		case <-st.s.closing:
			st.endWith("shutting down", errShuttingDown, sub)
			st.finish()
			_ = st.flush()
			return
		case <-timer.C:
			st.ping()
			if st.flush() != nil {
				return
			}
			timer.Reset(st.s.cfg.PingInterval)
		case <-sub.Ready():
			for {
				it, err := sub.TryNext()
				if err != nil {
					switch {
					case errors.Is(err, replay.ErrFellBehind):
						st.s.mCutOffs.Add(r.Context(), 1)
						log.Info("stream subscriber cut off", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
						st.endWith("fell behind", err, sub)
					case errors.Is(err, io.EOF):
					case errors.Is(err, replay.ErrClosed):
						st.endWith("shutting down", errShuttingDown, sub)
					default:
						log.Warn("stream ended", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
						st.endWith("stream failed", err, sub)
					}
					st.finish()
					_ = st.flush()
					return
				}
				if it == nil {
					break
				}
				st.item(it, sub)
				if len(st.buf) >= flushAt {
					if st.flush() != nil {
						return
					}
					select { // a long replay must not hold a shutdown up
					case <-st.s.closing:
						st.endWith("shutting down", errShuttingDown, sub)
						st.finish()
						_ = st.flush()
						return
					default:
					}
				}
			}
			if st.flush() != nil {
				return
			}
		}
	}
}
