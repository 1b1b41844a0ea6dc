package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/koistream/koistream/pipeline/backfill"
	gh "github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/githubapi"
)

// githubAPISource is the GitHub backfill: pages of GitHub's REST API,
// appended to the raw topic as topics/githubapi records and parsed by
// stages/github.ParseAPI. With a token (BackfillConfig.Enabled) it passes
// over every monitored repository at start and then every
// BackfillConfig.Interval, asks GitHub to redeliver the failed webhook
// deliveries of the last three days the node does not have (at the first
// pass and then every BackfillConfig.RecoveryInterval), and fetches
// GitHub RIDs KOI-net peers ask for that the cache lacks. Without one it
// only logs that it is off.
func githubAPISource() Source {
	return Source{
		Kind: githubapi.SourceKind,
		Start: func(d SourceDeps) error {
			if d.Publisher == nil || d.RawTopic == "" {
				return errors.New("the GitHub backfill needs a publisher and the raw topic")
			}
			cfg := d.Config.Backfill
			if !cfg.Enabled() {
				if len(cfg.Repos) > 0 {
					d.Logger.Warn("GitHub backfill off: no API token (set GITHUB_TOKEN, or the variable env.github_token names)",
						"repositories", cfg.Repos)
				}
				return nil
			}
			b, err := openGitHubBackfill(cfg, d.Config.DataDir, d.Publisher, d.RawTopic, nil, d.Logger)
			if err != nil {
				return err
			}
			if err := registerBackfillMetrics(d.Meter, b.f); err != nil {
				b.Close()
				return err
			}
			if d.Dereference != nil {
				d.Dereference(b)
			}
			d.Background("backfill", func(ctx context.Context) error {
				defer b.Close()
				runBackfill(ctx, b, cfg, d)
				return nil
			})
			return nil
		},
	}
}

// runBackfill passes over the repositories until ctx ends: one pass at
// once, then one every interval. A repository that fails is logged and
// tried again at the next pass; the others go on.
func runBackfill(ctx context.Context, b *githubBackfill, cfg BackfillConfig, d SourceDeps) {
	var recovered time.Time // the last delivery recovery
	for {
		start := time.Now()
		recoverNow := start.Sub(recovered) >= cfg.RecoveryInterval
		for _, repo := range cfg.Repos {
			if ctx.Err() != nil {
				return
			}
			if err := b.f.PassRepo(ctx, repo); err != nil && ctx.Err() == nil {
				d.Logger.Error("backfill pass failed; next pass retries", "repository", repo, "err", err)
			}
			if recoverNow {
				recoverDeliveries(ctx, b, repo, d)
			}
		}
		if recoverNow {
			recovered = start
		}
		d.Logger.Info("backfill pass done", "repositories", len(cfg.Repos), "took", time.Since(start).Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Interval):
		}
	}
}

// recoverDeliveries asks GitHub to redeliver the repository's failed
// webhook deliveries the cache does not know. A token that may not read
// the repository's hooks makes this fail every pass; it is logged at debug
// level after the first time.
func recoverDeliveries(ctx context.Context, b *githubBackfill, repo string, d SourceDeps) {
	if d.Cached == nil || ctx.Err() != nil {
		return
	}
	// Event RIDs carry GitHub's spelling of the repository, which the
	// configured name may differ from in case.
	name := b.f.FullName(repo)
	have := func(guid string) bool {
		found, err := d.Cached(gh.EventRID(name, guid))
		return err == nil && found
	}
	rec, err := b.f.RecoverDeliveries(ctx, repo, nil, have)
	switch {
	case err != nil && ctx.Err() == nil:
		d.Logger.Warn("webhook delivery recovery failed (the token may not read the repository's hooks)", "repository", repo, "err", err)
	case len(rec.Redelivered) > 0:
		d.Logger.Info("asked GitHub to redeliver failed webhook deliveries", "repository", repo,
			"failed", rec.Failed, "redelivered", len(rec.Redelivered))
	}
}

// registerBackfillMetrics exports the fetcher's statistics per repository.
func registerBackfillMetrics(m metric.Meter, f *backfill.Fetcher) error {
	if m == nil {
		return nil
	}
	counters := map[string]func(backfill.RepoStats) int64{
		"koistream_backfill_requests":     func(s backfill.RepoStats) int64 { return int64(s.Requests) },
		"koistream_backfill_pages":        func(s backfill.RepoStats) int64 { return int64(s.Pages) },
		"koistream_backfill_items":        func(s backfill.RepoStats) int64 { return int64(s.Items) },
		"koistream_backfill_not_modified": func(s backfill.RepoStats) int64 { return int64(s.NotModified) },
		"koistream_backfill_waits":        func(s backfill.RepoStats) int64 { return int64(s.Waits) },
		"koistream_backfill_redelivered":  func(s backfill.RepoStats) int64 { return int64(s.Redelivered) },
	}
	var observables []metric.Observable
	obs := map[metric.Int64ObservableCounter]func(backfill.RepoStats) int64{}
	for name, get := range counters {
		c, err := m.Int64ObservableCounter(name, metric.WithDescription("GitHub backfill, per repository: "+name[len("koistream_backfill_"):]+"."))
		if err != nil {
			return fmt.Errorf("backfill metric %s: %w", name, err)
		}
		obs[c] = get
		observables = append(observables, c)
	}
	waited, err := m.Float64ObservableCounter("koistream_backfill_waited_seconds", metric.WithDescription("GitHub backfill, per repository: time spent waiting on rate limits and backoff."))
	if err != nil {
		return fmt.Errorf("backfill metric: %w", err)
	}
	quota, err := m.Int64ObservableGauge("koistream_backfill_quota_remaining", metric.WithDescription("GitHub backfill, per repository: primary rate-limit budget left on the token last used (-1 unknown)."))
	if err != nil {
		return fmt.Errorf("backfill metric: %w", err)
	}
	observables = append(observables, waited, quota)
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, s := range f.Stats() {
			repo := metric.WithAttributes(attribute.String("repository", s.Repo))
			for c, get := range obs {
				o.ObserveInt64(c, get(s), repo)
			}
			o.ObserveFloat64(waited, s.Waited.Seconds(), repo)
			o.ObserveInt64(quota, int64(s.QuotaRemaining), repo)
		}
		return nil
	}, observables...)
	if err != nil {
		return fmt.Errorf("backfill metrics: %w", err)
	}
	return nil
}
