package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/koi"
)

// Defaults of a node's configuration.
const (
	// DefaultDataDir holds the broker log, stage state and projections.
	DefaultDataDir = "./data"
	// DefaultListen is the HTTP listener: loopback, the port the Python
	// GitHub sensor prototype used.
	DefaultListen = "127.0.0.1:8002"
	// DefaultWebhookPath is where GitHub webhooks are received.
	DefaultWebhookPath = "/github/webhook"
	// DefaultShutdownTimeout bounds a graceful shutdown.
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultNodeName is the name part of the node RID: the one
	// BlockScience's GitHub sensor and the KOI-net examples use.
	DefaultNodeName = "github-sensor"
	// DefaultHTTPBodyIdleTimeout bounds the wait for the next bytes of a
	// request body: GitHub gives up on a delivery after 10 s anyway.
	DefaultHTTPBodyIdleTimeout = 10 * time.Second
)

// Config is everything a node needs. The zero value plus defaults runs a
// node with an embedded broker in ./data; see [Config.Validate].
type Config struct {
	// DataDir holds the embedded broker's log (<data>/broker), the stage
	// state (<data>/stages) and the cache projection (<data>/cache).
	DataDir string
	// Listen is the HTTP host:port (webhook, KOI-net, health, metrics).
	// Port 0 picks a free port; [Node.Addr] reports it.
	Listen string
	// Brokers are external Kafka/Redpanda seed brokers. Empty means run the
	// embedded broker.
	Brokers []string
	// KafkaListen is where the embedded broker listens. Ignored with
	// Brokers.
	KafkaListen string
	// KafkaNoSync turns off the embedded broker's fsync before
	// acknowledging. Never set it where a 2xx must mean durable.
	KafkaNoSync bool
	// TopicPrefix prefixes every topic name. Defaults to
	// topics.DefaultPrefix.
	TopicPrefix string
	// Partitions is the partition count of topics koistream creates.
	Partitions int
	// KOIPath is where the KOI-net API is mounted.
	KOIPath string
	// WebhookPath is where GitHub webhooks are received.
	WebhookPath string
	// NodeName is the name part of the node's RID,
	// orn:koi-net.node:<name>+<key hash> (koi_net.node_name). Defaults to
	// DefaultNodeName.
	NodeName string
	// BaseURL is the profile's base_url, where peers reach the KOI-net API
	// (koi_net.node_profile.base_url). Empty means http://<the listening
	// address><KOIPath>, right for peers on the same host only.
	BaseURL string
	// PrivKeyPassword encrypts the node's key file (PRIV_KEY_PASSWORD, or
	// the variable env.priv_key_password names); empty stores it
	// unencrypted. The caller reads it from the environment, so that the
	// library never does.
	PrivKeyPassword []byte
	// RequireSignatures refuses unsigned koi-net 1.0 requests
	// (koi_net.require_signatures) instead of answering them unsigned.
	RequireSignatures bool
	// Streams configures the stream listener (GitPubSub/PyPubSub streams,
	// the publish intake) and its replay hub.
	Streams StreamsConfig
	// Sinks are the configured sinks (the file's sinks: list), started in
	// order; Sources the configured intakes (sources:). See sinks.go.
	Sinks, Sources []PluginSpec
	// Getenv reads the environment for the secrets sinks and sources name
	// with their *_env keys; os.Getenv by default.
	Getenv func(string) string
	// Backfill configures the GitHub backfill (the github-api source): the
	// monitored repositories, fetched at start and on a schedule.
	Backfill BackfillConfig
	// KOI holds the node's part in a KOI-net network: its node type, first
	// contact, interests and outbound queues.
	KOI KOIConfig
	// WebhookSecrets are the accepted webhook secrets; see webhook.Config.
	WebhookSecrets [][]byte
	// WebhookBodyBudget bounds the bytes of webhook bodies held in memory
	// at once; a delivery that does not fit is answered 503 with
	// Retry-After (webhook.Config.BodyBudget). At least
	// webhook.DefaultMaxBody. Defaults to webhook.DefaultBodyBudget.
	WebhookBodyBudget int64
	// HTTPBodyIdleTimeout bounds the wait for the next bytes of any request
	// body; a body that stalls longer is answered 408. Defaults to
	// DefaultHTTPBodyIdleTimeout.
	HTTPBodyIdleTimeout time.Duration
	// Segments place the stages, each with its own configuration block;
	// nil means stages.DefaultSegments(). An
	// empty, non-nil list runs no stages at all: the node takes webhooks
	// into the raw topic, serves, and projects the events topic, while other
	// instances sharing the topics do the stage work (an ingest-only
	// instance, `segments: []` in the configuration file).
	Segments []stages.Segment
	// Registry holds the stages segments may name; defaults to
	// stages.Builtin().
	Registry *stages.Registry
	// ShutdownTimeout bounds Shutdown's draining.
	ShutdownTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// SpanProcessors receive every finished span (tests record them).
	SpanProcessors []sdktrace.SpanProcessor
	// OTLP turns on OTLP trace export, configured by the OTEL_* variables.
	OTLP bool
}

// SetDefaults fills every unset field with its default.
func (c *Config) SetDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.KafkaListen == "" {
		c.KafkaListen = topics.DefaultKafkaListen
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = topics.DefaultPrefix
	}
	if c.Partitions == 0 {
		c.Partitions = topics.DefaultPartitions
	}
	if c.KOIPath == "" {
		c.KOIPath = koiapi.DefaultPath
	}
	if c.WebhookPath == "" {
		c.WebhookPath = DefaultWebhookPath
	}
	if c.NodeName == "" {
		c.NodeName = DefaultNodeName
	}
	if c.Segments == nil {
		c.Segments = stages.DefaultSegments()
	}
	if c.Registry == nil {
		c.Registry = stages.Builtin()
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.WebhookBodyBudget == 0 {
		c.WebhookBodyBudget = webhook.DefaultBodyBudget
	}
	if c.HTTPBodyIdleTimeout == 0 {
		c.HTTPBodyIdleTimeout = DefaultHTTPBodyIdleTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.KOI.setDefaults()
	c.Streams.setDefaults()
	c.Backfill.setDefaults()
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
}

// Validate reports the first problem that would stop a node from starting.
// Call SetDefaults first.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("config: data dir is required")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config: listen %q: %w", c.Listen, err)
	}
	if len(c.Brokers) == 0 {
		if _, _, err := net.SplitHostPort(c.KafkaListen); err != nil {
			return fmt.Errorf("config: kafka listen %q: %w", c.KafkaListen, err)
		}
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("config: broker %q: %w", b, err)
		}
	}
	if c.Partitions < 1 {
		return fmt.Errorf("config: partitions must be at least 1, got %d", c.Partitions)
	}
	for _, p := range []string{c.KOIPath, c.WebhookPath} {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("config: path %q must start with /", p)
		}
	}
	if _, err := koi.NodeRIDForKey(c.NodeName, ""); err != nil {
		return fmt.Errorf("config: node name: %w", err)
	}
	if c.BaseURL != "" {
		if err := HTTPURL(c.BaseURL).Validate(); err != nil {
			return fmt.Errorf("config: base url: %w", err)
		}
	}
	if c.WebhookBodyBudget < webhook.DefaultMaxBody {
		return fmt.Errorf("config: webhook body budget %d is smaller than a webhook body may be (%d)", c.WebhookBodyBudget, webhook.DefaultMaxBody)
	}
	if c.HTTPBodyIdleTimeout < 0 {
		return fmt.Errorf("config: http body idle timeout must not be negative, got %s", c.HTTPBodyIdleTimeout)
	}
	if err := c.KOI.Validate(); err != nil {
		return err
	}
	if err := validatePlugins("sink", c.Sinks); err != nil {
		return err
	}
	if err := validatePlugins("source", c.Sources); err != nil {
		return err
	}
	if err := c.Backfill.Validate(); err != nil {
		return fmt.Errorf("github backfill: %w", err)
	}
	if err := c.Streams.Validate(); err != nil {
		return err
	}
	if len(c.Segments) == 0 {
		return nil // ingest only
	}
	return stages.ValidateSegments(c.Segments, c.Registry)
}

// validatePlugins checks that the entries of a sinks: or sources: list have
// distinct names: a name is a consumer group and a metrics label.
func validatePlugins(what string, specs []PluginSpec) error {
	seen := map[string]bool{}
	for _, p := range specs {
		if p.Name == "" || p.Type == "" || p.Config == nil {
			return fmt.Errorf("a %s needs a name, a type and its block", what)
		}
		if seen[p.Name] {
			return p.Config.Errorf("two %ss are named %q", what, p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}
