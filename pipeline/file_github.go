package pipeline

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/koistream/koistream/stages/github"
)

// GitHubSection is the sensor's github block: what the GitHub REST API
// backfill reads, as both the 1.0 sensor's README (monitored_repositories,
// backfill_*) and the newer Python sensor (repositories, api_token,
// poll_interval_seconds, state_path) write it; [File.Apply] turns it into
// [BackfillConfig]. To keep only some repositories in the pipeline, place
// the repofilter stage with its own block.
type GitHubSection struct {
	// APIURL is the REST API's base URL, https://api.github.com by
	// default; a GitHub Enterprise Server's /api/v3 otherwise.
	APIURL HTTPURL `yaml:"api_url"`
	// APIToken is a token given in the file (the newer sensor); env.*
	// naming a variable is the better place for it.
	APIToken string `yaml:"api_token"`
	// Repositories are the repositories to backfill (the newer sensor).
	Repositories []github.FullName `yaml:"repositories"`
	// MonitoredRepositories are the repositories to backfill (the 1.0
	// sensor), each - name: owner/repo.
	MonitoredRepositories []MonitoredRepository `yaml:"monitored_repositories"`
	// PollIntervalSeconds is how often the API is polled.
	PollIntervalSeconds Count `yaml:"poll_interval_seconds"`
	// StatePath is where the newer sensor keeps its backfill position.
	StatePath string `yaml:"state_path"`
	// BackfillMaxItems caps the items backfilled per repository.
	BackfillMaxItems Count `yaml:"backfill_max_items"`
	// BackfillLookbackDays is how far back the backfill reaches.
	BackfillLookbackDays Count `yaml:"backfill_lookback_days"`
	// BackfillStateFilePath is where the 1.0 sensor keeps its backfill
	// position.
	BackfillStateFilePath string `yaml:"backfill_state_file_path"`
}

// MonitoredRepository is one entry of github.monitored_repositories.
type MonitoredRepository struct {
	// Name is the repository, "owner/repo".
	Name github.FullName `yaml:"name"`
}

// Validate checks that the entry names its repository.
func (m *MonitoredRepository) Validate() error {
	if m.Name == "" {
		return errors.New("needs a name: owner/repo")
	}
	return nil
}

// usedGitHubKeys are the github keys the backfill acts on: all of them.
var usedGitHubKeys = map[string]bool{
	"api_url": true, "api_token": true, "repositories": true, "monitored_repositories": true,
	"poll_interval_seconds": true, "state_path": true, "backfill_max_items": true,
	"backfill_lookback_days": true, "backfill_state_file_path": true,
}

// apply copies the block into cfg: the repositories of both spellings
// (each once), the bounds, the state file (backfill_state_file_path, else
// state_path), the poll interval, and api_token as the first token (the
// environment's come after it, see [File.GitHubTokenEnv]).
func (g GitHubSection) apply(cfg *BackfillConfig) {
	if g.APIURL != "" {
		cfg.APIURL = string(g.APIURL)
	}
	add := func(name string) {
		if !slices.ContainsFunc(cfg.Repos, func(r string) bool { return strings.EqualFold(r, name) }) {
			cfg.Repos = append(cfg.Repos, name)
		}
	}
	for _, r := range g.MonitoredRepositories {
		add(string(r.Name))
	}
	for _, r := range g.Repositories {
		add(string(r))
	}
	if g.BackfillMaxItems != 0 {
		cfg.MaxItems = int(g.BackfillMaxItems)
	}
	if g.BackfillLookbackDays != 0 {
		cfg.LookbackDays = int(g.BackfillLookbackDays)
	}
	switch {
	case g.BackfillStateFilePath != "":
		cfg.StateFile = g.BackfillStateFilePath
	case g.StatePath != "":
		cfg.StateFile = g.StatePath
	}
	if g.PollIntervalSeconds != 0 {
		cfg.Interval = time.Duration(g.PollIntervalSeconds) * time.Second
	}
	if g.APIToken != "" {
		cfg.Tokens = append([]string{g.APIToken}, cfg.Tokens...)
	}
}

// GitHubTokenEnv returns the name of the variable holding the GitHub API
// tokens: env.github_token, else DefaultGitHubTokenEnv.
func (f *File) GitHubTokenEnv() string {
	if v := f.Env["github_token"]; v != "" {
		return string(v)
	}
	return DefaultGitHubTokenEnv
}

// ParseTokens splits a comma-separated list of tokens, dropping blanks.
func ParseTokens(s string) []string {
	var out []string
	for t := range strings.SplitSeq(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}
