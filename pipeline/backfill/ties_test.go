package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
)

// TestIssueAddedAfterTiesAtTheWatermark: a walk that ends on a run of
// issues updated in one second, a page long or longer (a bulk edit),
// leaves its watermark at that second, and the next walk's first page is
// full and unchanged: its 304 must not end the pass, or an issue added
// later is never read (found in review twice: every later pass was one
// 304, with and without a Link next on that page). An unchanged pass in
// that state reads only the page after the first; once the watermark has
// left the run, every list is a 304 again.
func TestIssueAddedAfterTiesAtTheWatermark(t *testing.T) {
	tests := []struct {
		name string
		ties []int // issues edited in one second, the newest updated_at
	}{
		{"a run longer than a page", []int{1, 2, 3, 4}},
		{"a run exactly a page long", []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fakegithub.RepoSpec{ID: 7, Issues: 6, Commits: 2, Events: 1}
			e := newEnv(t, fakegithub.Options{}, spec)
			e.clock.Advance(time.Hour)
			for _, n := range tt.ties {
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
			if got := len(e.inputs()); got != 1 {
				t.Errorf("unchanged pass landed %d pages, want 1 (the page past the unchanged first)", got)
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

			e.reset()
			e.clock.Advance(time.Hour)
			if err := f.Pass(ctx); err != nil {
				t.Fatalf("last pass: %v", err)
			}
			for _, r := range e.gh.Requests() {
				if r.Status != 304 {
					t.Errorf("after the watermark left the ties: %s answered %d, want every list a 304", r.URI, r.Status)
				}
			}
		})
	}
}
