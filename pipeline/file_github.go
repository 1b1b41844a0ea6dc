package pipeline

import (
	"errors"

	"github.com/koistream/koistream/stages/github"
)

// GitHubSection is the sensor's github block: what the GitHub REST API
// backfill reads, as both the 1.0 sensor's README (monitored_repositories,
// backfill_*) and the newer Python sensor (repositories, api_token,
// poll_interval_seconds, state_path) write it. koistream reads and checks
// it now; the backfill that acts on it comes in a later release (see
// [File.NotYetUsed]). To keep only some repositories in the pipeline, place
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
