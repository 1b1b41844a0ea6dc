package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/topics"
)

// backfillFlags are the flags of koistream backfill.
type backfillFlags struct {
	config, dataDir, brokers, since, apiURL string
	repos                                   []string
	partitions                              int
	logLevel                                string
}

func newBackfillCmd() *cobra.Command {
	var f backfillFlags
	cmd := &cobra.Command{
		Use:   "backfill [--repo owner/repo ...] [--since DATE]",
		Short: "Make one pass of the GitHub backfill over the monitored repositories, then exit",
		Long: `Fetch what GitHub's REST API holds for each repository (the repository, its issues, pull
requests, default-branch commits and event feed) into the raw topic, with conditional requests:
a repository unchanged since the last pass costs only 304s. Pages are appended to the log of the
data folder (its embedded broker, or --brokers); the stages handle them when the node runs.

The repositories are --repo, else the --config file's github block. The token is read from
GITHUB_TOKEN (or the variable env.github_token names; several comma-separated are used in turn).
--since (RFC 3339 or YYYY-MM-DD) starts the lists at that time instead of where the last pass
stopped. On a terminal, a line per repository shows pages, items, 304s, quota left and waits.
It exits 1 if a repository failed, 2 on a usage or configuration mistake. A node running on the
data folder holds it: stop it first, or let the node's own schedule do the pass.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBackfillCmd(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML configuration file (the sensor's config.yaml works)")
	fl.StringVar(&f.dataDir, "data-dir", pipeline.DefaultDataDir, "the node's data folder (backfill state and, without --brokers, the embedded broker's log)")
	fl.StringVar(&f.brokers, "brokers", "", "comma-separated Kafka seed brokers; empty uses the data folder's embedded broker")
	fl.StringArrayVar(&f.repos, "repo", nil, "repository to backfill, owner/repo (repeatable); default: the configuration's")
	fl.StringVar(&f.since, "since", "", "start the lists at this time (RFC 3339 or YYYY-MM-DD) instead of the last pass's watermark")
	fl.StringVar(&f.apiURL, "api-url", "", "GitHub REST API base URL (default https://api.github.com, or the file's github.api_url)")
	fl.IntVar(&f.partitions, "partitions", topics.DefaultPartitions, "partition count of topics it has to create")
	fl.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn or error")
	return cmd
}

func runBackfillCmd(cmd *cobra.Command, f backfillFlags) error {
	logger, err := newLogger(cmd.ErrOrStderr(), f.logLevel, "text")
	if err != nil {
		return err
	}
	var cfg pipeline.Config
	tokenEnv := pipeline.DefaultGitHubTokenEnv
	file, err := applyConfigFile(f.config, &cfg)
	if err != nil {
		return err
	}
	if file != nil {
		tokenEnv = file.GitHubTokenEnv()
	}
	set := cmd.Flags().Changed
	if set("data-dir") || cfg.DataDir == "" {
		cfg.DataDir = f.dataDir
	}
	if set("brokers") {
		cfg.Brokers = topics.ParseBrokers(f.brokers)
	}
	if set("partitions") {
		cfg.Partitions = f.partitions
	}
	if f.apiURL != "" {
		cfg.Backfill.APIURL = f.apiURL
	}
	cfg.Backfill.Tokens = append(cfg.Backfill.Tokens, pipeline.ParseTokens(os.Getenv(tokenEnv))...)
	cfg.Logger = logger
	opts := pipeline.BackfillOptions{Repos: f.repos}
	if f.since != "" {
		if opts.Since, err = parseSinceDate(f.since); err != nil {
			return configError(err)
		}
	}
	if len(cfg.Backfill.Tokens) == 0 {
		return configError(fmt.Errorf("koistream backfill: no GitHub API token in %s", tokenEnv))
	}
	if len(opts.Repos) == 0 && len(cfg.Backfill.Repos) == 0 {
		return configError(fmt.Errorf("koistream backfill: no repository: give --repo owner/repo or a --config with github.monitored_repositories"))
	}
	check := cfg
	check.SetDefaults()
	if len(opts.Repos) > 0 {
		check.Backfill.Repos = opts.Repos
	}
	if err := check.Validate(); err != nil {
		return configError(err)
	}

	display := newBackfillDisplay(cmd.ErrOrStderr())
	opts.OnProgress = display.update
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stats, err := pipeline.BackfillOnce(ctx, cfg, opts)
	display.finish(stats)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream backfill: %w", err)}
	}
	return nil
}

// parseSinceDate reads --since: RFC 3339 or a date.
func parseSinceDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither an RFC 3339 time nor YYYY-MM-DD", s)
}

// backfillDisplay shows the pass: on a terminal a spinner whose line names
// the repository being fetched and its counters (a kept library,
// progressbar); elsewhere nothing until the end. At the end, a line per
// repository either way. Safe for concurrent use.
type backfillDisplay struct {
	w   io.Writer
	mu  sync.Mutex
	bar *progressbar.ProgressBar // nil when w is not a terminal
}

func newBackfillDisplay(w io.Writer) *backfillDisplay {
	d := &backfillDisplay{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		d.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return d
}

func (d *backfillDisplay) update(s backfill.RepoStats) {
	if d.bar == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bar.Describe(statsLine(s))
	_ = d.bar.Add(1)
}

func (d *backfillDisplay) finish(stats []backfill.RepoStats) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bar != nil {
		_ = d.bar.Finish()
	}
	for _, s := range stats {
		fmt.Fprintln(d.w, statsLine(s))
	}
}

// statsLine is one repository's counters: what a user of the display and
// a test of the command read.
func statsLine(s backfill.RepoStats) string {
	quota := "?"
	if s.QuotaRemaining >= 0 {
		quota = fmt.Sprint(s.QuotaRemaining)
	}
	line := fmt.Sprintf("%s: %d requests, %d pages, %d items, %d not modified (304), quota left %s, %d waits (%s)",
		s.Repo, s.Requests, s.Pages, s.Items, s.NotModified, quota, s.Waits, s.Waited.Round(time.Second))
	if s.LastError != "" {
		line += ": failed: " + s.LastError
	}
	return line
}
