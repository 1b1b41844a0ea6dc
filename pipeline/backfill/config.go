package backfill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/koistream/koistream/topics/githubapi"
)

// Clock is the fetcher's time: every wait (rate limits, backoff) goes
// through Sleep, so tests substitute a fake (fakegithub.Clock) and run
// instantly while asserting on the waits.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits d, or returns ctx's error early when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real Clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx is done, whichever is first.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Sink receives every 200 response as a github-api raw record and returns
// once it is durable (the node passes its raw-topic publisher). An error
// stops the pass before any state moves for that response.
type Sink func(ctx context.Context, in githubapi.Input) error

// Defaults of Config.
const (
	// DefaultAPIURL is github.com's REST API.
	DefaultAPIURL = "https://api.github.com"
	// DefaultUserAgent is sent when Config.UserAgent is empty (GitHub
	// rejects requests without one).
	DefaultUserAgent = "koistream-backfill"
	// DefaultPerPage is GitHub's maximum page size: fewest requests.
	DefaultPerPage = 100
	// DefaultMaxRetries bounds the retries after 5xx or network errors.
	DefaultMaxRetries = 5
	// DefaultMaxSecondaryRetries bounds the retries after secondary limits.
	DefaultMaxSecondaryRetries = 5
	// DefaultHTTPTimeout is the default client's per-request timeout.
	DefaultHTTPTimeout = 30 * time.Second
)

// Config configures a Fetcher. Zero fields take the documented defaults
// (see WithDefaults); Validate says what is wrong with the rest.
type Config struct {
	// APIURL is the REST API's base URL: https://api.github.com (the
	// default) or a GitHub Enterprise Server's https://host/api/v3.
	APIURL string
	// Repos are the repositories a Pass covers, "owner/repo".
	Repos []string
	// MaxItems bounds the items of each list fetched in one pass (0: no
	// bound). A list cut short resumes where it stopped on the next pass.
	MaxItems int
	// LookbackDays bounds the first pass to the last LookbackDays days of
	// history (issues and pulls by updated_at, commits by date); 0 means
	// all history.
	LookbackDays int
	// Tokens are the credentials, used in turn: when one runs out of
	// quota the next takes over. At least one is required; each is sent as
	// "Authorization: Bearer <token>".
	Tokens []string
	// UserAgent is sent with every request. Default DefaultUserAgent.
	UserAgent string
	// HTTPClient makes the requests. Default: a client with a
	// DefaultHTTPTimeout timeout (it follows redirects as net/http does,
	// which GitHub's best practices ask for).
	HTTPClient *http.Client
	// Clock is the time source for waits. Default SystemClock.
	Clock Clock
	// PerPage is the per_page of list requests, 1 to 100. Default 100.
	PerPage int
	// MaxRetries bounds the retries of one request after 5xx answers or
	// network errors (waits 1 s, 2 s, 4 s, ... capped at 1 min). Default 5.
	MaxRetries int
	// MaxSecondaryRetries bounds the retries of one request after
	// secondary-rate-limit answers. Default 5.
	MaxSecondaryRetries int
	// OnProgress, when set, is called with a repository's statistics after
	// every response and wait concerning it. It must not block; it may be
	// called from several goroutines.
	OnProgress func(RepoStats)
}

// WithDefaults returns c with its zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	c.APIURL = strings.TrimRight(c.APIURL, "/")
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.PerPage == 0 {
		c.PerPage = DefaultPerPage
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.MaxSecondaryRetries == 0 {
		c.MaxSecondaryRetries = DefaultMaxSecondaryRetries
	}
	return c
}

// Validate reports what is wrong with c once defaults are applied: every
// problem, joined.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("api url %q is not an absolute http(s) URL", c.APIURL))
	}
	seen := map[string]bool{}
	for _, r := range c.Repos {
		if err := validRepo(r); err != nil {
			errs = append(errs, err)
		} else if seen[strings.ToLower(r)] {
			errs = append(errs, fmt.Errorf("repository %q is listed twice", r))
		}
		seen[strings.ToLower(r)] = true
	}
	if c.MaxItems < 0 {
		errs = append(errs, fmt.Errorf("max items %d is negative", c.MaxItems))
	}
	if c.LookbackDays < 0 {
		errs = append(errs, fmt.Errorf("lookback days %d is negative", c.LookbackDays))
	}
	if len(c.Tokens) == 0 {
		errs = append(errs, errors.New("no token: GitHub answers 304s for free only to authorized requests"))
	}
	for i, t := range c.Tokens {
		if strings.TrimSpace(t) == "" || strings.ContainsAny(t, " \r\n\t") {
			errs = append(errs, fmt.Errorf("token %d is empty or contains white space", i+1))
		}
	}
	if c.PerPage < 1 || c.PerPage > 100 {
		errs = append(errs, fmt.Errorf("per page %d is not within 1..100", c.PerPage))
	}
	if c.MaxRetries < 0 || c.MaxSecondaryRetries < 0 {
		errs = append(errs, errors.New("retry bounds must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("backfill config: %w", errors.Join(errs...))
	}
	return nil
}

// validRepo checks an "owner/repo" name.
func validRepo(r string) error {
	owner, name, ok := strings.Cut(r, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(r, "@:?#% \t\r\n") || strings.Contains(name, "/") ||
		name == "." || name == ".." {
		return fmt.Errorf("repository %q is not owner/repo", r)
	}
	return nil
}
