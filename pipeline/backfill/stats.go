package backfill

import (
	"sort"
	"time"
)

// RepoStats are one repository's counters since the Fetcher was made, for
// a progress display and /metrics.
type RepoStats struct {
	// Repo is "owner/repo".
	Repo string
	// Requests counts HTTP requests made for the repository (retries
	// included); Pages the 200 responses landed in the sink; Items the
	// list items and single objects they held; NotModified the 304s.
	Requests, Pages, Items, NotModified int
	// Waits counts rate-limit and backoff waits; Waited is their total.
	Waits  int
	Waited time.Duration
	// QuotaLimit and QuotaRemaining are the primary budget of the token
	// last used for the repository (-1 when unknown); QuotaReset is when
	// its window ends.
	QuotaLimit, QuotaRemaining int
	QuotaReset                 time.Time
	// Passes counts completed passes; Redelivered the webhook deliveries
	// redelivered.
	Passes, Redelivered int
	// LastError is the last pass's error, empty when it succeeded.
	LastError string
	// Running is true while a pass over the repository runs.
	Running bool
}

// stat returns the stats of repo, creating them; f.mu must be held.
func (f *Fetcher) stat(repo string) *RepoStats {
	s := f.stats[repo]
	if s == nil {
		s = &RepoStats{Repo: repo, QuotaLimit: -1, QuotaRemaining: -1}
		f.stats[repo] = s
	}
	return s
}

// update applies fn to repo's stats and reports them to OnProgress.
func (f *Fetcher) update(repo string, fn func(*RepoStats)) {
	f.mu.Lock()
	s := f.stat(repo)
	fn(s)
	snap := *s
	f.mu.Unlock()
	if f.cfg.OnProgress != nil {
		f.cfg.OnProgress(snap)
	}
}

// Stats returns a snapshot of every repository's statistics, in the order
// of Config.Repos followed by the repositories only dereferenced or
// recovered, by name.
func (f *Fetcher) Stats() []RepoStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []RepoStats
	seen := map[string]bool{}
	for _, r := range f.cfg.Repos {
		out = append(out, *f.stat(r))
		seen[r] = true
	}
	var rest []string
	for r := range f.stats {
		if !seen[r] {
			rest = append(rest, r)
		}
	}
	sort.Strings(rest)
	for _, r := range rest {
		out = append(out, *f.stats[r])
	}
	return out
}
