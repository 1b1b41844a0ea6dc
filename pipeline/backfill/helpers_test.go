package backfill_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/go-github/v92/github"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	"github.com/koistream/koistream/topics/githubapi"
)

const repoName = "octo/hello"

// env is one test's fake GitHub, fake clock, Pebble and recording sink.
type env struct {
	t     *testing.T
	gh    *fakegithub.Server
	clock *fakegithub.Clock
	db    *pebble.DB

	mu   sync.Mutex
	got  []githubapi.Input
	fail func(n int, in githubapi.Input) error // n counts sink calls from 1
	n    int
}

func newEnv(t *testing.T, opts fakegithub.Options, spec fakegithub.RepoSpec) *env {
	t.Helper()
	clock := fakegithub.NewClock(fakegithub.DefaultBase.Add(30 * 24 * time.Hour))
	opts.Clock = clock
	gh := fakegithub.New(opts)
	t.Cleanup(gh.Close)
	if spec.Owner == "" {
		spec.Owner, spec.Name = "octo", "hello"
	}
	gh.AddRepo(spec)
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatalf("pebble: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return &env{t: t, gh: gh, clock: clock, db: db}
}

func (e *env) sink(ctx context.Context, in githubapi.Input) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if e.fail != nil {
		if err := e.fail(e.n, in); err != nil {
			return err
		}
	}
	// The record must be one NewMessage accepts: that is the contract.
	if _, err := githubapi.NewMessage(in); err != nil {
		e.t.Errorf("sink got an invalid record: %v", err)
	}
	e.got = append(e.got, in)
	return nil
}

func (e *env) inputs() []githubapi.Input {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]githubapi.Input(nil), e.got...)
}

func (e *env) reset() {
	e.mu.Lock()
	e.got = nil
	e.mu.Unlock()
	e.gh.ResetRequests()
	e.clock.ResetSleeps()
}

func (e *env) fetcher(mod func(*backfill.Config)) *backfill.Fetcher {
	e.t.Helper()
	cfg := backfill.Config{
		APIURL: e.gh.URL, Repos: []string{repoName}, Tokens: []string{"tok-a"},
		Clock: e.clock, PerPage: 3,
	}
	if mod != nil {
		mod(&cfg)
	}
	f, err := backfill.New(cfg, e.db, "bf\x00", e.sink)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return f
}

// count returns how many inputs there are per resource.
func count(ins []githubapi.Input) map[string]int {
	out := map[string]int{}
	for _, in := range ins {
		out[in.Resource]++
	}
	return out
}

// entities returns the distinct entity keys the inputs hold: issue and
// pull numbers, commit SHAs, event ids.
func entities(t *testing.T, ins []githubapi.Input) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, in := range ins {
		switch in.Resource {
		case githubapi.ResourceIssues:
			var is []github.Issue
			mustJSON(t, in.Body, &is)
			for _, i := range is {
				out["issue:"+itoa(i.GetNumber())] = true
			}
		case githubapi.ResourcePulls:
			var ps []github.PullRequest
			mustJSON(t, in.Body, &ps)
			for _, p := range ps {
				out["pull:"+itoa(p.GetNumber())] = true
			}
		case githubapi.ResourceCommits:
			var cs []github.RepositoryCommit
			mustJSON(t, in.Body, &cs)
			for _, c := range cs {
				out["commit:"+c.GetSHA()] = true
			}
		case githubapi.ResourceEvents:
			var es []github.Event
			mustJSON(t, in.Body, &es)
			for _, ev := range es {
				out["event:"+ev.GetID()] = true
			}
		case githubapi.ResourceRepo:
			out["repo"] = true
		}
	}
	return out
}

func pathOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url %q: %v", raw, err)
	}
	return u.RequestURI()
}

func hasPrefixAny(s string, ps ...string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// quietPebble drops Pebble's logs; its fatal errors still fail loudly.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(string, ...any)          {}
func (quietPebble) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

// sightings counts the list items and objects the inputs hold, each time
// it is held.
func sightings(t *testing.T, ins []githubapi.Input) int {
	t.Helper()
	n := 0
	for _, in := range ins {
		if in.Resource == githubapi.ResourceRepo {
			n++
			continue
		}
		var items []json.RawMessage
		mustJSON(t, in.Body, &items)
		n += len(items)
	}
	return n
}
