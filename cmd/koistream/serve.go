package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/telemetry"
	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/stages/yamlconf"
	"github.com/koistream/koistream/topics"
)

// serveFlags are the flags of koistream serve.
type serveFlags struct {
	config      string
	dataDir     string
	listen      string
	pubsub      string
	brokers     string
	kafkaListen string
	partitions  int
	topicPrefix string
	logLevel    string
	logFormat   string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a node (embedded Kafka-protocol broker unless --brokers is given)",
		Long: `Run a node: take GitHub webhooks into the log, run the stages, project the events and
serve KOI-net, /healthz, /readyz and /metrics, until SIGINT or SIGTERM.

Settings come from the flags, then the --config file, then the defaults: a flag given on
the command line wins over the file; a flag left out does not. The webhook secrets are read
from GITHUB_WEBHOOK_SECRET (or the variable the file's env.github_webhook_secret names), a
comma-separated list to rotate them. With a GitHub token in GITHUB_TOKEN (or the variable
env.github_token names; several comma-separated are used in turn) the repositories of the
file's github block are backfilled at start and kept current every poll_interval_seconds
(5 minutes by default). OTEL_EXPORTER_OTLP_ENDPOINT turns on trace export.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML configuration file; the GitHub sensor's config.yaml works, koistream's own keys go under koistream:")
	fl.StringVar(&f.dataDir, "data-dir", pipeline.DefaultDataDir, "folder for the broker log, stage state and projections")
	fl.StringVar(&f.listen, "listen", pipeline.DefaultListen, "HTTP host:port for webhooks, KOI-net, /healthz and /metrics")
	fl.StringVar(&f.pubsub, "pubsub-listen", pipeline.DefaultStreamsListen, "host:port of the stream listener: GitPubSub/PyPubSub streams (GET), publishes (PUT, POST), statistics (HEAD)")
	fl.StringVar(&f.brokers, "brokers", "", "comma-separated Kafka/Redpanda seed brokers; empty runs the embedded broker")
	fl.StringVar(&f.kafkaListen, "kafka-listen", topics.DefaultKafkaListen, "host:port of the embedded broker")
	fl.IntVar(&f.partitions, "partitions", topics.DefaultPartitions, "partition count of the topics koistream creates")
	fl.StringVar(&f.topicPrefix, "topic-prefix", topics.DefaultPrefix, "topic name prefix: topics are <prefix>raw, observed, events, dead")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	return cmd
}

// serve runs a node until a signal or a fatal error.
func serve(cmd *cobra.Command, f serveFlags) error {
	logger, err := newLogger(cmd.ErrOrStderr(), f.logLevel, f.logFormat)
	if err != nil {
		return err
	}

	var cfg pipeline.Config
	secretEnv := pipeline.DefaultWebhookSecretEnv
	passwordEnv := pipeline.PrivKeyPasswordEnv
	tokenEnv := pipeline.DefaultPublishTokenEnv
	githubTokenEnv := pipeline.DefaultGitHubTokenEnv
	var notYetUsed []string
	file, err := applyConfigFile(f.config, &cfg)
	if err != nil {
		return err
	}
	if file != nil {
		secretEnv = file.WebhookSecretEnv()
		passwordEnv = file.PrivKeyPasswordEnv()
		tokenEnv = file.PublishTokenEnv()
		githubTokenEnv = file.GitHubTokenEnv()
		notYetUsed = file.NotYetUsed()
	}
	// Only the flags given on the command line override the file; the
	// others would put their defaults over its settings.
	set := cmd.Flags().Changed
	if set("data-dir") {
		cfg.DataDir = f.dataDir
	}
	if set("listen") {
		cfg.Listen = f.listen
	}
	if set("pubsub-listen") {
		cfg.Streams.Listen = f.pubsub
	}
	if set("brokers") {
		cfg.Brokers = topics.ParseBrokers(f.brokers)
	}
	if set("kafka-listen") {
		cfg.KafkaListen = f.kafkaListen
	}
	if set("partitions") {
		cfg.Partitions = f.partitions
	}
	if set("topic-prefix") {
		cfg.TopicPrefix = f.topicPrefix
	}
	cfg.WebhookSecrets = webhook.ParseSecrets(os.Getenv(secretEnv))
	cfg.PrivKeyPassword = []byte(os.Getenv(passwordEnv))
	cfg.Streams.PublishToken = []byte(os.Getenv(tokenEnv))
	cfg.Backfill.Tokens = append(cfg.Backfill.Tokens, pipeline.ParseTokens(os.Getenv(githubTokenEnv))...)
	cfg.Logger = logger
	cfg.OTLP = telemetry.OTLPFromEnv()
	// Check before anything starts, so a mistake is one line and exit 2.
	check := cfg
	check.SetDefaults()
	if err := check.Validate(); err != nil {
		return configError(err)
	}
	if len(notYetUsed) > 0 {
		logger.Warn("configuration keys read but not used yet", "file", f.config, "keys", notYetUsed)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	node, err := pipeline.Start(ctx, cfg)
	if err != nil {
		// A stage's configuration block is checked when the stage is built.
		if yerr, ok := errors.AsType[*yamlconf.Error](err); ok {
			return configError(yerr)
		}
		logger.Error("node did not start", "err", err)
		return failed()
	}
	waitErr := node.Wait(ctx)
	if waitErr != nil {
		logger.Error("node failed", "err", waitErr)
	} else {
		logger.Info("shutting down")
	}
	if err := node.Shutdown(context.Background()); err != nil {
		logger.Error("shutdown", "err", err)
		return failed()
	}
	if waitErr != nil {
		return failed()
	}
	logger.Info("stopped cleanly")
	return nil
}
