package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/topics"
)

// BackfillOptions says what one backfill pass (BackfillOnce) covers.
type BackfillOptions struct {
	// Repos are the repositories to pass over; empty means the
	// configuration's (cfg.Backfill.Repos).
	Repos []string
	// Since, when not zero, walks the issues, pulls and commits again
	// from this time, whatever their watermark and the lookback, with
	// unconditional requests (backfill.Fetcher.SetSince).
	Since time.Time
	// OnProgress, when set, receives a repository's statistics after
	// every response and wait; it must not block.
	OnProgress func(backfill.RepoStats)
}

// BackfillOnce makes one backfill pass over the repositories, appending
// every page to the raw topic, and returns each repository's statistics
// and the failures joined (a repository that fails does not stop the
// others). It runs without a node: it takes the data folder's lock (a node
// running on the folder makes it fail with an *InUseError) and starts the
// embedded broker on it unless cfg.Brokers names a cluster. The stages
// handle the pages when a node runs next (or at once, on a cluster a node
// shares). cfg.Backfill must have a token.
func BackfillOnce(ctx context.Context, cfg Config, opts BackfillOptions) ([]backfill.RepoStats, error) {
	cfg.SetDefaults()
	if len(opts.Repos) > 0 {
		cfg.Backfill.Repos = opts.Repos
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Backfill.Enabled() {
		return nil, errors.New("no GitHub API token: set GITHUB_TOKEN (or the variable env.github_token names)")
	}
	if len(cfg.Backfill.Repos) == 0 {
		return nil, errors.New("no repository to backfill: name them with --repo or in github.monitored_repositories")
	}
	lock, err := LockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		broker, err := topics.StartEmbedded(topics.EmbeddedConfig{
			DataDir: filepath.Join(cfg.DataDir, "broker"), Listen: "127.0.0.1:0",
			Partitions: cfg.Partitions, Logger: cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
		defer broker.Close()
		brokers = []string{broker.Addr()}
	}
	names := topics.NewNames(cfg.TopicPrefix)
	if err := topics.EnsureTopics(ctx, brokers, names.All(), cfg.Partitions); err != nil {
		return nil, err
	}
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: brokers}, watermill.NewSlogLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	b, err := openGitHubBackfill(cfg.Backfill, cfg.DataDir, pub, names.Raw, opts.OnProgress, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var errs []error
	for _, repo := range cfg.Backfill.Repos {
		if !opts.Since.IsZero() {
			if err := b.f.SetSince(repo, opts.Since); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", repo, err))
				continue
			}
		}
		if err := b.f.PassRepo(ctx, repo); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", repo, err))
		}
	}
	return b.f.Stats(), errors.Join(errs...)
}
