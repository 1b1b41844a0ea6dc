package main_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	koinet "github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/topicstest"
)

// githubConfig writes a configuration file whose github block points the
// backfill at apiURL for repos, and returns its path.
func githubConfig(t *testing.T, apiURL string, pollSeconds int, repos ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "github:\n  api_url: %s\n  poll_interval_seconds: %d\n  monitored_repositories:\n", apiURL, pollSeconds)
	for _, r := range repos {
		fmt.Fprintf(&b, "    - name: %s\n", r)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runBackfill runs "koistream backfill args..." with the environment
// without any GITHUB_TOKEN plus env, and returns its stderr (where its
// stats lines and errors go; stdout must stay empty) and exit code.
func runBackfill(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"backfill"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GITHUB_TOKEN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stdout.Len() > 0 {
		t.Errorf("koistream backfill wrote to stdout, want everything on stderr: %s", stdout.String())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stderr.String(), 0
	case errors.As(err, &exit):
		return stderr.String(), exit.ExitCode()
	}
	t.Fatalf("koistream backfill: %v\n%s", err, stderr.String())
	return "", -1
}

// repoStats is a repository's stats line of koistream backfill.
type repoStats struct {
	requests, pages, items, notModified int
	line                                string
}

var statsLineRE = regexp.MustCompile(`(?m)^(\S+): (\d+) requests, (\d+) pages, (\d+) items, (\d+) not modified \(304\), quota left \S+, \d+ waits \(\S+\)(.*)$`)

// statsLines returns the stats lines of out by repository.
func statsLines(out string) map[string]repoStats {
	got := map[string]repoStats{}
	for _, m := range statsLineRE.FindAllStringSubmatch(out, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		got[m[1]] = repoStats{requests: n(2), pages: n(3), items: n(4), notModified: n(5), line: m[0]}
	}
	return got
}

// TestBackfillCommandPasses: koistream backfill passes over each
// configured repository, exits 0 and prints a stats line per repository;
// run again on the same data folder it spends only conditional requests,
// all answered 304, and says so; --since walks the lists again from that
// date.
func TestBackfillCommandPasses(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(fakegithub.Options{})
	t.Cleanup(fake.Close)
	fake.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "hello", Issues: 40, Pulls: 20, Commits: 30, Events: 5})
	fake.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "world", Issues: 3, Commits: 2})
	cfg := githubConfig(t, fake.URL, 60, "octo/hello", "octo/world")
	dir := t.TempDir()
	env := []string{"GITHUB_TOKEN=t1"}

	out, code := runBackfill(t, env, "--config", cfg, "--data-dir", dir)
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	first := statsLines(out)
	for repo, items := range map[string]int{"octo/hello": 1 + 60 + 20 + 30, "octo/world": 1 + 3 + 2} {
		s, ok := first[repo]
		if !ok {
			t.Fatalf("first run: no stats line for %s\n%s", repo, out)
		}
		// Items count the repository, the issues list (pull requests
		// included), the pulls list, commits and events; the walks'
		// closing re-reads count again.
		if s.pages == 0 || s.items < items || s.notModified != 0 {
			t.Errorf("first run: %q, want pages, at least %d items and no 304", s.line, items)
		}
	}
	ran := len(fake.Requests())

	out, code = runBackfill(t, env, "--config", cfg, "--data-dir", dir)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	second := statsLines(out)
	for _, repo := range []string{"octo/hello", "octo/world"} {
		s, ok := second[repo]
		if !ok {
			t.Fatalf("second run: no stats line for %s\n%s", repo, out)
		}
		if s.pages != 0 || s.items != 0 || s.requests == 0 || s.notModified != s.requests {
			t.Errorf("second run: %q, want every request a 304 and no page", s.line)
		}
	}
	reqs := fake.Requests()[ran:]
	if len(reqs) == 0 {
		t.Fatal("second run made no request")
	}
	for _, r := range reqs {
		if r.IfNoneMatch == "" || r.Status != http.StatusNotModified {
			t.Errorf("second run: %s %s with If-None-Match %q answered %d, want a conditional request answered 304",
				r.Method, r.URI, r.IfNoneMatch, r.Status)
		}
	}
	ran = len(fake.Requests())

	// Issue n is updated at n hours 30 past the base (2026-01-01): since
	// 2026-01-02 the issues list holds issues 24 to 60.
	out, code = runBackfill(t, env, "--config", cfg, "--data-dir", dir, "--repo", "octo/hello", "--since", "2026-01-02")
	if code != 0 {
		t.Fatalf("--since run: exit %d\n%s", code, out)
	}
	s, ok := statsLines(out)["octo/hello"]
	if !ok || s.pages == 0 || s.items < 60-24+1 {
		t.Errorf("--since run: %q, want pages and at least %d items", s.line, 60-24+1)
	}
	if _, ok := statsLines(out)["octo/world"]; ok {
		t.Errorf("--since run with --repo octo/hello passed over octo/world too:\n%s", out)
	}
	rewalked := false
	for _, r := range fake.Requests()[ran:] {
		if strings.HasPrefix(r.URI, "/repos/octo/hello/issues?") && strings.Contains(r.URI, "since=2026-01-02T00%3A00%3A00Z") &&
			r.Status == http.StatusOK {
			rewalked = true
		}
		if strings.Contains(r.URI, "/octo/world") {
			t.Errorf("--since run with --repo octo/hello: %s %s", r.Method, r.URI)
		}
	}
	if !rewalked {
		t.Errorf("--since 2026-01-02: no issues page since 2026-01-02 answered 200: %+v", fake.Requests()[ran:])
	}
}

// TestBackfillCommandFailures: a repository GitHub does not have fails the
// run (exit 1, naming it) without stopping the others; no token is a
// configuration mistake (exit 2).
func TestBackfillCommandFailures(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(fakegithub.Options{})
	t.Cleanup(fake.Close)
	fake.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "hello", Issues: 2, Commits: 1})
	cfg := githubConfig(t, fake.URL, 60, "octo/hello")

	out, code := runBackfill(t, []string{"GITHUB_TOKEN=t1"}, "--config", cfg, "--data-dir", t.TempDir(),
		"--repo", "octo/missing", "--repo", "octo/hello")
	if code != 1 {
		t.Errorf("a missing repository: exit %d, want 1\n%s", code, out)
	}
	stats := statsLines(out)
	if s := stats["octo/missing"]; !strings.Contains(s.line, "failed") {
		t.Errorf("no failed stats line for octo/missing:\n%s", out)
	}
	if s, ok := stats["octo/hello"]; !ok || s.pages == 0 || strings.Contains(s.line, "failed") {
		t.Errorf("octo/hello was not passed over beside the missing one: %q\n%s", s.line, out)
	}
	if !strings.Contains(out, "koistream backfill:") || !strings.Contains(out[strings.Index(out, "koistream backfill:"):], "octo/missing") {
		t.Errorf("the error does not name octo/missing:\n%s", out)
	}

	before := len(fake.Requests())
	out, code = runBackfill(t, nil, "--config", cfg, "--data-dir", t.TempDir())
	if code != 2 || !strings.Contains(out, "GITHUB_TOKEN") {
		t.Errorf("no token: exit %d, want 2 naming GITHUB_TOKEN\n%s", code, out)
	}
	if n := len(fake.Requests()) - before; n != 0 {
		t.Errorf("no token: %d requests reached GitHub", n)
	}
}

// slowGitHub is the fake GitHub behind a proxy that answers each request
// only after delay, so that a pass takes long enough to be killed in its
// middle. Link URLs are rewritten to the proxy's, so that later pages go
// through it too.
type slowGitHub struct {
	srv      *httptest.Server
	inflight atomic.Int64
}

func newSlowGitHub(t *testing.T, fake *fakegithub.Server, delay time.Duration) *slowGitHub {
	t.Helper()
	target, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	s := &slowGitHub{}
	var self atomic.Value // the proxy's URL, known once it listens
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		ModifyResponse: func(resp *http.Response) error {
			if l := resp.Header.Get("Link"); l != "" {
				resp.Header.Set("Link", strings.ReplaceAll(l, fake.URL, self.Load().(string)))
			}
			return nil
		},
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		rp.ServeHTTP(w, r)
	}))
	self.Store("http://" + s.srv.Listener.Addr().String())
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

// TestBackfillKill9MidPass: a node killed with SIGKILL in the middle of a
// backfill pass and restarted on the same data folder caches every entity
// (no gap), announces each (RID, hash) once in koistream.events read
// read_committed (no duplicate), and GitHub answers at most one page in
// full both before and after the crash (the pass resumed where the log
// had it, refetching at most the page in flight).
func TestBackfillKill9MidPass(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(fakegithub.Options{})
	t.Cleanup(fake.Close)
	const issues, pulls, commits = 300, 150, 200
	fake.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "big", Issues: issues, Pulls: pulls, Commits: commits})
	slow := newSlowGitHub(t, fake, 200*time.Millisecond)
	cfg := githubConfig(t, slow.srv.URL, 3600, "octo/big")
	dir := t.TempDir()
	args := []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0",
		"--log-format", "json", "--partitions", "2", "--config", cfg}
	env := []string{"GITHUB_TOKEN=t1"}

	n := startNodeWith(t, args, env)
	issuePages := func() int {
		c := 0
		for _, r := range fake.Requests() {
			if strings.Contains(r.URI, "/issues?") && r.Status == http.StatusOK {
				c++
			}
		}
		return c
	}
	deadline := time.Now().Add(60 * time.Second)
	for issuePages() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the pass did not reach the third issues page in 60 s: %+v\n%s", fake.Requests(), n.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	n.kill9()
	topicstest.WaitFor(t, 10*time.Second, "the proxy idle", func() bool { return slow.inflight.Load() == 0 })
	before := fake.Requests()
	for _, r := range before {
		if strings.Contains(r.URI, "/commits") || strings.Contains(r.URI, "/hooks") {
			t.Fatalf("the kill landed after the pass had reached %s: %+v", r.URI, before)
		}
	}

	n = startNodeWith(t, args, env)
	type want struct {
		typ string
		n   int
	}
	for _, w := range []want{{"orn:github.repo", 1}, {"orn:github.issue", issues}, {"orn:github.pr", pulls}, {"orn:github.commit", commits}} {
		topicstest.WaitFor(t, 60*time.Second, fmt.Sprintf("%d %s RIDs cached", w.n, w.typ), func() bool {
			return len(rids(t, n.http, w.typ)) == w.n
		})
	}
	topicstest.WaitFor(t, 60*time.Second, "the restarted pass done", func() bool {
		for _, r := range fake.Requests()[len(before):] {
			if strings.Contains(r.URI, "/hooks") {
				return true
			}
		}
		return false
	})
	topicstest.WaitFor(t, 60*time.Second, "the stages settled", func() bool { return settled(t, n.kafka) })

	got := rids(t, n.http, "orn:github.repo", "orn:github.issue", "orn:github.pr", "orn:github.commit")
	var missing []string
	for i := 1; i <= issues+pulls; i++ {
		rid := fmt.Sprintf("orn:github.issue:octo/big:%d", i)
		if i > issues {
			rid = fmt.Sprintf("orn:github.pr:octo/big:%d", i)
		}
		if got[rid] != 1 {
			missing = append(missing, rid)
		}
	}
	for _, sha := range fake.CommitSHAs("octo/big") {
		if rid := "orn:github.commit:octo/big:" + sha; got[rid] != 1 {
			missing = append(missing, rid)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d entities not cached after the restart (a gap), e.g. %v", len(missing), missing[:min(5, len(missing))])
	}

	l := parseEvents(t, readCommitted(t, n.kafka, "koistream.events"))
	if d := l.duplicates(); d != "" {
		t.Errorf("duplicate events: %s", d)
	}
	for rid := range got {
		if evs := l.byRID[rid]; len(evs) != 1 || evs[0].typ != koinet.EventNew {
			t.Errorf("events of %s: %+v, want one NEW", rid, evs)
		}
	}

	// A page refetched is a URL GitHub answered 200 both before the
	// kill and after the restart.
	full := map[string]bool{}
	for _, r := range before {
		if r.Status == http.StatusOK {
			full[r.URI] = true
		}
	}
	var refetched []string
	for _, r := range fake.Requests()[len(before):] {
		if r.Status == http.StatusOK && full[r.URI] && !strings.Contains(r.URI, "/hooks") {
			refetched = append(refetched, r.URI)
		}
	}
	if len(refetched) > 1 {
		t.Errorf("%d pages refetched after the restart, want at most 1: %v", len(refetched), refetched)
	}
	t.Logf("killed after %d requests; refetched %v", len(before), refetched)
}
