package backfill_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
)

const repoRID = "orn:github.repo:octo/hello"

// Every rate-limit and error variant waits as GitHub's docs say, through
// the Clock, and gives up after its bound.
func TestWaitsFollowHeaders(t *testing.T) {
	type tc struct {
		name    string
		opts    fakegithub.Options
		cfg     func(*backfill.Config)
		inject  func(e *env)
		want    func(e *env) []time.Duration
		wantErr error
		status  int // of a *StatusError wanted
	}
	secs := func(s ...int) func(*env) []time.Duration {
		return func(*env) []time.Duration {
			var out []time.Duration
			for _, x := range s {
				out = append(out, time.Duration(x)*time.Second)
			}
			return out
		}
	}
	untilReset := func(e *env) []time.Duration { return []time.Duration{e.gh.ResetAt("tok-a").Sub(e.clock.Now())} }
	cases := []tc{
		{name: "primary 403 waits until x-ratelimit-reset", inject: func(e *env) { e.gh.SetRemaining("tok-a", 0) }, want: untilReset},
		{name: "primary 429 waits until x-ratelimit-reset", opts: fakegithub.Options{PrimaryStatus: 429},
			inject: func(e *env) { e.gh.SetRemaining("tok-a", 0) }, want: untilReset},
		{name: "secondary 403 with Retry-After", inject: func(e *env) { e.gh.SecondaryLimit(1, 403, "30") }, want: secs(30)},
		{name: "secondary 429 with Retry-After", inject: func(e *env) { e.gh.SecondaryLimit(1, 429, "7") }, want: secs(7)},
		{name: "secondary with an HTTP-date Retry-After", inject: func(e *env) {
			e.gh.SecondaryLimit(1, 403, e.clock.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
		}, want: secs(90)},
		{name: "secondary body without Retry-After: 60 s then backoff", inject: func(e *env) { e.gh.SecondaryLimit(2, 403, "") }, want: secs(60, 120)},
		{name: "secondary without Retry-After gives up after the bound", cfg: func(c *backfill.Config) { c.MaxSecondaryRetries = 3 },
			inject: func(e *env) { e.gh.SecondaryLimit(10, 403, "") }, want: secs(60, 120, 240), wantErr: backfill.ErrRateLimited},
		{name: "429 without any header is a secondary limit", inject: func(e *env) { e.gh.Inject(fakegithub.Fault{Times: 1, Status: 429, Body: "{}"}) }, want: secs(60)},
		{name: "5xx retried with backoff", inject: func(e *env) { e.gh.FailNext(2, 502) }, want: secs(1, 2)},
		{name: "5xx gives up after the bound", cfg: func(c *backfill.Config) { c.MaxRetries = 2 },
			inject: func(e *env) { e.gh.FailNext(5, 503) }, want: secs(1, 2), status: 503},
		{name: "plain 403 is not retried", inject: func(e *env) {
			e.gh.Inject(fakegithub.Fault{Times: 1, Status: 403, Body: `{"message":"Resource not accessible by integration"}`})
		}, want: secs(), status: 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts, smallRepo)
			f := e.fetcher(c.cfg)
			c.inject(e)
			want := c.want(e)
			_, err := f.Fetch(context.Background(), repoRID)
			var se *backfill.StatusError
			switch {
			case c.wantErr != nil:
				if !errors.Is(err, c.wantErr) {
					t.Errorf("Fetch = %v, want %v", err, c.wantErr)
				}
			case c.status != 0:
				if !errors.As(err, &se) || se.Status != c.status {
					t.Errorf("Fetch = %v, want a StatusError %d", err, c.status)
				}
			case err != nil:
				t.Errorf("Fetch: %v", err)
			}
			if got := e.clock.Sleeps(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("sleeps = %v, want %v", got, want)
			}
			if st := f.Stats()[0]; st.Waits != len(want) {
				t.Errorf("stats count %d waits, want %d", st.Waits, len(want))
			}
		})
	}
}

// A wait that would outlast the caller's deadline is refused at once: the
// dereference endpoint answers "deferred" instead of hanging.
func TestWaitBeyondDeadlineIsRefused(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	f := e.fetcher(nil)
	e.gh.SecondaryLimit(1, 403, "60")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := f.Fetch(ctx, repoRID); !errors.Is(err, backfill.ErrDeadline) {
		t.Fatalf("Fetch = %v, want ErrDeadline", err)
	}
	if got := e.clock.Sleeps(); len(got) != 0 {
		t.Errorf("slept %v", got)
	}
}

// When a token runs out the next one takes over without waiting; when all
// have run out the fetcher waits for the earliest reset.
func TestTokensRotate(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	f := e.fetcher(func(c *backfill.Config) { c.Tokens = []string{"tok-a", "tok-b"} })
	ctx := context.Background()
	e.gh.SetRemaining("tok-a", 2)
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	if got := e.clock.Sleeps(); len(got) != 0 {
		t.Errorf("slept %v while tok-b had quota", got)
	}
	reqs := e.gh.Requests()
	for i, r := range reqs {
		if want := map[bool]string{true: "tok-a", false: "tok-b"}[i < 2]; r.Token != want {
			t.Errorf("request %d (%s) used %s, want %s", i, r.URI, r.Token, want)
		}
		if r.Status == 403 {
			t.Errorf("request %d hit the limit: a response with remaining 0 must rotate before the next request", i)
		}
	}
	// Both spent: wait for the earlier reset, then carry on.
	e.reset()
	e.gh.SetRemaining("tok-b", 0)
	e.clock.Advance(10 * time.Minute)
	e.gh.SetRemaining("tok-a", 0) // tok-a's window began earlier
	wait := earlier(e.gh.ResetAt("tok-a"), e.gh.ResetAt("tok-b")).Sub(e.clock.Now())
	if _, err := f.Fetch(ctx, repoRID); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if got := e.clock.Sleeps(); len(got) != 1 || got[0] != wait {
		t.Errorf("sleeps = %v, want [%v]", got, wait)
	}
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// The events feed is polled no sooner than X-Poll-Interval allows.
func TestPollIntervalObeyed(t *testing.T) {
	e := newEnv(t, fakegithub.Options{PollInterval: 120}, smallRepo)
	f := e.fetcher(nil)
	ctx := context.Background()
	polls := func() int {
		n := 0
		for _, r := range e.gh.Requests() {
			if len(r.URI) >= 24 && r.URI[:24] == "/repos/octo/hello/events" {
				n++
			}
		}
		return n
	}
	steps := []struct {
		advance time.Duration
		want    int
	}{{0, 1}, {0, 1}, {119 * time.Second, 1}, {time.Second, 2}, {60 * time.Second, 2}, {60 * time.Second, 3}}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		if err := f.Pass(ctx); err != nil {
			t.Fatalf("Pass %d: %v", i, err)
		}
		if got := polls(); got != s.want {
			t.Errorf("after pass %d: %d polls of page 1 of the events, want %d", i, got, s.want)
		}
	}
}
