package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics"
)

// brokerFlags are the flags of koistream broker.
type brokerFlags struct {
	dataDir     string
	kafkaListen string
	partitions  int
	noSync      bool
	logLevel    string
	logFormat   string
}

func newBrokerCmd() *cobra.Command {
	var f brokerFlags
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run only the embedded Kafka-protocol broker, for several nodes to share with serve --brokers",
		Long: `Run only the embedded Kafka-protocol broker on a data folder (the log in <data-dir>/broker,
as a serve node keeps it), until SIGINT or SIGTERM. Nodes started with
"koistream serve --brokers <host:port>" share it: they split the stage work through
consumer groups and each keeps a full replica of the projections.

It acknowledges a produce only once it is on disk, as serve's embedded broker does, unless
--kafka-no-sync. It is one process without replication: for copies on several machines run
a Kafka or Redpanda cluster (compose/). It logs "broker serving" with kafka=<host:port> once
it accepts connections.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBroker(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", pipeline.DefaultDataDir, "folder for the broker log (<data-dir>/broker)")
	fl.StringVar(&f.kafkaListen, "kafka-listen", topics.DefaultKafkaListen, "host:port the broker accepts Kafka clients on; port 0 picks a free one")
	fl.IntVar(&f.partitions, "partitions", topics.DefaultPartitions, "partition count of topics created implicitly")
	fl.BoolVar(&f.noSync, "kafka-no-sync", false, "acknowledge produces before they are on disk (benchmarks only: a 202 then no longer means durable)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	return cmd
}

// runBroker serves the broker until a signal, or until its data folder is
// lost.
func runBroker(cmd *cobra.Command, f brokerFlags) error {
	logger, err := newLogger(cmd.ErrOrStderr(), f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	if f.partitions < 1 {
		return configError(fmt.Errorf("--partitions must be at least 1, got %d", f.partitions))
	}
	if _, _, err := net.SplitHostPort(f.kafkaListen); err != nil {
		return configError(fmt.Errorf("--kafka-listen %q: %w", f.kafkaListen, err))
	}
	if f.dataDir == "" {
		return configError(errors.New("--data-dir must not be empty"))
	}

	lock, err := pipeline.LockDataDir(f.dataDir)
	if err != nil {
		logger.Error("broker did not start", "err", err)
		return failed()
	}
	defer lock.Release()
	broker, err := topics.StartEmbedded(topics.EmbeddedConfig{
		DataDir:    filepath.Join(f.dataDir, "broker"),
		Listen:     f.kafkaListen,
		NoSync:     f.noSync,
		Partitions: f.partitions,
		Logger:     logger,
	})
	if err != nil {
		logger.Error("broker did not start", "err", err)
		return failed()
	}
	logger.Info("broker serving", "kafka", broker.Addr(), "data_dir", f.dataDir, "sync", !f.noSync)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := lock.Watch(ctx, pipeline.WatchdogInterval); err != nil {
		// Closing would write the broker's state into a folder that is
		// no longer there; the process ends, and with it the listener.
		logger.Error("broker failed", "data_dir", f.dataDir, "err", err)
		return failed()
	}
	logger.Info("shutting down")
	broker.Close()
	logger.Info("stopped cleanly")
	return nil
}
