package backfill

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The fetcher's Pebble keys, under the configured prefix:
//
//	prefix "v\x00" scope "\x00" url         → validators (ETag, Last-Modified)
//	prefix "w\x00" repo "\x00" resource     → listState (watermark, resume URL)
//
// scope is a hash of the token (never the token itself): validators are
// kept per credential because GitHub's answers, and their ETags, may
// differ per credential. Repositories are lower-cased as GitHub compares
// names.

// validators are what a conditional request echoes.
type validators struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// listState is the resume point of one list of one repository.
type listState struct {
	// Since is the watermark: for issues and commits the since of the
	// current query (an issues walk moves it up page by page, see
	// sinceWalk), for pulls the updated_at where a walk stops.
	Since time.Time `json:"since,omitzero"`
	// Started is set once the first walk began (the lookback applied).
	Started bool `json:"started,omitempty"`
	// Next is the URL of the next page of an unfinished walk (a Link URL
	// verbatim, the walk's first page, or an issues walk's next since
	// query); empty when idle.
	Next string `json:"next,omitempty"`
	// Refetch makes every request of the walk under way unconditional
	// (set by SetSince, and by an issues walk from its first since query
	// after page 1): validators an earlier walk kept for the same URLs
	// would answer 304 for pages that walk never went past, and the
	// re-walk would stop there. It clears when the walk ends.
	Refetch bool `json:"refetch,omitempty"`
	// First and FirstNext (issues): the URL of the first page of the
	// last walk whose first page was read with a 200, and that page's
	// Link next then. A 304 to that URL says only that the page is
	// unchanged: when it had a next page (more than a page of issues
	// updated in the watermark's second, a bulk edit), issues added or
	// changed since are past it, and the walk goes on at FirstNext.
	First     string `json:"first,omitempty"`
	FirstNext string `json:"first_next,omitempty"`
	// Max is the newest updated_at (or commit date) seen in the walk.
	Max time.Time `json:"max,omitzero"`
	// MaxID is the newest event id seen (events).
	MaxID int64 `json:"max_id,omitempty"`
	// WalkMaxID is the newest event id of the walk under way (events).
	WalkMaxID int64 `json:"walk_max_id,omitempty"`
	// PollAfter is when the events feed may be polled again.
	PollAfter time.Time `json:"poll_after,omitzero"`
	// DefaultBranch and ID are the repository's (repo); FullName is its
	// full_name, as GitHub spells it.
	DefaultBranch string `json:"default_branch,omitempty"`
	ID            int64  `json:"id,omitempty"`
	FullName      string `json:"full_name,omitempty"`
	// LegacyUpdatedAt is the repository's updated_at an old sensor's
	// state file recorded (repo); informational.
	LegacyUpdatedAt string `json:"legacy_updated_at,omitempty"`
}

type store struct {
	db     *pebble.DB
	prefix string
}

func (s store) validatorKey(scope, url string) []byte {
	return []byte(s.prefix + "v\x00" + scope + "\x00" + url)
}

func (s store) stateKey(repo, resource string) []byte {
	return []byte(s.prefix + "w\x00" + strings.ToLower(repo) + "\x00" + resource)
}

func (s store) get(key []byte, v any) (bool, error) {
	b, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("backfill: read state: %w", err)
	}
	defer closer.Close()
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("backfill: state %q is corrupt: %w", key, err)
	}
	return true, nil
}

func (s store) validators(scope, url string) (validators, error) {
	var v validators
	_, err := s.get(s.validatorKey(scope, url), &v)
	return v, err
}

func (s store) state(repo, resource string) (listState, error) {
	var st listState
	_, err := s.get(s.stateKey(repo, resource), &st)
	return st, err
}

// save writes, in one synced batch, the validators of a 200 response (when
// r is not nil) and a list's new state: the two move together, after the
// sink has returned for r.
func (s store) save(repo, resource string, st listState, r *response) error {
	b := s.db.NewBatch()
	defer b.Close()
	if r != nil && (r.etag != "" || r.lastModified != "") {
		v, _ := json.Marshal(validators{ETag: r.etag, LastModified: r.lastModified})
		if err := b.Set(s.validatorKey(r.scope, r.url), v, nil); err != nil {
			return fmt.Errorf("backfill: write state: %w", err)
		}
	}
	if resource != "" {
		v, _ := json.Marshal(st)
		if err := b.Set(s.stateKey(repo, resource), v, nil); err != nil {
			return fmt.Errorf("backfill: write state: %w", err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("backfill: write state: %w", err)
	}
	return nil
}
