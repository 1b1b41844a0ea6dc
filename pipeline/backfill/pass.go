package backfill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/koistream/koistream/topics/githubapi"
)

// Pass runs one pass over every configured repository, one after the
// other, and returns the failures joined (each wrapped with its
// repository). A repository that fails does not stop the others; a done
// ctx does.
func (f *Fetcher) Pass(ctx context.Context) error {
	var errs []error
	for _, r := range f.cfg.Repos {
		if err := f.PassRepo(ctx, r); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// PassRepo runs one pass over repo ("owner/repo"): the repository object,
// its events feed (unless X-Poll-Interval says it is too early), issues,
// pulls and commits, in that order. Each 200 page is handed to the sink
// before the list's watermark moves past it. On error the pass stops; the
// next pass resumes where this one stopped.
func (f *Fetcher) PassRepo(ctx context.Context, repo string) (err error) {
	if err := validRepo(repo); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	f.update(repo, func(s *RepoStats) { s.Running = true })
	defer func() {
		f.update(repo, func(s *RepoStats) {
			s.Running = false
			s.LastError = ""
			if err != nil {
				s.LastError = err.Error()
			} else {
				s.Passes++
			}
		})
		if err != nil {
			err = fmt.Errorf("backfill %s: %w", repo, err)
		}
	}()
	steps := []func(context.Context, string) error{f.passRepoObject, f.passEvents, f.passIssues, f.passPulls, f.passCommits}
	for _, step := range steps {
		if err := step(ctx, repo); err != nil {
			return err
		}
	}
	return nil
}

// get makes a GET and, for a 200, lands the response in the sink as a
// record of resource before returning it. notModified is true for a 304.
func (f *Fetcher) get(ctx context.Context, repo, resource, u string, conditional bool) (*response, error) {
	r, err := f.do(ctx, repo, http.MethodGet, u, conditional)
	if err != nil {
		return nil, err
	}
	if r.status == http.StatusNotModified {
		f.update(repo, func(s *RepoStats) { s.NotModified++ })
		return r, nil
	}
	if r.status != http.StatusOK {
		return nil, &StatusError{Status: r.status, URL: u, Message: message(r.body)}
	}
	in := f.input(repo, resource, u, r)
	if err := f.sink(ctx, in); err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	f.update(repo, func(s *RepoStats) { s.Pages++ })
	return r, nil
}

// input is the github-api record of a 200 response.
func (f *Fetcher) input(repo, resource, u string, r *response) githubapi.Input {
	return githubapi.Input{
		Repo: repo, Resource: resource, URL: u, Status: r.status,
		ETag: r.etag, LastModified: r.lastModified, Link: r.header.Get("Link"),
		Body: r.body, ContentType: mediaType(r.header.Get("Content-Type")),
		UserAgent: f.cfg.UserAgent, ReceivedAt: r.received,
	}
}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(mt)
}

// repoURL returns the API URL of repo's path suffix, with query q.
func (f *Fetcher) repoURL(repo, suffix string, q url.Values) string {
	owner, name, _ := strings.Cut(repo, "/")
	u := f.cfg.APIURL + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name) + suffix
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// lookback returns the first walk's lower bound, zero for all history.
func (f *Fetcher) lookback() time.Time {
	if f.cfg.LookbackDays == 0 {
		return time.Time{}
	}
	return f.cfg.Clock.Now().UTC().Add(-time.Duration(f.cfg.LookbackDays) * 24 * time.Hour).Truncate(time.Second)
}

func (f *Fetcher) perPage() string { return strconv.Itoa(f.cfg.PerPage) }

// SetSince restarts repo's issues, pulls and commits at since (the
// `koistream backfill --since DATE` override): the next pass walks each of
// them from since, whatever watermark they had. That walk's requests are
// unconditional: the validators an earlier walk kept for the same URLs
// (the pulls' pages always, the issues' and commits' when since is one
// used before) would answer 304 for pages that walk never went past. Do not
// call it while a pass over repo runs.
func (f *Fetcher) SetSince(repo string, since time.Time) error {
	if err := validRepo(repo); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	for _, res := range []string{githubapi.ResourceIssues, githubapi.ResourcePulls, githubapi.ResourceCommits} {
		if err := f.store.save(repo, res, listState{Since: since.UTC().Truncate(time.Second), Started: true, Refetch: true}, nil); err != nil {
			return err
		}
	}
	return nil
}

// FullName returns repo ("owner/repo", in any case) as GitHub spells it
// (after a rename, its new name), from the repository object the last
// pass fetched; repo itself when no
// pass has fetched it yet. The RIDs the webhook path makes carry GitHub's
// spelling, so what is looked up by RID (a delivery's event RID, say)
// needs it, not the configured name.
func (f *Fetcher) FullName(repo string) string {
	st, err := f.store.state(repo, githubapi.ResourceRepo)
	if err != nil || st.FullName == "" {
		return repo
	}
	return st.FullName
}
