// Package streams is the node's stream listener: GitPubSub- and
// PyPubSub-compatible event streams over HTTP (GET), their server
// statistics (HEAD) and the intake of the "publish" source (PUT, POST). It
// runs on its own listener, separate from the webhook and KOI-net one,
// because its connections live for hours and its clients expect
// GitPubSub's port and conventions.
//
// A GET on a path streams the events of the replay hub its filter selects,
// one event per HTTP chunk, in the framing the Accept header asks for:
// GitPubSub (each object followed by "\r\n"), PyPubSub (followed by "\n",
// plus "\x00" for svnwcsub clients; the default) or server-sent events.
// A {"stillalive": <seconds>} object comes on connect and every ping
// interval. A stream connection is taken over from net/http (hijacked)
// once its request has been checked: it then costs its handler's
// goroutine, a timer and a small reused buffer, and nothing else, so tens
// of thousands of idle subscribers are cheap. A client that went away is
// noticed at the next write, a ping at the latest.
package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/koistream/koistream/pipeline/httpjson"
	"github.com/koistream/koistream/replay"
)

// Defaults of a Config.
const (
	// DefaultMaxPayload bounds a published body.
	DefaultMaxPayload = 1 << 20
	// DefaultPingInterval is how often a stream gets a stillalive:
	// PyPubSub clients (asfpy) give up after 11 s without a byte.
	DefaultPingInterval = 4 * time.Second
	// MaxPingInterval is the longest ping interval allowed: PyPubSub and
	// GitPubSub clients expect a ping every 5 s at most.
	MaxPingInterval = 5 * time.Second
	// DefaultWriteTimeout bounds one write to a subscriber: one that
	// cannot take a batch of events in that time is dropped.
	DefaultWriteTimeout = 30 * time.Second
)

// DefaultTrustedCIDRs are the publishers trusted without a token:
// loopback.
var DefaultTrustedCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Bounds of the listener's HTTP server.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second // a publish's body; cleared for streams
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Config configures a Server.
type Config struct {
	// Hub serves the streams. Nil answers every GET 503: a node whose hub
	// is not running still takes publishes.
	Hub *replay.Hub
	// Publisher appends publish records to RawTopic; a nil error must
	// mean durably in the log. Required for publishing: without it PUT
	// and POST are answered 503.
	Publisher message.Publisher
	// RawTopic is the full name of the raw topic.
	RawTopic string
	// TrustedCIDRs may publish without a token. Nil means
	// DefaultTrustedCIDRs; an empty non-nil list trusts no address.
	TrustedCIDRs []netip.Prefix
	// PublishToken, when not empty, lets any client that sends
	// "Authorization: Bearer <token>" publish.
	PublishToken []byte
	// MaxPayload bounds a published body in bytes; default
	// DefaultMaxPayload.
	MaxPayload int64
	// PingInterval is how often streams get a stillalive; default
	// DefaultPingInterval, at most MaxPingInterval.
	PingInterval time.Duration
	// WriteTimeout bounds a write to a subscriber; default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Logger defaults to slog.Default(); Meter to a no-op meter.
	Logger *slog.Logger
	Meter  metric.Meter
}

// SetDefaults fills every unset field with its default.
func (c *Config) SetDefaults() {
	if c.TrustedCIDRs == nil {
		c.TrustedCIDRs = DefaultTrustedCIDRs
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Meter == nil {
		c.Meter = noop.NewMeterProvider().Meter("")
	}
}

// Validate reports the first problem of c. Call SetDefaults first.
func (c *Config) Validate() error {
	if c.MaxPayload < 1 {
		return fmt.Errorf("streams: max payload must be at least 1 byte, got %d", c.MaxPayload)
	}
	if c.PingInterval <= 0 || c.PingInterval > MaxPingInterval {
		return fmt.Errorf("streams: ping interval must be above 0 and at most %s, got %s", MaxPingInterval, c.PingInterval)
	}
	if c.WriteTimeout <= 0 {
		return fmt.Errorf("streams: write timeout must be above 0, got %s", c.WriteTimeout)
	}
	for _, p := range c.TrustedCIDRs {
		if !p.IsValid() {
			return fmt.Errorf("streams: trusted CIDR %q is not valid", p)
		}
	}
	return nil
}

// Server is the stream listener's handler and server. Its methods are safe
// for concurrent use.
type Server struct {
	cfg   Config
	start time.Time
	http  *http.Server

	// mu orders streams.Add against Shutdown's close of closing and
	// streams.Wait: no stream starts once Shutdown waits.
	mu      sync.Mutex
	closing chan struct{} // closed by Shutdown: streams end
	closed  bool
	streams sync.WaitGroup

	subscribers, conns atomic.Int64
	received, sent     atomic.Int64

	mSubscribers metric.Int64UpDownCounter
	mSent        metric.Int64Counter
	mCutOffs     metric.Int64Counter
	mPublishes   metric.Int64Counter
}

// New returns a Server for cfg (after SetDefaults and Validate).
func New(cfg Config) (*Server, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, start: time.Now(), closing: make(chan struct{})}
	var err error
	m := cfg.Meter
	if s.mSubscribers, err = m.Int64UpDownCounter("koistream_stream_subscribers",
		metric.WithDescription("Open stream subscriptions on the stream listener.")); err != nil {
		return nil, err
	}
	if s.mSent, err = m.Int64Counter("koistream_stream_items_sent",
		metric.WithDescription("Events written to stream subscribers.")); err != nil {
		return nil, err
	}
	if s.mCutOffs, err = m.Int64Counter("koistream_stream_cutoffs",
		metric.WithDescription("Stream subscribers cut off for falling behind.")); err != nil {
		return nil, err
	}
	if s.mPublishes, err = m.Int64Counter("koistream_stream_publishes",
		metric.WithDescription("Publish requests on the stream listener, by answer status.")); err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Serve serves on ln until Shutdown, counting its connections and bytes for
// HEAD. It returns nil after Shutdown, else the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(httpjson.Listener(&countingListener{Listener: ln, s: s}, maxHeaderBytes))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown ends every stream (each gets a final {"error":"shutting
// down",...,"pubsub_cursor":...} object, so that a client resumes rather
// than take it for the end it asked for, then its chunked terminator), stops
// accepting and waits, until ctx ends, for publishes in flight and the
// streams' handlers.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	err := s.http.Shutdown(ctx)
	done := make(chan struct{})
	go func() { s.streams.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// startStream registers a stream unless the server is shutting down.
func (s *Server) startStream() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.streams.Add(1)
	return true
}

// Stats are the listener's counters, as HEAD reports them.
type Stats struct {
	// Uptime is the time since New.
	Uptime time.Duration
	// Subscribers is the number of open streams.
	Subscribers int64
	// Connections counts the connections accepted since New.
	Connections int64
	// Received and Sent count the bytes read from and written to every
	// connection since New.
	Received, Sent int64
}

// Stats returns the listener's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Uptime: time.Since(s.start), Subscribers: s.subscribers.Load(), Connections: s.conns.Load(),
		Received: s.received.Load(), Sent: s.sent.Load(),
	}
}

// ServeHTTP answers GET (a stream), HEAD (statistics), PUT and POST (a
// publish) on any path; other methods get 405.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.serveStream(w, r)
	case http.MethodHead:
		s.serveHead(w)
	case http.MethodPut, http.MethodPost:
		s.servePublish(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST")
		httpjson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%.20s is not allowed: GET subscribes, PUT or POST publishes, HEAD shows statistics", r.Method))
	}
}

// serveHead answers GitPubSub's statistics headers.
func (s *Server) serveHead(w http.ResponseWriter) {
	st := s.Stats()
	h := w.Header()
	h.Set("X-Uptime", strconv.FormatInt(int64(st.Uptime/time.Second), 10))
	h.Set("X-Subscribers", strconv.FormatInt(st.Subscribers, 10))
	h.Set("X-Total-Connections", strconv.FormatInt(st.Connections, 10))
	h.Set("X-Received", strconv.FormatInt(st.Received, 10))
	h.Set("X-Sent", strconv.FormatInt(st.Sent, 10))
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) countPublish(ctx context.Context, status int) {
	s.mPublishes.Add(ctx, 1, metric.WithAttributes(attribute.Int("status", status)))
}

// countingListener counts accepted connections and the bytes they carry.
type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.conns.Add(1)
	return &countingConn{Conn: c, s: l.s}, nil
}

type countingConn struct {
	net.Conn
	s *Server
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.s.received.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.s.sent.Add(int64(n))
	return n, err
}

// CloseWrite half-closes the connection when it is a TCP one, which
// net/http uses to finish answers it closes after.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
