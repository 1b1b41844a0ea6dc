package backfill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	gh "github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/githubapi"
)

// NotFoundError is Fetch's error for an entity GitHub does not have (404,
// or 422 for an unknown commit SHA). It wraps ErrNotFound.
type NotFoundError struct {
	// RID is the RID asked for.
	RID string
}

// Error names the RID.
func (e *NotFoundError) Error() string { return "github: " + e.RID + " not found" }

// Unwrap returns ErrNotFound.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// Fetch dereferences an entity RID (see ParseRID) with one unconditional
// GET, hands the 200 to the sink like any page (so the entity lands in the
// log) and returns it. It returns a *NotFoundError when GitHub has no such
// entity, and gives up at once, with ErrDeadline, rather than wait for a
// rate limit past ctx's deadline; bound it with ctx (the KOI endpoint's 3 s).
func (f *Fetcher) Fetch(ctx context.Context, rid string) (githubapi.Input, error) {
	e, err := ParseRID(rid)
	if err != nil {
		return githubapi.Input{}, err
	}
	var suffix, resource string
	switch e.Type {
	case gh.TypeRepo:
		resource = githubapi.ResourceRepo
	case gh.TypeIssue:
		suffix, resource = "/issues/"+strconv.FormatInt(e.Number, 10), githubapi.ResourceIssue
	case gh.TypePR:
		suffix, resource = "/pulls/"+strconv.FormatInt(e.Number, 10), githubapi.ResourcePull
	case gh.TypeCommit:
		suffix, resource = "/commits/"+e.SHA, githubapi.ResourceCommit
	}
	u := f.repoURL(e.Repo, suffix, nil)
	r, err := f.do(ctx, e.Repo, http.MethodGet, u, false)
	if err != nil {
		if errors.Is(err, ErrNotFound) || (e.Type == gh.TypeCommit && isStatus(err, http.StatusUnprocessableEntity)) {
			return githubapi.Input{}, &NotFoundError{RID: rid}
		}
		return githubapi.Input{}, fmt.Errorf("backfill: fetch %s: %w", rid, err)
	}
	in := f.input(e.Repo, resource, u, r)
	if err := f.sink(ctx, in); err != nil {
		return githubapi.Input{}, fmt.Errorf("backfill: fetch %s: sink: %w", rid, err)
	}
	f.update(e.Repo, func(s *RepoStats) { s.Pages++; s.Items++ })
	return in, nil
}
