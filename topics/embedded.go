package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultKafkaListen is the address the embedded broker listens on when none
// is configured: Kafka's usual port, on loopback only.
const DefaultKafkaListen = "127.0.0.1:9092"

// EmbeddedConfig configures the in-process Kafka-protocol broker.
type EmbeddedConfig struct {
	// DataDir is the folder the broker persists its log and group offsets
	// in. It is created if missing and reloaded on start. Required.
	DataDir string
	// Listen is the host:port the broker accepts Kafka clients on. Port 0
	// picks a free port; Addr reports it. Defaults to DefaultKafkaListen.
	Listen string
	// NoSync turns off the sync the broker does before acknowledging a
	// produce or an offset commit. Off by default: a 2xx to a webhook
	// promises durability, which needs it. Only benchmarks that measure the
	// cost turn it on.
	NoSync bool
	// Partitions is the partition count for topics created implicitly.
	// Defaults to DefaultPartitions.
	Partitions int
	// Logger receives the broker's warnings and errors. Defaults to
	// slog.Default().
	Logger *slog.Logger

	// syncFn replaces syncfs in tests.
	syncFn func() error
}

func (c *EmbeddedConfig) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultKafkaListen
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports whether the configuration can start a broker.
func (c EmbeddedConfig) Validate() error {
	if c.DataDir == "" {
		return errors.New("embedded broker: data dir is required")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("embedded broker: listen address %q: %w", c.Listen, err)
	}
	if c.Partitions < 1 {
		return fmt.Errorf("embedded broker: partitions must be at least 1, got %d", c.Partitions)
	}
	return nil
}

// Embedded is a running in-process Kafka-protocol broker (franz-go's kfake)
// persisted to disk. Any Kafka client can connect to Addr. It is a single
// broker without replication: durability comes from syncing to disk before
// acknowledging, not from copies.
//
// Every produce, offset commit and transaction end is answered only once
// what it wrote is on stable storage, whoever the client is. On Linux this
// is group commit: the broker writes batches to its files and a syncfs(2)
// of the data folder's file system, shared by every response waiting at
// that moment, makes them durable before the responses go out. kfake's own
// SyncWrites (two fsyncs per partition batch, on the broker's only
// goroutine, which serves nothing else meanwhile) measured 902 signed
// webhooks/s (p99 132 ms) where this measured 1,724 (p99 85 ms), same
// benchmark and machine (benchmarks/RESULTS.md). The broker goes on
// reading a connection's next requests while a response waits for its
// sync, so a client with several produce requests in flight has them all
// acknowledged by one sync. Elsewhere SyncWrites is used. Close is safe to
// call more than once.
type Embedded struct {
	cluster *kfake.Cluster
	addr    string
	syncer  *groupSyncer
	release func() error
}

// StartEmbedded starts the broker on cfg.Listen, reloading any log already
// under cfg.DataDir. It returns once the broker accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded broker: data dir: %w", err)
	}
	listen := cfg.Listen
	var (
		syncer  *groupSyncer
		release = func() error { return nil }
	)
	if !cfg.NoSync {
		syncFn := cfg.syncFn
		if syncFn == nil {
			var ok bool
			var closeFn func() error
			if syncFn, closeFn, ok, err = fsSyncer(dir); err != nil {
				return nil, fmt.Errorf("embedded broker: %w", err)
			}
			if ok {
				release = closeFn
			}
		}
		if syncFn != nil {
			syncer = newGroupSyncer(syncFn)
		}
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DataDir(dir),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.AllowAutoTopicCreation(),
		// Topics without a topic-level max.message.bytes (those created
		// implicitly, or by a build before TopicConfigs set it) fall back
		// to this; kfake's default, Kafka's 1,048,588, refused every
		// webhook of about 1 MiB. It overrides a value persisted by an
		// older build in broker_configs.json.
		kfake.BrokerConfigs(map[string]string{BrokerMaxMessageBytesConfig: strconv.Itoa(MaxBatchBytes)}),
		kfake.WithLogger(slogAdapter{cfg.Logger}),
		// kfake listens on 127.0.0.1:<port>; we honour the configured host
		// too, so --kafka-listen can name another interface.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			l, err := net.Listen(network, listen)
			if err != nil || syncer == nil {
				return l, err
			}
			return &durableListener{Listener: l, syncer: syncer}, nil
		}),
	}
	if !cfg.NoSync && syncer == nil {
		opts = append(opts, kfake.SyncWrites())
	}
	e := &Embedded{syncer: syncer, release: release}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("embedded broker: start on %s with data in %s: %w", listen, dir, err)
	}
	e.cluster = cluster
	addrs := cluster.ListenAddrs()
	if len(addrs) == 0 {
		e.Close()
		return nil, errors.New("embedded broker: no listener")
	}
	e.addr = addrs[0]
	return e, nil
}

// Addr returns the host:port Kafka clients should use as a seed broker.
func (e *Embedded) Addr() string { return e.addr }

// Close stops accepting connections, flushes the log and the group state to
// disk, and releases the data folder.
func (e *Embedded) Close() {
	if e.cluster != nil {
		e.cluster.Close()
	}
	// After the cluster: responses it still writes wait for a sync, and
	// one more sync makes what it wrote while closing durable.
	if e.syncer != nil {
		_ = e.syncer.Sync(context.Background())
		e.syncer.Close()
	}
	if e.release != nil {
		e.release()
		e.release = nil
	}
}

// slogAdapter routes kfake's logs to slog. kfake logs at debug level very
// chattily, so only warnings and errors pass.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		a.l.Error("kafka broker: " + fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		a.l.Warn("kafka broker: " + fmt.Sprintf(msg, args...))
	}
}
