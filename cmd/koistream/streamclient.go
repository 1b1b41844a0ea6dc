package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/koistream/koistream/topics/streams"
)

// defaultPubSub is the stream listener a node opens unless told otherwise
// (serve's --pubsub-listen), the port GitPubSub and PyPubSub use.
const defaultPubSub = "127.0.0.1:2069"

// streamMediaType is the framing asked of the stream listener: PyPubSub's,
// one JSON object per line ending in "\n".
const streamMediaType = "application/vnd.pypubsub-stream"

// maxStreamLine bounds one line of a stream, and maxAnswer the answer to a
// publish or an error body: a node never sends that much in one object, so
// more is a peer that is not a koistream node.
const (
	maxStreamLine = 64 << 20
	maxAnswer     = 1 << 20
)

// idleTimeout is how long a stream may stay silent before the client
// treats the connection as dead. The listener pings at least every 5 s;
// asfpy gives up after 11 s, we allow a little more for a busy node.
var idleTimeout = 20 * time.Second

// reconnectBackoff is asfpy's: the waits before the 1st, 2nd, ... attempt
// to reconnect; the last one repeats.
var reconnectBackoff = []time.Duration{0, 2 * time.Second, 6 * time.Second, 14 * time.Second, 30 * time.Second}

// streamClient talks to a node's stream listener over HTTP. It is safe for
// concurrent use.
type streamClient struct {
	base string // scheme://host:port, no trailing slash
	http *http.Client
}

// newStreamClient returns a client of the listener at addr: host:port
// (http is implied) or an http(s) URL whose path, query and fragment are
// not allowed (the stream path is a flag of its own). An unspecified host
// (":2069", "0.0.0.0:2069") is asked on loopback, as peers does.
func newStreamClient(addr string) (*streamClient, error) {
	scheme, hostport := "http", addr
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return nil, fmt.Errorf("--pubsub %q: %w", addr, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("--pubsub %q: the scheme must be http or https", addr)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("--pubsub %q: give only scheme://host:port; the stream path is --path", addr)
		}
		scheme, hostport = u.Scheme, u.Host
		if u.Port() == "" {
			hostport = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[scheme])
		}
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port == "" {
		return nil, fmt.Errorf("--pubsub must be host:port or a URL, got %q", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	// No client timeout: streams last as long as they last; each request
	// carries its own context, and reads are watched by idleTimeout.
	return &streamClient{base: scheme + "://" + net.JoinHostPort(host, port), http: &http.Client{}}, nil
}

// checkStreamPath checks a --path value: it must start with "/" and follow
// the stream path grammar.
func checkStreamPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("--path must start with \"/\", got %q", p)
	}
	if err := streams.CheckPath(p); err != nil {
		return fmt.Errorf("--path: %w", err)
	}
	return nil
}

// pathURL is the URL of the stream path p (already checked), each topic
// escaped.
func (c *streamClient) pathURL(p string) string {
	return c.base + (&url.URL{Path: p}).EscapedPath()
}

// streamQuery says what one GET of the stream asks for.
type streamQuery struct {
	path   string // the stream path, "/" for everything
	key    string // an AMQP routing-key pattern, "" for none
	until  string // the end of a replay as sent (RFC 3339), "" to follow live
	since  string // X-Fetch-Since, epoch seconds as sent, "" for none
	cursor string // X-Fetch-Since-Cursor, wins over since
}

// streamEvent is what the client reads of one object of the stream; the
// object itself is passed on as received. Only the members the node sets
// are typed: "error", "detail" and "stillalive" may also be members of a
// published event, whatever their type.
type streamEvent struct {
	Path       jsontext.Value `json:"pubsub_path"`
	Stillalive jsontext.Value `json:"stillalive"`
	Error      jsontext.Value `json:"error"`
	Detail     jsontext.Value `json:"detail"`
	Cursor     string         `json:"pubsub_cursor"`
	Timestamp  float64        `json:"pubsub_timestamp"`
}

// isPing reports whether the object is a stillalive ping. Events carry a
// pubsub_path; an event that happens to have a stillalive member is an
// event.
func (e streamEvent) isPing() bool { return e.Path == nil && e.Stillalive != nil }

// cutOff returns the node's reason when the object ends the stream: an
// "error" member and no pubsub_path (which every event carries).
func (e streamEvent) cutOff() (*cutOffError, bool) {
	if e.Path != nil || e.Error == nil {
		return nil, false
	}
	return &cutOffError{Reason: jsonText(e.Error), Detail: jsonText(e.Detail), Cursor: e.Cursor}, true
}

// jsonText is a JSON string's value, or any other value's JSON text.
func jsonText(v jsontext.Value) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// streamLineOptions read what peers publish as it is: names may repeat and
// strings may hold invalid UTF-8 without the line being refused; names are
// matched exactly, so "StillAlive" is an event member, not a ping.
var streamLineOptions = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// parseStreamLine decodes the members the client acts on from one line of
// the stream (framing already removed). A line that is not a JSON object
// is an error: the peer is not speaking the protocol.
func parseStreamLine(line []byte) (streamEvent, error) {
	var ev streamEvent
	if len(bytes.TrimLeft(line, " \t\r\n")) == 0 || bytes.TrimLeft(line, " \t\r\n")[0] != '{' {
		return ev, fmt.Errorf("the stream sent something else than a JSON object: %.120q", line)
	}
	if err := json.Unmarshal(line, &ev, streamLineOptions); err != nil {
		return streamEvent{}, fmt.Errorf("the stream sent an object that does not decode (%w): %.120q", err, line)
	}
	return ev, nil
}

// cutOffError is a stream the node ended with an error object: the reader
// fell behind (or the node stopped it) and resumes after Cursor.
type cutOffError struct {
	Reason, Detail, Cursor string
}

func (e *cutOffError) Error() string {
	s := "the node cut the stream off: " + e.Reason
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// refusedError is a 4xx answer: the request itself is wrong, asking again
// will not help.
type refusedError struct {
	Status string
	Body   []byte
}

func (e *refusedError) Error() string {
	return "the node refused the request (" + e.Status + "): " + errorBodyText(e.Body)
}

// errorBodyText renders a {"error","detail"} body as "error: detail", or
// the body as it is when it is not one.
func errorBodyText(body []byte) string {
	var e struct {
		Error  string `json:"error"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &e, streamLineOptions) == nil && e.Error != "" {
		if e.Detail != "" {
			return e.Error + ": " + e.Detail
		}
		return e.Error
	}
	return strings.TrimSpace(string(body))
}

// stream opens one GET of the stream for q and calls onEvent for every
// event object, in order, with the object's bytes as received (no framing)
// and what the client read of it; pings are skipped. It returns nil when
// the node ended the stream cleanly (a replay reached its until), a
// *cutOffError when the node ended it with an error object, a
// *refusedError on a 4xx, the error of onEvent, or the transport error
// (ctx done, connection lost, idleTimeout of silence). alive, when not
// nil, is called on the first object of the stream (the node pings on
// connect): the connection works, not merely opened.
func (c *streamClient) stream(ctx context.Context, q streamQuery, alive func(), onEvent func(line []byte, ev streamEvent) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	u := c.pathURL(q.path)
	v := url.Values{}
	if q.key != "" {
		v.Set("key", q.key)
	}
	if q.until != "" {
		v.Set("until", q.until)
	}
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", streamMediaType)
	switch {
	case q.cursor != "":
		req.Header.Set("X-Fetch-Since-Cursor", q.cursor)
	case q.since != "":
		req.Header.Set("X-Fetch-Since", q.since)
	}
	errIdle := fmt.Errorf("no data nor ping from %s for %s", c.base, idleTimeout)
	idle := time.AfterFunc(idleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	resp, err := c.http.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); cause == errIdle {
			return cause
		}
		return fmt.Errorf("is the node's stream listener running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return &refusedError{Status: resp.Status, Body: body}
		}
		return fmt.Errorf("%s answered %s: %s", u, resp.Status, errorBodyText(body))
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := readLine(r)
		if len(line) > 0 {
			idle.Reset(idleTimeout)
			ev, perr := parseStreamLine(line)
			if perr != nil {
				return &protocolError{perr}
			}
			if alive != nil {
				alive()
				alive = nil
			}
			if co, ok := ev.cutOff(); ok {
				return co
			}
			if !ev.isPing() {
				if err := onEvent(line, ev); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				return cause
			}
			return fmt.Errorf("reading the stream from %s: %w", c.base, err)
		}
	}
}

// readLine reads one line of the stream and strips its framing: the "\n",
// a "\r" before it (GitPubSub framing) and a "\0" after it (svnpubsub).
// An empty line is skipped by the caller. A line longer than maxStreamLine
// is an error.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(buf)+len(frag) > maxStreamLine {
			return nil, fmt.Errorf("a line of the stream is longer than %d bytes", maxStreamLine)
		}
		buf = append(buf, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		line := bytes.TrimRight(buf, "\r\n\x00")
		line = bytes.TrimLeft(line, "\x00")
		if err == io.EOF && len(line) > 0 {
			// The last line lacks its "\n": the stream was cut in the
			// middle of an object.
			return nil, io.ErrUnexpectedEOF
		}
		return line, err
	}
}

// parseTimeFlag parses an RFC 3339 time or epoch seconds (an integer or a
// decimal fraction, not negative) as a --since or --until value.
func parseTimeFlag(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("--%s is empty; give an RFC 3339 time or epoch seconds", name)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	digits := func(d string) bool {
		for _, r := range d {
			if r < '0' || r > '9' {
				return false
			}
		}
		return true
	}
	if intPart == "" || !digits(intPart) || (hasFrac && (frac == "" || !digits(frac))) {
		return time.Time{}, fmt.Errorf("--%s %q is neither an RFC 3339 time (2026-11-28T21:30:00Z) nor epoch seconds (1795368272 or 1795368272.5)", name, s)
	}
	sec, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || sec > math.MaxInt64/int64(time.Second)-1 {
		return time.Time{}, fmt.Errorf("--%s %q: epoch seconds out of range", name, s)
	}
	var nsec int64
	if hasFrac {
		f := (frac + "000000000")[:9] // digits past nanoseconds are dropped
		nsec, _ = strconv.ParseInt(f, 10, 64)
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// epochString renders t as the epoch seconds X-Fetch-Since takes, exact to
// the nanosecond: "1795368272" or "1795368272.5".
func epochString(t time.Time) string {
	s := strconv.FormatInt(t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return s
}

// backoffWait waits the backoff before attempt n (0-based) or until ctx is
// done.
func backoffWait(ctx context.Context, n int) error {
	d := reconnectBackoff[min(n, len(reconnectBackoff)-1)]
	if d == 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// protocolError is a stream that does not follow the protocol: the peer
// is not a koistream node, asking again will not help.
type protocolError struct{ err error }

func (e *protocolError) Error() string { return e.err.Error() }
func (e *protocolError) Unwrap() error { return e.err }

// isFinal reports whether err is a 4xx answer or a stream that breaks the
// protocol: not worth retrying.
func isFinal(err error) bool {
	if _, ok := errors.AsType[*refusedError](err); ok {
		return true
	}
	_, ok := errors.AsType[*protocolError](err)
	return ok
}
