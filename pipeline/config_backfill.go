package pipeline

import (
	"fmt"
	"net/http"
	"time"

	"github.com/koistream/koistream/pipeline/backfill"
)

// DefaultBackfillInterval is how often a node brings its monitored
// repositories up to date after the pass at start. An unchanged repository
// costs one conditional request per list (free 304s), so the interval is
// bounded by how stale the node may be, not by the quota.
const DefaultBackfillInterval = 5 * time.Minute

// DefaultRecoveryInterval is how often failed webhook deliveries are
// looked for: well inside GitHub's three-day redelivery window, and rare
// enough that the requests it costs stay small beside a pass's free 304s.
const DefaultRecoveryInterval = time.Hour

// DefaultGitHubTokenEnv is the environment variable the GitHub token is
// read from, as the sensor reads it (env.github_token names another).
const DefaultGitHubTokenEnv = "GITHUB_TOKEN"

// BackfillConfig configures the GitHub backfill, the github-api source
// (the github block of the configuration file). It runs only with a token:
// GitHub answers conditional requests for free only to authorized ones.
type BackfillConfig struct {
	// APIURL is the REST API's base URL; backfill.DefaultAPIURL
	// (github.com) by default, a GitHub Enterprise Server's /api/v3
	// otherwise.
	APIURL string
	// Repos are the monitored repositories, "owner/repo".
	Repos []string
	// MaxItems and LookbackDays bound the first pass of a repository
	// (backfill.Config); 0 means no bound.
	MaxItems, LookbackDays int
	// Tokens are the API tokens, used in turn when one runs out. The
	// caller reads them from the environment (the variable
	// env.github_token names, GITHUB_TOKEN by default, comma-separated),
	// so that the library never does.
	Tokens []string
	// StateFile is an older sensor's backfill state file, imported once
	// when present.
	StateFile string
	// Interval is the time between passes; DefaultBackfillInterval by
	// default.
	Interval time.Duration
	// RecoveryInterval is the time between two recoveries of failed
	// webhook deliveries (listing a repository's hooks and their
	// deliveries costs requests no ETag saves, so not every pass);
	// DefaultRecoveryInterval by default. GitHub keeps deliveries for
	// three days.
	RecoveryInterval time.Duration
	// DereferenceTimeout bounds how long a KOI-net fetch waits for an
	// entity fetched from GitHub; koiapi.DefaultDereferenceTimeout by
	// default.
	DereferenceTimeout time.Duration
	// HTTPClient and Clock replace the fetcher's in tests.
	HTTPClient *http.Client
	Clock      backfill.Clock
}

// Enabled reports whether the backfill runs: it has a token.
func (c BackfillConfig) Enabled() bool { return len(c.Tokens) > 0 }

func (c *BackfillConfig) setDefaults() {
	if c.Interval == 0 {
		c.Interval = DefaultBackfillInterval
	}
	if c.RecoveryInterval == 0 {
		c.RecoveryInterval = DefaultRecoveryInterval
	}
}

// Validate checks the backfill settings a file or flag can get wrong.
func (c BackfillConfig) Validate() error {
	if c.Interval < time.Second {
		return fmt.Errorf("backfill interval %s is shorter than a second", c.Interval)
	}
	if c.DereferenceTimeout < 0 {
		return fmt.Errorf("dereference timeout %s is negative", c.DereferenceTimeout)
	}
	if !c.Enabled() {
		return nil
	}
	return c.fetcherConfig().Validate()
}

// fetcherConfig is the backfill.Config of c.
func (c BackfillConfig) fetcherConfig() backfill.Config {
	return backfill.Config{
		APIURL: c.APIURL, Repos: c.Repos, MaxItems: c.MaxItems, LookbackDays: c.LookbackDays,
		Tokens: c.Tokens, HTTPClient: c.HTTPClient, Clock: c.Clock,
	}
}
