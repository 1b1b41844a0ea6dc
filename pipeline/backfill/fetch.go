package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	gh "github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/githubapi"
)

// NotFoundError is Fetch's error for an entity GitHub does not have (404,
// 410 for a deleted issue, 422 for an unknown commit SHA, or an issue
// number that is a pull request's). It wraps ErrNotFound.
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
		// 410: a deleted issue ("This issue was deleted"), which no retry
		// brings back.
		if errors.Is(err, ErrNotFound) || isStatus(err, http.StatusGone) ||
			(e.Type == gh.TypeCommit && isStatus(err, http.StatusUnprocessableEntity)) {
			return githubapi.Input{}, &NotFoundError{RID: rid}
		}
		return githubapi.Input{}, fmt.Errorf("backfill: fetch %s: %w", rid, err)
	}
	if e.Type == gh.TypeIssue && isPullRequest(r.body) {
		// GET /issues/{n} answers a pull request's number too, as an
		// issue with a pull_request key. No orn:github.issue exists for
		// it (the parser makes nothing of it: the entity is the
		// orn:github.pr), so it is not found, not fetched at every ask
		// and never cached.
		return githubapi.Input{}, &NotFoundError{RID: rid}
	}
	in := f.input(e.Repo, resource, u, r)
	if err := f.sink(ctx, in); err != nil {
		return githubapi.Input{}, fmt.Errorf("backfill: fetch %s: sink: %w", rid, err)
	}
	f.update(e.Repo, func(s *RepoStats) { s.Pages++; s.Items++ })
	return in, nil
}

// isPullRequest reports whether an issue object has a non-null
// pull_request member: a pull request seen through the issues endpoint.
func isPullRequest(body []byte) bool {
	var is struct {
		PullRequest json.RawMessage `json:"pull_request"`
	}
	return json.Unmarshal(body, &is) == nil && len(is.PullRequest) > 0 && string(is.PullRequest) != "null"
}
