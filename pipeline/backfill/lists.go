package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/go-github/v92/github"

	"github.com/koistream/koistream/topics/githubapi"
)

// passRepoObject fetches GET /repos/{o}/{r}, conditionally; it records the
// default branch the commits list needs.
func (f *Fetcher) passRepoObject(ctx context.Context, repo string) error {
	st, err := f.store.state(repo, githubapi.ResourceRepo)
	if err != nil {
		return err
	}
	r, err := f.get(ctx, repo, githubapi.ResourceRepo, f.repoURL(repo, "", nil), true)
	if err != nil {
		return err
	}
	if r.status == http.StatusNotModified && st.DefaultBranch != "" {
		return nil
	}
	if r.status == http.StatusNotModified {
		// Validators without state (state lost): fetch once more in full.
		if r, err = f.get(ctx, repo, githubapi.ResourceRepo, f.repoURL(repo, "", nil), false); err != nil {
			return err
		}
	}
	var gr github.Repository
	if err := json.Unmarshal(r.body, &gr); err != nil {
		return fmt.Errorf("decode repository: %w", err)
	}
	st.DefaultBranch, st.ID, st.FullName = gr.GetDefaultBranch(), gr.GetID(), gr.GetFullName()
	f.update(repo, func(s *RepoStats) { s.Items++ })
	return f.store.save(repo, githubapi.ResourceRepo, st, r)
}

// passEvents polls the events feed, a cheap change signal, no sooner than
// the last X-Poll-Interval allows; a 200 is followed by Link to the first
// event already seen (the feed holds at most 300 events of 30 days).
func (f *Fetcher) passEvents(ctx context.Context, repo string) error {
	st, err := f.store.state(repo, githubapi.ResourceEvents)
	if err != nil {
		return err
	}
	if st.Next == "" {
		if f.cfg.Clock.Now().Before(st.PollAfter) {
			return nil
		}
		st.Next = f.repoURL(repo, "/events", url.Values{"per_page": {f.perPage()}})
		st.WalkMaxID = st.MaxID
	}
	// A walk follows Link until it reaches an event seen by the previous
	// walk (MaxID); the seen mark moves only when the walk ends, so a
	// resumed walk still knows where to stop.
	for st.Next != "" {
		r, err := f.get(ctx, repo, githubapi.ResourceEvents, st.Next, true)
		if err != nil {
			return err
		}
		interval, ok := ParsePollInterval(r.header.Get("X-Poll-Interval"))
		if !ok {
			interval = time.Minute
		}
		st.PollAfter = f.cfg.Clock.Now().Add(interval)
		next := ""
		if r.status == http.StatusOK {
			var evs []github.Event
			if err := json.Unmarshal(r.body, &evs); err != nil {
				return fmt.Errorf("decode events: %w", err)
			}
			reached := len(evs) == 0
			for _, e := range evs {
				id, _ := strconv.ParseInt(e.GetID(), 10, 64)
				reached = reached || id <= st.MaxID
				st.WalkMaxID = max(st.WalkMaxID, id)
			}
			f.update(repo, func(s *RepoStats) { s.Items += len(evs) })
			if !reached {
				next = ParseLink(r.header.Get("Link"))["next"]
			}
		}
		if st.Next = next; next == "" {
			st.MaxID = st.WalkMaxID
		}
		if err := f.store.save(repo, githubapi.ResourceEvents, st, okOnly(r)); err != nil {
			return err
		}
	}
	return nil
}

// okOnly returns r when it is a 200 (whose validators are to be kept).
func okOnly(r *response) *response {
	if r.status == http.StatusOK {
		return r
	}
	return nil
}

// sinceWalk walks a list sorted so that what changes comes last within a
// since window (issues: sort=updated&direction=asc; commits: everything
// newer than since is in the window). The first walk starts at the
// lookback; a finished walk whose newest item is newer than its since
// starts a new walk at since=<newest>, which re-reads only the overlap and
// whose first page's ETag makes the next pass over an unchanged list one
// 304. The state moves only after the sink returned for the page.
//
// Commits, newest first, only move down as commits are added: their pages
// are followed by Link.
//
// byUpdate is set for a list ordered by updated_at ascending (issues),
// whose Link pages are offsets: an item already read that changes moves to
// the end and every later item one place up, so the item first on the
// next page would slip onto a page already read and be skipped for good
// (the walk's watermark then passes it). That can happen between any two
// pages, fetched back to back or across a pause (a MaxItems cut, a stop).
// So each next page of such a walk is the first page of a new since query
// from the newest updated_at read so far, a second early (nextSince):
// every item not yet read is at least as new, and the second covers an
// unread item updated in the same second as the newest read whether
// GitHub's since ("updated after") is inclusive or not. The first page of
// a new query is offset 0 of the list as it is when asked for, so no edit
// made before can have shifted an unread item out of it. The cost is the
// overlap: the items of that last second are read twice (the parser's
// dedupe drops the repeats), about one item a page, and a walk whose
// first page lies within one second reads that page twice.
//
// When the newest item read is not a second past the current since (the
// whole page falls within one second: a bulk edit or an import touched
// more than a page of items in the same second), no since can get past
// the page and Link is followed instead. That remaining exposure is
// bounded: it lasts only for the Link hops across that run of same-second
// items, requested back to back (the walk goes back to since queries at
// the first page that reaches past the run); only an edit made during
// those hops, of an item read in the same query (one of the run or of the
// overlap at the query's start), shifts anything, and each such edit
// pushes at most one unread item onto a page already read. Items read
// before the query began are not in it: their edits shift nothing.
//
// Only a walk's first page is asked conditionally; every later page of an
// issues walk is not, whether asked by since or by Link, since a 304 for
// a later page would end the walk there with what follows it unread. A
// 304 for the first page ends the pass (the list is unchanged) unless
// that page, when last read, had a next page: a walk that ended on a run
// of ties longer than a page starts its next walk at that second, whose
// first page stays full and unchanged while issues updated later are
// added past it, so the walk goes on at the page after it (First,
// FirstNext). A run exactly a page long fills the first page and leaves it
// without a Link next: an issue updated later goes onto page 2 and leaves
// page 1 and its ETag unchanged, so FirstNext is then that page's page 2.
// Such a run costs its pages past the first on every pass,
// until an issue updated later moves the watermark past it.
func (f *Fetcher) sinceWalk(ctx context.Context, repo, resource string, byUpdate bool, build func(since time.Time) string,
	stamps func(body []byte) ([]time.Time, error)) error {
	st, err := f.store.state(repo, resource)
	if err != nil {
		return err
	}
	if !st.Started {
		st.Started, st.Since = true, f.lookback()
	}
	if st.Next == "" {
		st.Next, st.Max = build(st.Since), st.Since
	} else if byUpdate {
		// A paused walk goes on by the same rule as the next page of a
		// walk under way (a state saved by an older build may hold a
		// Link offset that the rule would not have followed).
		nextSince(&st, build)
	}
	items := 0
	for {
		conditional := !st.Refetch
		r, err := f.get(ctx, repo, resource, st.Next, conditional)
		if err != nil {
			return err
		}
		if r.status == http.StatusNotModified {
			if byUpdate && st.Next == st.First && st.FirstNext != "" {
				// The walk's first page is unchanged but was not the
				// whole list: what changed since is past it.
				st.Next, st.Refetch = st.FirstNext, true
				continue
			}
			// Unchanged: nothing to move.
			return nil
		}
		ts, err := stamps(r.body)
		if err != nil {
			return fmt.Errorf("decode %s: %w", resource, err)
		}
		for _, t := range ts {
			if t.After(st.Max) {
				st.Max = t
			}
		}
		items += len(ts)
		f.update(repo, func(s *RepoStats) { s.Items += len(ts) })
		next := ParseLink(r.header.Get("Link"))["next"]
		if byUpdate && conditional {
			// Only a walk's first page is asked conditionally.
			st.First, st.FirstNext = st.Next, next
			if next == "" && len(ts) >= f.cfg.PerPage {
				// Full but last: an issue updated later goes onto page 2
				// and leaves this page, and its ETag, unchanged.
				st.FirstNext = withPage(st.Next, 2)
			}
		}
		switch {
		case next != "":
			st.Next = next
			if byUpdate {
				nextSince(&st, build)
				// Unconditional also when Link is followed across a run
				// of ties: a 304 to a later page would stop the walk there
				// for good, with whatever comes after it unread.
				st.Refetch = true
			}
		case st.Max.After(st.Since):
			st.Since = st.Max
			st.Next = build(st.Since)
			st.Refetch = false // a new walk: conditional again
		default:
			st.Next, st.Refetch = "", false
		}
		if err := f.store.save(repo, resource, st, r); err != nil {
			return err
		}
		if st.Next == "" || (f.cfg.MaxItems > 0 && items >= f.cfg.MaxItems) {
			return nil
		}
	}
}

// withPage returns u with its page query parameter set to page (u as it is
// when it does not parse).
func withPage(u string, page int) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	q.Set("page", strconv.Itoa(page))
	p.RawQuery = q.Encode()
	return p.String()
}

// nextSince replaces the next page of a walk ordered by updated_at
// ascending by a since query from the newest item read, a second early,
// when that since is later than the walk's (see sinceWalk); otherwise it
// leaves st.Next (the Link offset) alone. Since only grows this way, so a
// walk still progresses when it pauses after every page. The rest of the
// walk is unconditional: its pages are read mid-walk, and a 304 (for a URL
// an earlier walk asked for at the same since) would only say that page is
// unchanged, not that this walk is done. The walk's first page stays
// conditional; that is the one 304 of an unchanged pass.
func nextSince(st *listState, build func(since time.Time) string) {
	if s := st.Max.Add(-time.Second); s.After(st.Since) {
		st.Since = s
		st.Next, st.Refetch = build(s), true
	}
}

func (f *Fetcher) passIssues(ctx context.Context, repo string) error {
	build := func(since time.Time) string {
		q := url.Values{"state": {"all"}, "sort": {"updated"}, "direction": {"asc"}, "per_page": {f.perPage()}}
		if !since.IsZero() {
			q.Set("since", since.UTC().Format(time.RFC3339))
		}
		return f.repoURL(repo, "/issues", q)
	}
	return f.sinceWalk(ctx, repo, githubapi.ResourceIssues, true, build, func(b []byte) ([]time.Time, error) {
		var is []github.Issue
		if err := json.Unmarshal(b, &is); err != nil {
			return nil, err
		}
		out := make([]time.Time, 0, len(is))
		for _, i := range is {
			out = append(out, i.GetUpdatedAt().Time)
		}
		return out, nil
	})
}

func (f *Fetcher) passCommits(ctx context.Context, repo string) error {
	rs, err := f.store.state(repo, githubapi.ResourceRepo)
	if err != nil {
		return err
	}
	build := func(since time.Time) string {
		q := url.Values{"per_page": {f.perPage()}}
		if rs.DefaultBranch != "" {
			q.Set("sha", rs.DefaultBranch)
		}
		if !since.IsZero() {
			q.Set("since", since.UTC().Format(time.RFC3339))
		}
		return f.repoURL(repo, "/commits", q)
	}
	err = f.sinceWalk(ctx, repo, githubapi.ResourceCommits, false, build, func(b []byte) ([]time.Time, error) {
		var cs []github.RepositoryCommit
		if err := json.Unmarshal(b, &cs); err != nil {
			return nil, err
		}
		out := make([]time.Time, 0, len(cs))
		for _, c := range cs {
			out = append(out, c.GetCommit().GetCommitter().GetDate().Time)
		}
		return out, nil
	})
	if isStatus(err, http.StatusConflict) {
		return nil // an empty repository has no commits
	}
	return err
}

// passPulls walks pulls newest-updated first from page 1 (pulls have no
// since) and stops at the first pull older than the watermark; the
// watermark moves to the walk's newest pull when the walk ends. An
// unchanged list costs one conditional request for page 1.
func (f *Fetcher) passPulls(ctx context.Context, repo string) error {
	st, err := f.store.state(repo, githubapi.ResourcePulls)
	if err != nil {
		return err
	}
	if !st.Started {
		st.Started, st.Since = true, f.lookback()
	}
	if st.Next == "" {
		q := url.Values{"state": {"all"}, "sort": {"updated"}, "direction": {"desc"}, "per_page": {f.perPage()}}
		st.Next, st.Max = f.repoURL(repo, "/pulls", q), st.Since
	}
	items := 0
	for {
		r, err := f.get(ctx, repo, githubapi.ResourcePulls, st.Next, !st.Refetch)
		if err != nil {
			return err
		}
		if r.status == http.StatusNotModified {
			if st.Max.After(st.Since) {
				// A resumed walk met an unchanged page: it is over.
				st.Since, st.Next = st.Max, ""
				return f.store.save(repo, githubapi.ResourcePulls, st, nil)
			}
			return nil
		}
		var prs []github.PullRequest
		if err := json.Unmarshal(r.body, &prs); err != nil {
			return fmt.Errorf("decode pulls: %w", err)
		}
		stop := false
		for _, p := range prs {
			t := p.GetUpdatedAt().Time
			if t.After(st.Max) {
				st.Max = t
			}
			stop = stop || t.Before(st.Since)
		}
		items += len(prs)
		f.update(repo, func(s *RepoStats) { s.Items += len(prs) })
		next := ParseLink(r.header.Get("Link"))["next"]
		if stop || next == "" {
			st.Since, st.Next, st.Refetch = st.Max, "", false
		} else {
			st.Next = next
		}
		if err := f.store.save(repo, githubapi.ResourcePulls, st, r); err != nil {
			return err
		}
		if st.Next == "" || (f.cfg.MaxItems > 0 && items >= f.cfg.MaxItems) {
			return nil
		}
	}
}
