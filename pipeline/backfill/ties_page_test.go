package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
)

// TestIssueAddedAfterExactlyAPageOfTies: as TestIssueAddedAfterTiesAtTheWatermark,
// but the run of ties at the watermark is exactly one page long: the first
// page of the next walk is full and has no Link next, so a 304 to it must
// still not end the pass once an issue updated later lands on page 2.
func TestIssueAddedAfterExactlyAPageOfTies(t *testing.T) {
	spec := fakegithub.RepoSpec{ID: 7, Issues: 6, Commits: 2, Events: 1}
	e := newEnv(t, fakegithub.Options{}, spec)
	e.clock.Advance(time.Hour)
	for _, n := range []int{1, 2} { // one second, exactly PerPage issues
		e.gh.EditIssue(repoName, n, "bulk edit")
	}
	f := e.fetcher(func(cfg *backfill.Config) { cfg.PerPage = 2 })
	ctx := context.Background()
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	e.reset()
	e.clock.Advance(time.Hour)
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("unchanged pass: %v", err)
	}

	added := e.gh.AddIssue(repoName, "added", false)
	e.reset()
	e.clock.Advance(time.Hour)
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass after the addition: %v", err)
	}
	if !entities(t, e.inputs())["issue:"+itoa(added)] {
		for _, r := range e.gh.Requests() {
			t.Logf("%s conditional=%v status=%d", r.URI, r.Conditional(), r.Status)
		}
		t.Fatalf("issue %d, added after the walk, was not fetched by the next pass", added)
	}
}
