package koiapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultDereferenceTimeout is how long a fetch answer waits for RIDs being
// dereferenced: a Python peer gives up on a request after 5 s, and the
// answer must reach it before that with what it has.
const DefaultDereferenceTimeout = 3 * time.Second

// maxDereferences bounds the RIDs one request dereferences: each is an API
// request against the origin's quota.
const maxDereferences = 32

// ErrGone is what a Dereferencer returns, wrapped, when the origin says the
// RID does not exist: the answer lists it as not found.
var ErrGone = errors.New("koiapi: the origin does not have it")

// Dereferencer fetches RIDs the cache does not hold from their origin and
// appends what it fetched to the log, from where the pipeline brings it
// into the cache like any input. Its methods are called concurrently.
type Dereferencer interface {
	// Dereferences reports whether rid is of a kind this dereferencer
	// fetches.
	Dereferences(rid string) bool
	// Dereference fetches rid and returns once what it fetched is
	// durably in the log, or with an error: wrapping ErrGone when the
	// origin does not have rid, any other when it could not tell (the
	// RID is then deferred). It must return when ctx ends.
	Dereference(ctx context.Context, rid string) error
}

// dereference fetches the RIDs of missing that s.deref handles, at most
// maxDereferences of them concurrently, and waits until the cache holds
// them (lookup says found) or the timeout passes. It returns the RIDs now
// held (got), those the origin does not have or nobody fetches (notFound),
// and those still on their way or beyond the bound (deferred).
func (s *Server) dereference(ctx context.Context, missing []string, lookup func(string) ([]byte, bool, error)) (got, notFound, deferred []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.derefTimeout)
	defer cancel()
	type result struct {
		rid string
		err error
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		n       int
	)
	for _, rid := range missing {
		if !s.deref.Dereferences(rid) {
			notFound = append(notFound, rid)
			continue
		}
		if n >= maxDereferences {
			// Never asked of the origin: it may well have it, so the
			// peer is to ask again, not told it does not exist.
			deferred = append(deferred, rid)
			continue
		}
		n++
		wg.Go(func() {
			err := s.deref.Dereference(ctx, rid)
			if err == nil {
				err = waitCached(ctx, rid, lookup)
			}
			mu.Lock()
			results = append(results, result{rid, err})
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, r := range results {
		switch {
		case r.err == nil:
			got = append(got, r.rid)
		case errors.Is(r.err, ErrGone):
			notFound = append(notFound, r.rid)
		default:
			if ctx.Err() == nil {
				s.logger.Warn("dereference failed; deferred", "rid", r.rid, "err", r.err)
			}
			deferred = append(deferred, r.rid)
		}
	}
	return got, notFound, deferred, nil
}

// waitCached polls lookup until rid is found or ctx ends. The pipeline
// takes tens of milliseconds from the log to the cache, so a short poll
// interval costs little and answers soon.
func waitCached(ctx context.Context, rid string, lookup func(string) ([]byte, bool, error)) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		_, found, err := lookup(rid)
		if err != nil {
			return fmt.Errorf("cache lookup of %s: %w", rid, err)
		}
		if found {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
