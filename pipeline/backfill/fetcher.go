package backfill

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Fetcher fetches the configured repositories (Pass, PassRepo), single
// entities (Fetch) and recovers webhook deliveries (RecoverDeliveries). Its
// methods are safe for concurrent use; requests stay serial per token, and
// passes over one repository must not overlap (the caller's schedule runs
// one pass at a time).
type Fetcher struct {
	cfg   Config
	store store
	sink  Sink

	tokens []*token

	mu    sync.Mutex
	cur   int // index of the token in use
	stats map[string]*RepoStats
}

// token is one credential and what its last response said of its quota.
type token struct {
	value, scope string
	// turn serialises the token's requests (GitHub's best practices ask
	// for serial requests per credential): a request holds its one slot.
	// A channel, not a mutex, so that waiting for the turn obeys the
	// context: a dereference bounded to 3 s must not queue past that
	// behind a pass's slow page.
	turn chan struct{}
	// remaining and reset are guarded by Fetcher.mu; remaining is -1 when
	// unknown.
	remaining int
	reset     time.Time
}

// New returns a Fetcher that keeps its validators and watermarks in db
// under keys starting with prefix and hands every 200 response to sink.
// cfg is completed with its defaults and validated.
func New(cfg Config, db *pebble.DB, prefix string, sink Sink) (*Fetcher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || sink == nil {
		return nil, errors.New("backfill: New needs a database and a sink")
	}
	f := &Fetcher{cfg: cfg, store: store{db: db, prefix: prefix}, sink: sink, stats: map[string]*RepoStats{}}
	for _, t := range cfg.Tokens {
		h := sha256.Sum256([]byte(t))
		f.tokens = append(f.tokens, &token{value: t, scope: hex.EncodeToString(h[:8]), remaining: -1, turn: make(chan struct{}, 1)})
	}
	for _, r := range cfg.Repos {
		f.stat(r)
	}
	return f, nil
}

// StatusError is a response the fetcher does not retry: a 4xx other than
// a rate limit, or the last of a bounded series of 5xx.
type StatusError struct {
	// Status is the HTTP status; URL the request's.
	Status int
	URL    string
	// Message is GitHub's "message", or the start of the body.
	Message string
}

// Error says which URL answered what.
func (e *StatusError) Error() string {
	return fmt.Sprintf("github: %s: %d %s", e.URL, e.Status, e.Message)
}

// ErrNotFound is wrapped by errors for 404 answers (and by Fetch's for
// entities GitHub does not have).
var ErrNotFound = errors.New("github: not found")

// Is makes a 404 StatusError match ErrNotFound.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Status == 404
}

// ErrRateLimited is wrapped when a request gave up on a secondary rate
// limit after Config.MaxSecondaryRetries, or on a primary limit that did
// not lift.
var ErrRateLimited = errors.New("github: rate limited")

// ErrDeadline is wrapped when a wait would outlast the context's deadline:
// the fetcher returns at once rather than sleep past it.
var ErrDeadline = errors.New("github: the wait would outlast the deadline")
