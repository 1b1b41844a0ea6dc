package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults of a HubConfig.
const (
	// DefaultRingItems and DefaultRingBytes bound the ring of recent items
	// every live subscription walks; whichever is reached first evicts.
	DefaultRingItems = 1 << 16
	DefaultRingBytes = 64 << 20
	// DefaultMaxCatchUps bounds the subscriptions reading the topic
	// themselves at once; more wait their turn.
	DefaultMaxCatchUps = 16
)

// HubConfig configures a Hub.
type HubConfig struct {
	// Brokers are the seed brokers; Topic the full name of the events
	// topic. Required.
	Brokers []string
	Topic   string
	// RingItems and RingBytes bound the ring; default DefaultRingItems and
	// DefaultRingBytes.
	RingItems int
	RingBytes int64
	// MaxCatchUps bounds concurrent catch-ups; default DefaultMaxCatchUps.
	MaxCatchUps int
	// KgoOpts are added to every client the hub makes (TLS, SASL, logging).
	KgoOpts []kgo.Opt
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Hub reads the events topic live into a bounded ring and serves
// subscriptions from any position. It is safe for concurrent use.
type Hub struct {
	cfg HubConfig
}

// StartHub starts reading cfg.Topic from its last stable offsets (so that
// no transaction committed later is skipped) and returns once it knows
// them. ctx bounds only the start; Close stops the hub.
func StartHub(ctx context.Context, cfg HubConfig) (*Hub, error) {
	return nil, errors.New("replay: hub not built yet")
}

// Close stops reading and ends every subscription (their TryNext returns
// ErrClosed). It waits for the hub's goroutines.
func (h *Hub) Close() {}

// ErrClosed is returned by TryNext once the hub or the subscription is
// closed.
var ErrClosed = errors.New("replay: closed")

// ErrFellBehind is wrapped by the error TryNext returns when the ring
// evicted items the subscription had not yet read: it is cut off and must
// resume with its Cursor.
var ErrFellBehind = errors.New("replay: subscriber fell too far behind")

// SubscribeOptions say where a subscription starts and what it shows.
type SubscribeOptions struct {
	// Cursor, when set (non-nil), starts right after the position it
	// names (X-Fetch-Since-Cursor, Last-Event-ID).
	Cursor *Cursor
	// Since, when not zero and Cursor is nil, starts at the first offset
	// of each partition whose timestamp is at or after it (X-Fetch-Since),
	// the history merged across partitions in timestamp order.
	// With neither, the subscription starts live: at the end of the topic.
	Since time.Time
	// Until, when not zero, ends the subscription (TryNext returns io.EOF)
	// once every item stamped at or before it has been shown.
	Until time.Time
	// Filter selects the items shown; nil shows all. Items it rejects
	// still move the cursor.
	Filter *Filter
}

// Subscribe starts a subscription. It fails when a cursor names more
// partitions than the topic has, or when ctx ends before a catch-up slot
// or the timestamp lookup is available.
func (h *Hub) Subscribe(ctx context.Context, opts SubscribeOptions) (*Subscription, error) {
	return nil, fmt.Errorf("replay: hub not built yet")
}

// Subscription is one subscriber's view of the stream. Its methods are
// meant for one goroutine (the subscriber's writer), except Close, which
// any goroutine may call.
type Subscription struct{}

// Ready returns a channel that is closed when TryNext may have something:
// an item, the end, or an error. It is already closed when TryNext has
// something now. Wait on it, then call TryNext until it returns nil, nil.
func (s *Subscription) Ready() <-chan struct{} { return nil }

// TryNext returns the next item the filter selects, or nil, nil when there
// is none yet. It returns io.EOF when Until has passed, an error wrapping
// ErrFellBehind when the subscriber was cut off, ErrClosed after Close.
// The item must not be modified.
func (s *Subscription) TryNext() (*Item, error) { return nil, ErrClosed }

// Cursor returns the position right after the last item TryNext returned
// and every record it skipped before it.
func (s *Subscription) Cursor() Cursor { return Cursor{} }

// AppendCursor appends Cursor().AppendText to dst without copying the
// position.
func (s *Subscription) AppendCursor(dst []byte) []byte { return dst }

// CatchingUp reports whether the subscription still reads the topic
// itself (history) rather than the hub's ring (live).
func (s *Subscription) CatchingUp() bool { return false }

// Close ends the subscription and releases what it holds.
func (s *Subscription) Close() {}

// HubStats are the hub's counters, for HEAD / and /metrics.
type HubStats struct {
	// Subscribers is the number of open subscriptions; CatchingUp how many
	// of them read history.
	Subscribers, CatchingUp int
	// Items is the number of items the hub has read since it started;
	// RingItems and RingBytes what the ring holds now.
	Items     uint64
	RingItems int
	RingBytes int64
	// CutOff counts subscriptions cut off for falling behind; Skipped
	// records that were not events records.
	CutOff, Skipped uint64
}

// Stats returns the hub's counters.
func (h *Hub) Stats() HubStats { return HubStats{} }
