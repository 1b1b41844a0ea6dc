package backfill_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	"github.com/koistream/koistream/topics/githubapi"
)

// Fetch dereferences each entity type, lands the answer in the sink and
// returns it; what GitHub does not have is a NotFoundError.
func TestFetch(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	f := e.fetcher(nil)
	sha := e.gh.CommitSHAs(repoName)[2]
	cases := []struct {
		rid, resource, contains string
		notFound, invalid       bool
		gone                    bool // GitHub answers 410: the issue was deleted
	}{
		{rid: "orn:github.repo:octo/hello", resource: githubapi.ResourceRepo, contains: `"full_name":"octo/hello"`},
		{rid: "orn:github.issue:octo/hello:2", resource: githubapi.ResourceIssue, contains: `"number":2`},
		// Number 7 is a pull request: GET /issues/7 answers it as an issue
		// with a pull_request key, which the parser turns into nothing (the
		// entity is orn:github.pr:octo/hello:7), so the issue RID is not
		// found rather than fetched again at every ask and never cached.
		{rid: "orn:github.issue:octo/hello:7", notFound: true},
		{rid: "orn:github.issue:octo/hello:3", notFound: true, gone: true},
		{rid: "orn:github.pr:octo/hello:7", resource: githubapi.ResourcePull, contains: `"merged":`},
		{rid: "orn:github.commit:octo/hello:" + sha, resource: githubapi.ResourceCommit, contains: `"sha":"` + sha + `"`},
		{rid: "orn:github.issue:octo/hello:99", notFound: true},
		{rid: "orn:github.pr:octo/hello:2", notFound: true},
		{rid: "orn:github.commit:octo/hello:0123456789abcdef0123456789abcdef01234567", notFound: true},
		{rid: "orn:github.repo:octo/missing", notFound: true},
		{rid: "orn:github.event:octo/hello:1", invalid: true},
		{rid: "orn:github.issue:octo/hello:x", invalid: true},
	}
	for _, c := range cases {
		t.Run(c.rid, func(t *testing.T) {
			if c.gone {
				e.gh.Inject(fakegithub.Fault{PathContains: "/issues/3", Times: 1, Status: 410,
					Body: `{"message":"This issue was deleted","documentation_url":"https://docs.github.com/rest/issues/issues#get-an-issue","status":"410"}`})
			}
			before := len(e.inputs())
			in, err := f.Fetch(context.Background(), c.rid)
			var nf *backfill.NotFoundError
			switch {
			case c.notFound:
				if !errors.As(err, &nf) || !errors.Is(err, backfill.ErrNotFound) || nf.RID != c.rid {
					t.Fatalf("Fetch = %v, want a NotFoundError", err)
				}
			case c.invalid:
				if err == nil || errors.As(err, &nf) {
					t.Fatalf("Fetch = %v, want an invalid-RID error", err)
				}
			case err != nil:
				t.Fatalf("Fetch: %v", err)
			default:
				if in.Resource != c.resource || in.Repo != repoName || !contains(in.Body, c.contains) {
					t.Errorf("Fetch = %s %s %.100s, want %s containing %s", in.Resource, in.Repo, in.Body, c.resource, c.contains)
				}
				if got := e.inputs(); len(got) != before+1 || got[len(got)-1].URL != in.URL {
					t.Errorf("the answer did not land in the sink")
				}
			}
			if (err != nil) && len(e.inputs()) != before {
				t.Errorf("a failed Fetch wrote to the sink")
			}
		})
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

// Only failed deliveries of the last three days that the node does not
// have are redelivered, once per GUID, and the fake re-POSTs each with the
// same GUID and a valid signature.
func TestRecoverDeliveries(t *testing.T) {
	rec := newReceiver(t, "s3cret")
	e := newEnv(t, fakegithub.Options{WebhookURL: rec.url, WebhookSecret: "s3cret"}, smallRepo)
	now := e.clock.Now()
	add := func(hook int64, guid string, code int, age string) {
		d, _ := parseDur(age)
		e.gh.AddDelivery(repoName, hook, fakegithub.Delivery{
			GUID: guid, Event: "issues", Action: "opened", StatusCode: code, DeliveredAt: now.Add(-d),
			Body: []byte(`{"action":"opened","guid":"` + guid + `"}`),
		})
	}
	add(1, "have-1", 500, "1h")
	add(1, "miss-1", 502, "2h")
	add(1, "miss-1", 504, "1h") // a second failed attempt of the same event
	add(1, "ok-1", 200, "1h")
	add(1, "old-1", 500, "100h") // outside GitHub's 3-day window
	add(2, "miss-2", 0, "10h")   // timed out: no status
	// Enough failures on hook 2 to need a second, cursor-linked page.
	for i := 0; i < 110; i++ {
		add(2, "have-bulk-"+itoa(i), 500, "5h")
	}
	f := e.fetcher(nil)
	have := func(g string) bool { return len(g) > 4 && g[:4] == "have" }
	got, err := f.RecoverDeliveries(context.Background(), repoName, nil, have)
	if err != nil {
		t.Fatalf("RecoverDeliveries: %v", err)
	}
	if want := "[miss-1 miss-2]"; sprint(got.Redelivered) != want {
		t.Errorf("redelivered %v, want %s", got.Redelivered, want)
	}
	if got.Failed != 113 || sprint(got.Hooks) != "[1 2]" {
		t.Errorf("failed %d on hooks %v, want 113 on [1 2]", got.Failed, got.Hooks)
	}
	if want := "[miss-1 miss-2]"; sprint(e.gh.Redelivered()) != want {
		t.Errorf("the fake saw redeliveries of %v, want %s", e.gh.Redelivered(), want)
	}
	if want := "[miss-1 miss-2]"; sprint(rec.guids()) != want {
		t.Errorf("the receiver got %v with valid signatures, want %s", rec.guids(), want)
	}
	cursor := false
	for _, r := range e.gh.Requests() {
		cursor = cursor || strings.Contains(r.URI, "cursor=")
	}
	if !cursor {
		t.Errorf("no cursor page was requested")
	}
	// Between the two POSTs GitHub asks for a second.
	if s := e.clock.Sleeps(); sprint(s) != "[1s]" {
		t.Errorf("sleeps %v, want [1s]", s)
	}
	// A second run finds the redelivered ones in the node (the receiver
	// stands for it) and asks for nothing.
	again, err := f.RecoverDeliveries(context.Background(), repoName, []int64{1, 2}, func(g string) bool { return have(g) || rec.has(g) })
	if err != nil || len(again.Redelivered) != 0 {
		t.Errorf("second run redelivered %v (%v), want nothing", again.Redelivered, err)
	}
}

// An old sensor's state file is imported once; the seed's shape moves no
// list watermark, the documented list shape does.
func TestImportStateFile(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, fakegithub.RepoSpec{ID: 9, Issues: 10, Commits: 4})
	dir := t.TempDir()
	path := filepath.Join(dir, "github_state.json")
	body := `{"octo/hello": {"issues": "2026-01-01T08:00:00Z", "commits": "2026-01-01T03:00:00Z"},
	          "octo/other": "2026-01-05 10:00:00.123456", "not a repo": "x"}`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f := e.fetcher(nil)
	n, err := f.ImportStateFile(path)
	if err != nil || n != 2 {
		t.Fatalf("ImportStateFile = %d, %v; want 2", n, err)
	}
	if n, err := f.ImportStateFile(path); err != nil || n != 0 {
		t.Errorf("second import = %d, %v; want 0", n, err)
	}
	if n, err := f.ImportStateFile(filepath.Join(dir, "absent.json")); err != nil || n != 0 {
		t.Errorf("missing file = %d, %v; want 0, nil", n, err)
	}
	if err := f.Pass(context.Background()); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	got := entities(t, e.inputs())
	for n := 1; n <= 10; n++ {
		// Issue n is updated at n h 30 min: since 08:00 keeps 8..10.
		if want := n >= 8; got["issue:"+itoa(n)] != want {
			t.Errorf("issue %d fetched = %v, want %v", n, got["issue:"+itoa(n)], want)
		}
	}
	for i, s := range e.gh.CommitSHAs(repoName) {
		if want := i+1 >= 3; got["commit:"+s] != want {
			t.Errorf("commit %d fetched = %v, want %v", i+1, got["commit:"+s], want)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[1,2]`), 0o600)
	if _, err := f.ImportStateFile(bad); err == nil {
		t.Errorf("a non-object state file was accepted")
	}
}

func TestParseRID(t *testing.T) {
	const sha40 = "0123456789abcdef0123456789abcdef01234567"
	cases := []struct {
		rid  string
		want backfill.EntityRef
		ok   bool
	}{
		{"orn:github.repo:a/b", backfill.EntityRef{Type: "orn:github.repo", Repo: "a/b"}, true},
		{"orn:github.issue:a/b:12", backfill.EntityRef{Type: "orn:github.issue", Repo: "a/b", Number: 12}, true},
		{"orn:github.pr:a/b.c:3", backfill.EntityRef{Type: "orn:github.pr", Repo: "a/b.c", Number: 3}, true},
		{"orn:github.commit:a/b:" + sha40, backfill.EntityRef{Type: "orn:github.commit", Repo: "a/b", SHA: sha40}, true},
		{"orn:github.commit:a/b:" + sha40 + sha40[:24], backfill.EntityRef{Type: "orn:github.commit", Repo: "a/b", SHA: sha40 + sha40[:24]}, true},
		// A short or upper-case SHA names no RID the node can hold: the
		// webhook path and the parser make commit RIDs of the full
		// lower-case SHA only, so fetching one would be deferred at every
		// ask, a request each time, and never answered.
		{"orn:github.commit:a/b:abcdef0", backfill.EntityRef{}, false},
		{"orn:github.commit:a/b:" + strings.ToUpper(sha40), backfill.EntityRef{}, false},
		{"orn:github.issue:a/b:012", backfill.EntityRef{}, false},
		{"orn:github.issue:a/b:0", backfill.EntityRef{}, false},
		{"orn:github.issue:a/b", backfill.EntityRef{}, false},
		{"orn:github.commit:a/b:xyz1234", backfill.EntityRef{}, false},
		{"orn:github.repo:a", backfill.EntityRef{}, false},
		{"orn:github.repo:a/b/c", backfill.EntityRef{}, false},
		{"orn:github.event:a/b:1", backfill.EntityRef{}, false},
		{"", backfill.EntityRef{}, false},
	}
	for _, c := range cases {
		got, err := backfill.ParseRID(c.rid)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseRID(%q) = %+v, %v; want %+v ok=%v", c.rid, got, err, c.want, c.ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := backfill.Config{Repos: []string{"a/b"}, Tokens: []string{"t"}}
	cases := []struct {
		name string
		mod  func(*backfill.Config)
		ok   bool
	}{
		{"defaults", func(*backfill.Config) {}, true},
		{"no token", func(c *backfill.Config) { c.Tokens = nil }, false},
		{"blank token", func(c *backfill.Config) { c.Tokens = []string{" "} }, false},
		{"bad repo", func(c *backfill.Config) { c.Repos = []string{"nope"} }, false},
		{"repo twice", func(c *backfill.Config) { c.Repos = []string{"a/b", "A/B"} }, false},
		{"relative api url", func(c *backfill.Config) { c.APIURL = "/api" }, false},
		{"enterprise api url", func(c *backfill.Config) { c.APIURL = "https://ghe.example/api/v3/" }, true},
		{"negative lookback", func(c *backfill.Config) { c.LookbackDays = -1 }, false},
		{"negative max items", func(c *backfill.Config) { c.MaxItems = -1 }, false},
		{"per page too big", func(c *backfill.Config) { c.PerPage = 101 }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.mod(&cfg)
			if err := cfg.Validate(); (err == nil) != c.ok {
				t.Errorf("Validate = %v, want ok=%v", err, c.ok)
			}
		})
	}
	d := backfill.Config{}.WithDefaults()
	if d.APIURL != backfill.DefaultAPIURL || d.PerPage != 100 || d.MaxRetries != 5 || d.MaxSecondaryRetries != 5 || d.UserAgent == "" || d.Clock == nil || d.HTTPClient == nil {
		t.Errorf("defaults = %+v", d)
	}
}
