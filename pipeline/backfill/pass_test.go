package backfill_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	"github.com/koistream/koistream/topics/githubapi"
)

var smallRepo = fakegithub.RepoSpec{ID: 4242, Issues: 5, Pulls: 4, Commits: 7, Events: 5}

// allEntities is what a full pass over smallRepo must have landed.
func allEntities(e *env) map[string]bool {
	want := map[string]bool{"repo": true}
	for n := 1; n <= 9; n++ {
		want["issue:"+itoa(n)] = true
	}
	for n := 6; n <= 9; n++ {
		want["pull:"+itoa(n)] = true
	}
	for _, s := range e.gh.CommitSHAs(repoName) {
		want["commit:"+s] = true
	}
	for i := 1; i <= 5; i++ {
		want[fmt.Sprintf("event:%d", int64(4242)*1_000_000+int64(i))] = true
	}
	return want
}

func sameSet(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	for k := range want {
		if !got[k] {
			t.Errorf("%s: missing %s", what, k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s: unexpected %s", what, k)
		}
	}
}

// A first pass lands every entity, page by page as listed: issues 9 items
// at 3 a page, each page after the first a since query that reads the
// last item of the page before again (1-3, 3-5, 5-7, 7-9), plus the
// since=<watermark> page, pulls 2 pages (desc, no since), commits 3 pages
// plus the since page, events 2 pages, the repo.
func TestFirstPassPages(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	var progress []backfill.RepoStats
	f := e.fetcher(func(c *backfill.Config) {
		c.OnProgress = func(s backfill.RepoStats) { progress = append(progress, s) }
	})
	if err := f.Pass(context.Background()); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	if len(progress) == 0 || progress[len(progress)-1] != f.Stats()[0] || !progress[0].Running || progress[len(progress)-1].Running {
		t.Errorf("OnProgress reported %d snapshots, the last %+v; want it to end at %+v", len(progress), progress[len(progress)-1:], f.Stats()[0])
	}
	ins := e.inputs()
	wantPages := map[string]int{"repo": 1, "events": 2, "issues": 5, "pulls": 2, "commits": 4}
	if got := count(ins); fmt.Sprint(got) != fmt.Sprint(wantPages) {
		t.Errorf("pages per resource = %v, want %v", got, wantPages)
	}
	sameSet(t, "entities", entities(t, ins), allEntities(e))
	for _, in := range ins {
		if in.Status != 200 || in.Repo != repoName || in.ETag == "" {
			t.Errorf("record %s %s: status %d repo %q etag %q", in.Resource, in.URL, in.Status, in.Repo, in.ETag)
		}
	}
	reqs := e.gh.Requests()
	if len(reqs) != len(ins) {
		t.Errorf("%d requests for %d pages: a first pass should cost one request per page", len(reqs), len(ins))
	}
	for _, r := range reqs {
		if !strings.HasPrefix(r.URI, "/repos/octo/hello") && !strings.HasPrefix(r.URI, "/repositories/4242/") {
			t.Errorf("request %s", r.URI)
		}
	}
	st := f.Stats()
	if len(st) != 1 || st[0].Pages != len(ins) || st[0].Passes != 1 || st[0].QuotaRemaining != 5000-len(ins) || st[0].LastError != "" {
		t.Errorf("stats = %+v", st)
	}
}

// An unchanged second pass sends one conditional request per list, each
// answered 304, writes nothing and spends no quota.
func TestSecondPassOnlyConditional(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	f := e.fetcher(nil)
	ctx := context.Background()
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("first Pass: %v", err)
	}
	e.reset()
	e.clock.Advance(time.Minute) // past X-Poll-Interval: the events feed is polled too
	quota := e.gh.Remaining("tok-a")
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("second Pass: %v", err)
	}
	if got := e.inputs(); len(got) != 0 {
		t.Errorf("second pass wrote %d records, want 0", len(got))
	}
	reqs := e.gh.Requests()
	if len(reqs) != 5 {
		t.Errorf("second pass made %d requests, want 5 (repo, events, issues, pulls, commits): %+v", len(reqs), reqs)
	}
	for _, r := range reqs {
		if !r.Conditional() || r.Status != 304 {
			t.Errorf("request %s: conditional %v status %d, want a conditional 304", r.URI, r.Conditional(), r.Status)
		}
	}
	if got := e.gh.Remaining("tok-a"); got != quota {
		t.Errorf("quota %d after the 304 pass, want %d (304s are free)", got, quota)
	}
	if st := f.Stats()[0]; st.NotModified != 5 {
		t.Errorf("NotModified = %d, want 5", st.NotModified)
	}
}

// An edit moves the issue's updated_at: the next pass lands it (issues
// since=<watermark> and the pulls' page 1), and the pass after that is
// 304s again.
func TestEditIsFetchedThenQuiet(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	f := e.fetcher(nil)
	ctx := context.Background()
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	e.reset()
	e.clock.Advance(time.Hour)
	e.gh.EditIssue(repoName, 7, "Edited pull")
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	ins := e.inputs()
	found := map[string]bool{}
	for _, in := range ins {
		if strings.Contains(string(in.Body), "Edited pull") {
			found[in.Resource] = true
		}
	}
	if !found["issues"] || !found["pulls"] {
		t.Errorf("the edit landed in %v, want issues and pulls", found)
	}
	if c := count(ins); c["commits"] != 0 || c["repo"] != 0 {
		t.Errorf("unchanged lists wrote pages: %v", c)
	}
	e.reset()
	e.clock.Advance(time.Hour)
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	if got := e.inputs(); len(got) != 0 {
		t.Errorf("pass after the edit wrote %d records, want 0", len(got))
	}
}

// A pass that stops after k durable pages (the sink fails, or the process
// dies after the sink returned but before the watermark moved) resumes
// with no entity missing and at most one page's items fetched twice.
func TestCrashResume(t *testing.T) {
	type tc struct {
		name       string
		failAt     int
		afterWrite bool // the page was durable when the crash came
	}
	var cases []tc
	for k := 1; k <= 13; k += 2 {
		cases = append(cases, tc{fmt.Sprintf("sink fails at page %d", k), k, false})
		cases = append(cases, tc{fmt.Sprintf("crash after page %d is durable", k), k, true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, fakegithub.Options{}, smallRepo)
			crash := errors.New("crash")
			e.fail = func(n int, in githubapi.Input) error {
				if n != c.failAt {
					return nil
				}
				if c.afterWrite {
					e.got = append(e.got, in) // durable, then the process dies
				}
				return crash
			}
			if err := e.fetcher(nil).Pass(context.Background()); !errors.Is(err, crash) {
				t.Fatalf("Pass = %v, want the crash", err)
			}
			e.fail = nil
			// A new fetcher over the same Pebble: a restarted process.
			if err := e.fetcher(nil).Pass(context.Background()); err != nil {
				t.Fatalf("resumed Pass: %v", err)
			}
			ins := e.inputs()
			sameSet(t, "entities", entities(t, ins), allEntities(e))
			// Against an uninterrupted pass, the resumed one reads at
			// most one page of items again (the durable page whose state
			// had not moved), plus the one item a walk resumed from its
			// newest updated_at reads again.
			base := newEnv(t, fakegithub.Options{}, smallRepo)
			if err := base.fetcher(nil).Pass(context.Background()); err != nil {
				t.Fatalf("uninterrupted Pass: %v", err)
			}
			extra := sightings(t, ins) - sightings(t, base.inputs())
			want := 1
			if c.afterWrite {
				want = 3 + 1 // PerPage
			}
			if extra < 0 || extra > want {
				t.Errorf("%d items read again, want at most %d", extra, want)
			}
		})
	}
}

// A cancelled context stops the pass; the next one completes it.
func TestCancelledPassResumes(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	ctx, cancel := context.WithCancel(context.Background())
	e.fail = func(n int, _ githubapi.Input) error {
		if n == 6 {
			cancel()
			return context.Canceled
		}
		return nil
	}
	if err := e.fetcher(nil).Pass(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pass = %v, want context.Canceled", err)
	}
	e.fail = nil
	if err := e.fetcher(nil).Pass(context.Background()); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	sameSet(t, "entities", entities(t, e.inputs()), allEntities(e))
}

// Lookback bounds the first pass to recent history; MaxItems cuts each
// list per pass and the next pass carries on where it stopped.
func TestLookbackAndMaxItems(t *testing.T) {
	spec := fakegithub.RepoSpec{ID: 7, Issues: 60, Commits: 60}
	e := newEnv(t, fakegithub.Options{}, spec)
	// Issue n is updated at Base+n h+30 min, commit i dated Base+i h.
	e.clock = fakegithub.NewClock(fakegithub.DefaultBase.Add(72 * time.Hour))
	f := e.fetcher(func(c *backfill.Config) { c.LookbackDays = 1; c.MaxItems = 6 })
	ctx := context.Background()
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	// MaxItems bounds the items fetched, the one read again where a page
	// of issues overlaps the page before included.
	issues := 0
	for _, in := range e.inputs() {
		if in.Resource == githubapi.ResourceIssues {
			issues += sightings(t, []githubapi.Input{in})
		}
	}
	if issues != 6 {
		t.Errorf("first pass fetched %d issues, want MaxItems=6", issues)
	}
	for i := 0; i < 5; i++ {
		if err := f.Pass(ctx); err != nil {
			t.Fatalf("Pass: %v", err)
		}
	}
	got := entities(t, e.inputs())
	for n := 1; n <= 60; n++ {
		// since = now-1d = Base+48h: issues 48..60 (updated n h+30 min).
		if want := n >= 48; got["issue:"+itoa(n)] != want {
			t.Errorf("issue %d fetched = %v, want %v", n, got["issue:"+itoa(n)], want)
		}
	}
	shas := e.gh.CommitSHAs(repoName)
	for i, s := range shas {
		if want := i+1 >= 48; got["commit:"+s] != want {
			t.Errorf("commit %d fetched = %v, want %v", i+1, got["commit:"+s], want)
		}
	}
}

// SetSince makes the next pass walk the lists again from the date given.
func TestSetSince(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	f := e.fetcher(nil)
	ctx := context.Background()
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	e.reset()
	// Issue n is updated at Base+n h 30 min: since Base+4h covers 4..9.
	if err := f.SetSince(repoName, fakegithub.DefaultBase.Add(4*time.Hour)); err != nil {
		t.Fatalf("SetSince: %v", err)
	}
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	got := entities(t, e.inputs())
	for n := 1; n <= 9; n++ {
		if want := n >= 4; got["issue:"+itoa(n)] != want {
			t.Errorf("issue %d refetched = %v, want %v", n, got["issue:"+itoa(n)], want)
		}
	}
}

// SetSince re-walks a list from the date given even when the list has not
// changed since the walk before: the earlier walk's validators (for the same
// URLs) must not turn the re-walk into a 304 that skips what that walk never
// reached (older than its lookback, or after the page where MaxItems cut it).
func TestSetSinceRewalksUnchangedLists(t *testing.T) {
	type tc struct {
		name  string
		spec  fakegithub.RepoSpec
		mod   func(*backfill.Config)
		since []time.Duration // SetSince(Base+d) then one Pass, in turn
		want  func(kind string, n int) bool
	}
	cases := []tc{
		{
			// Pulls 3..62 are updated at Base+n h 30 min; the first pass
			// (lookback 1 day from Base+72h) reaches back to 48.
			name:  "pulls older than the first pass's lookback",
			spec:  fakegithub.RepoSpec{ID: 7, Issues: 2, Pulls: 60},
			mod:   func(c *backfill.Config) { c.LookbackDays = 1 },
			since: []time.Duration{-1, 10 * time.Hour},
			want:  func(kind string, n int) bool { return kind == "pull" && n >= 10 },
		},
		{
			// The same --since twice: the first run was cut by MaxItems.
			// A pass then gets 4 issues further (2 pages of 3, each
			// overlapping the page before by one): 7 more passes.
			name:  "issues again from the same since after a cut walk",
			spec:  fakegithub.RepoSpec{ID: 7, Issues: 30},
			mod:   func(c *backfill.Config) { c.MaxItems = 6 },
			since: []time.Duration{0, 0, -1, -1, -1, -1, -1, -1, -1},
			want:  func(kind string, n int) bool { return kind == "issue" },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, fakegithub.Options{}, c.spec)
			e.clock = fakegithub.NewClock(fakegithub.DefaultBase.Add(72 * time.Hour))
			f := e.fetcher(c.mod)
			ctx := context.Background()
			for _, d := range c.since {
				if d >= 0 {
					if err := f.SetSince(repoName, fakegithub.DefaultBase.Add(d)); err != nil {
						t.Fatalf("SetSince: %v", err)
					}
				}
				if err := f.Pass(ctx); err != nil {
					t.Fatalf("Pass: %v", err)
				}
			}
			got := entities(t, e.inputs())
			for n := 1; n <= c.spec.Issues+c.spec.Pulls; n++ {
				kind := "issue"
				if n > c.spec.Issues {
					kind = "pull"
				}
				if c.want(kind, n) && !got[kind+":"+itoa(n)] {
					t.Errorf("%s %d was never fetched", kind, n)
				}
			}
		})
	}
}

// FullName is the repository as GitHub spells it once a pass fetched it,
// whatever the case it was configured in; the configured name before.
func TestFullName(t *testing.T) {
	for _, configured := range []string{"octo/hello", "OCTO/Hello", "Octo/HELLO"} {
		t.Run(configured, func(t *testing.T) {
			e := newEnv(t, fakegithub.Options{}, smallRepo)
			f := e.fetcher(func(c *backfill.Config) { c.Repos = []string{configured} })
			if got := f.FullName(configured); got != configured {
				t.Errorf("FullName before a pass = %q, want %q", got, configured)
			}
			if err := f.Pass(context.Background()); err != nil {
				t.Fatalf("Pass: %v", err)
			}
			if got := f.FullName(configured); got != repoName {
				t.Errorf("FullName = %q, want GitHub's %q", got, repoName)
			}
		})
	}
}

// Issues are walked oldest-updated first by page offset: an issue on a
// page already read that is edited before the walk goes on moves to the
// end, and every later issue moves one place up, so the issue that was
// first on the next page would slip onto the page already read and be
// skipped for good (its updated_at is older than where the walk ends).
// A walk resumed after a pause (MaxItems cut it, or the process stopped)
// therefore goes on from the newest updated_at it read, not from the
// stored page offset.
func TestIssueWalkResumedAfterAnEditSkipsNothing(t *testing.T) {
	cases := []struct {
		name   string
		edit   []int // issues edited while the walk is paused
		cutAt  int   // MaxItems
		issues int
		ties   []int // issues edited in one second before the first pass
	}{
		{"the first issue of the first page", []int{1}, 3, 12, nil},
		{"two issues of the first page", []int{1, 2}, 3, 12, nil},
		{"the last issue read", []int{6}, 6, 12, nil},
		// Pages of issues updated in the same second, the walk paused
		// after each: it still gets past them.
		{"pages of ties", nil, 3, 12, []int{1, 2, 3, 4, 5, 6, 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, fakegithub.Options{}, fakegithub.RepoSpec{ID: 7, Issues: c.issues})
			for _, n := range c.ties {
				e.gh.EditIssue(repoName, n, "bulk edit")
			}
			f := e.fetcher(func(cfg *backfill.Config) { cfg.MaxItems = c.cutAt })
			ctx := context.Background()
			if err := f.Pass(ctx); err != nil {
				t.Fatalf("Pass: %v", err)
			}
			e.clock.Advance(time.Hour)
			for _, n := range c.edit {
				e.gh.EditIssue(repoName, n, "edited")
			}
			for i := 0; i < c.issues; i++ {
				if err := f.Pass(ctx); err != nil {
					t.Fatalf("Pass: %v", err)
				}
			}
			got := entities(t, e.inputs())
			for n := 1; n <= c.issues; n++ {
				if !got["issue:"+itoa(n)] {
					t.Errorf("issue %d was never fetched", n)
				}
			}
		})
	}
}

// The same shift between two pages fetched back to back in one walk: an
// issue already read is edited after page k was answered and before page
// k+1 is asked for. Every issue must still be landed by that pass (the
// walk asks for each next page by since, from the newest updated_at read,
// not by the Link offset), and the pass after it, over the unchanged
// list, must cost one conditional request per list, each a 304, as ever,
// plus, when the walk ended on a run of more issues than a page updated
// in one second, the pages of that run past the first, unconditionally
// (TestIssueAddedAfterTiesAtTheWatermark says why).
func TestIssueEditedBetweenTwoPagesOfOneWalk(t *testing.T) {
	cases := []struct {
		name    string
		perPage int
		issues  int
		after   int   // the edit comes after this many issues list requests
		edit    []int // issues edited then
		ties    []int // issues edited in one second before the pass
		added   int   // issues added after the ties, an hour apart
		tiedEnd int   // pages past the first of a run of ties the walk ended on
	}{
		{"the first issue of page 1, before page 2", 3, 10, 1, []int{1}, nil, 0, 0},
		{"the last issue of page 1, before page 2", 3, 10, 1, []int{3}, nil, 0, 0},
		// The two edits share a second and end the list: a run of ties
		// exactly a page long, whose page 2 is read for what was added
		// past it (TestIssueAddedAfterExactlyAPageOfTies).
		{"two issues of page 1, before page 2", 2, 9, 1, []int{1, 2}, nil, 0, 1},
		{"an issue of page 2, before page 3", 2, 9, 2, []int{3}, nil, 0, 0},
		// The four edits share a second and end the list: a run of ties
		// longer than a page at the watermark.
		{"every issue read, before page 3", 2, 9, 2, []int{1, 2, 3, 4}, nil, 0, 1},
		// Issues 1..4 updated in one second, then 7..9 added an hour
		// apart: the list is 5 6 1 2 3 4 7 8 9. The run of ties, longer
		// than a page, is crossed by Link (since cannot move inside one
		// second); issue 6 is edited as the walk leaves the run.
		{"after a run of ties longer than a page", 2, 6, 4, []int{6}, []int{1, 2, 3, 4}, 3, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := fakegithub.RepoSpec{ID: 7, Issues: c.issues, Commits: 2, Events: 1}
			e := newEnv(t, fakegithub.Options{}, spec)
			total := c.issues
			for _, n := range c.ties {
				e.gh.EditIssue(repoName, n, "bulk edit")
			}
			for range c.added {
				e.clock.Advance(time.Hour)
				total = e.gh.AddIssue(repoName, "added", false)
			}
			e.clock.Advance(time.Hour)
			e.gh.AfterRequests("/issues?", c.after, func() {
				e.clock.Advance(time.Hour)
				for _, n := range c.edit {
					e.gh.EditIssue(repoName, n, "edited mid-walk")
				}
			})
			f := e.fetcher(func(cfg *backfill.Config) { cfg.PerPage = c.perPage })
			ctx := context.Background()
			if err := f.Pass(ctx); err != nil {
				t.Fatalf("Pass: %v", err)
			}
			got := entities(t, e.inputs())
			for n := 1; n <= total; n++ {
				if !got["issue:"+itoa(n)] {
					t.Errorf("issue %d was never fetched", n)
				}
			}
			if len(c.ties) > c.perPage {
				linked := false
				for _, r := range e.gh.Requests() {
					linked = linked || strings.HasPrefix(r.URI, "/repositories/7/issues?")
				}
				if !linked {
					t.Errorf("no issues page was asked for by its Link URL: the run of ties was not crossed by Link")
				}
			}
			edited := 0
			for _, in := range e.inputs() {
				edited += strings.Count(string(in.Body), "edited mid-walk")
			}
			if edited == 0 {
				t.Errorf("no page held an edited issue: the edit did not come mid-walk")
			}

			e.reset()
			e.clock.Advance(time.Minute) // past X-Poll-Interval
			if err := f.Pass(ctx); err != nil {
				t.Fatalf("second Pass: %v", err)
			}
			if got := e.inputs(); len(got) != c.tiedEnd {
				t.Errorf("second pass wrote %d records, want %d", len(got), c.tiedEnd)
			}
			reqs := e.gh.Requests()
			if len(reqs) != 5+c.tiedEnd {
				t.Errorf("second pass made %d requests, want %d (repo, events, issues, pulls, commits, %d pages of ties): %+v", len(reqs), 5+c.tiedEnd, c.tiedEnd, reqs)
			}
			for _, r := range reqs {
				if c.tiedEnd > 0 && strings.Contains(r.URI, "/issues?") && !r.Conditional() && r.Status == 200 {
					continue // a page of the run of ties past the first
				}
				if !r.Conditional() || r.Status != 304 {
					t.Errorf("second pass request %s: conditional %v status %d, want a conditional 304", r.URI, r.Conditional(), r.Status)
				}
			}
		})
	}
}
