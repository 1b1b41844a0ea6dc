// Command koistream runs a koistream node: a GitHub sensor for KOI-net and
// an event hub over a durable Kafka log.
//
//	koistream serve [flags]     run a node (embedded broker unless --brokers)
//	koistream rebuild [flags]   drop the projections so the next serve rebuilds them from the log
//
// Run "koistream <command> -h" for the flags of a command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/telemetry"
	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/topics"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT says otherwise. Without one the heap may grow to twice the live
// data between collections; with it the collector works harder near the
// limit, which keeps a node's footprint under 1 GiB on a small machine.
const defaultMemoryLimit = 768 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

const usage = `usage: koistream <command> [flags]

commands:
  serve     run a node (embedded Kafka-protocol broker unless --brokers is given)
  rebuild   delete the projections of a stopped node; the next serve rebuilds them from the log
  bench     measure throughput end to end and the ceilings of the log, Pebble and the stages
`

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "rebuild":
		return rebuild(args[1:], stderr)
	case "bench":
		return bench(args[1:], stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stderr, usage)
		return 0
	}
	fmt.Fprintf(stderr, "koistream: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (the Python GitHub sensor's keys work)")
	dataDir := fs.String("data-dir", "", "folder for the broker log, stage state and projections (default "+pipeline.DefaultDataDir+")")
	listen := fs.String("listen", "", "HTTP host:port for webhooks, KOI-net, /healthz and /metrics (default "+pipeline.DefaultListen+")")
	brokers := fs.String("brokers", "", "comma-separated Kafka/Redpanda seed brokers; empty runs the embedded broker")
	kafkaListen := fs.String("kafka-listen", "", "host:port of the embedded broker (default "+topics.DefaultKafkaListen+")")
	partitions := fs.Int("partitions", 0, fmt.Sprintf("partition count of created topics (default %d)", topics.DefaultPartitions))
	prefix := fs.String("topic-prefix", "", "topic name prefix (default "+topics.DefaultPrefix+")")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "koistream:", err)
		return 2
	}

	var cfg pipeline.Config
	secretEnv := pipeline.DefaultWebhookSecretEnv
	if *configPath != "" {
		f, err := pipeline.LoadFile(*configPath)
		if err != nil {
			logger.Error("bad configuration", "err", err)
			return 2
		}
		if err := f.Apply(&cfg); err != nil {
			logger.Error("bad configuration", "err", err)
			return 2
		}
		secretEnv = f.WebhookSecretEnv()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["data-dir"] {
		cfg.DataDir = *dataDir
	}
	if set["listen"] {
		cfg.Listen = *listen
	}
	if set["brokers"] {
		cfg.Brokers = topics.ParseBrokers(*brokers)
	}
	if set["kafka-listen"] {
		cfg.KafkaListen = *kafkaListen
	}
	if set["partitions"] {
		cfg.Partitions = *partitions
	}
	if set["topic-prefix"] {
		cfg.TopicPrefix = *prefix
	}
	cfg.WebhookSecrets = webhook.ParseSecrets(os.Getenv(secretEnv))
	cfg.Logger = logger
	cfg.OTLP = telemetry.OTLPFromEnv()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	node, err := pipeline.Start(ctx, cfg)
	if err != nil {
		logger.Error("node did not start", "err", err)
		return 1
	}
	waitErr := node.Wait(ctx)
	if waitErr != nil {
		logger.Error("node failed", "err", waitErr)
	} else {
		logger.Info("shutting down")
	}
	if err := node.Shutdown(context.Background()); err != nil {
		logger.Error("shutdown", "err", err)
		return 1
	}
	if waitErr != nil {
		return 1
	}
	logger.Info("stopped cleanly")
	return 0
}

func rebuild(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", pipeline.DefaultDataDir, "the stopped node's data folder")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir := filepath.Join(*dataDir, "cache")
	if _, err := os.Stat(filepath.Join(*dataDir, "broker")); err != nil && len(os.Getenv("KOISTREAM_FORCE")) == 0 {
		fmt.Fprintf(stderr, "koistream rebuild: %s has no embedded broker log; refusing to delete projections that could not be rebuilt from it (set KOISTREAM_FORCE=1 with an external cluster)\n", *dataDir)
		return 1
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(stderr, "koistream rebuild:", err)
		return 1
	}
	fmt.Fprintf(stderr, "removed %s; the next serve rebuilds the cache projection from the events topic\n", dir)
	return 0
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, errors.New("log format must be text or json")
}
