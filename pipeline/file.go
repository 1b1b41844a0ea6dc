package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/koistream/koistream/stages"
)

// File is the YAML configuration file. The top-level keys server, koi_net,
// env and github are the Python GitHub sensor's (koi-net-github-sensor-node
// config.yaml), so an existing file keeps working; koistream's own settings
// live under koistream. Keys that do not apply yet (KOI-net identity and
// first contact, GitHub backfill) are read and kept for the parts that use
// them. Unknown keys are an error, so a typo is not silently ignored.
type File struct {
	Server struct {
		Host string `yaml:"host"`
		Port int    `yaml:"port"`
		Path string `yaml:"path"`
	} `yaml:"server"`
	KoiNet struct {
		NodeName    string         `yaml:"node_name"`
		NodeRID     string         `yaml:"node_rid"`
		NodeProfile map[string]any `yaml:"node_profile"`
		// RidTypesOfInterest and the worker settings belong to the KOI-net
		// node role (a later part); they are accepted and kept.
		RidTypesOfInterest []string       `yaml:"rid_types_of_interest"`
		CacheDirectoryPath string         `yaml:"cache_directory_path"`
		PrivateKeyPEMPath  string         `yaml:"private_key_pem_path"`
		EventWorker        map[string]any `yaml:"event_worker"`
		KobjWorker         map[string]any `yaml:"kobj_worker"`
		FirstContact       struct {
			RID string `yaml:"rid"`
			URL string `yaml:"url"`
		} `yaml:"first_contact"`
	} `yaml:"koi_net"`
	// Env names the environment variables secrets are read from, as in the
	// Python sensor: the value of each key is a variable name.
	Env map[string]string `yaml:"env"`
	// GitHub holds the GitHub API settings for backfill (a later part).
	GitHub struct {
		APIToken            string   `yaml:"api_token"`
		Repositories        []string `yaml:"repositories"`
		PollIntervalSeconds int      `yaml:"poll_interval_seconds"`
		StatePath           string   `yaml:"state_path"`
	} `yaml:"github"`
	Koistream struct {
		DataDir     string           `yaml:"data_dir"`
		Brokers     []string         `yaml:"brokers"`
		KafkaListen string           `yaml:"kafka_listen"`
		TopicPrefix string           `yaml:"topic_prefix"`
		Partitions  int              `yaml:"partitions"`
		Segments    []stages.Segment `yaml:"segments"`
	} `yaml:"koistream"`
}

// DefaultWebhookSecretEnv is the variable the webhook secret list is read
// from unless env.github_webhook_secret names another.
const DefaultWebhookSecretEnv = "GITHUB_WEBHOOK_SECRET"

// LoadFile reads and parses a YAML configuration file.
func LoadFile(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return ParseFile(raw)
}

// ParseFile parses YAML configuration. An empty document is a valid,
// empty configuration.
func ParseFile(raw []byte) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return &f, nil
}

// WebhookSecretEnv returns the name of the variable holding the webhook
// secrets.
func (f *File) WebhookSecretEnv() string {
	if v := f.Env["github_webhook_secret"]; v != "" {
		return v
	}
	return DefaultWebhookSecretEnv
}

// Apply copies the file's settings into cfg. Call it before flags are
// applied, so flags win.
func (f *File) Apply(cfg *Config) error {
	if f.Server.Host != "" || f.Server.Port != 0 {
		host, port := f.Server.Host, f.Server.Port
		if host == "" {
			host = "127.0.0.1"
		}
		cfg.Listen = net.JoinHostPort(host, strconv.Itoa(port))
	}
	if f.Server.Path != "" {
		cfg.KOIPath = f.Server.Path
	}
	if len(f.GitHub.Repositories) > 0 {
		cfg.Repositories = f.GitHub.Repositories
	}
	k := f.Koistream
	if k.DataDir != "" {
		cfg.DataDir = k.DataDir
	}
	if len(k.Brokers) > 0 {
		cfg.Brokers = k.Brokers
	}
	if k.KafkaListen != "" {
		cfg.KafkaListen = k.KafkaListen
	}
	if k.TopicPrefix != "" {
		cfg.TopicPrefix = k.TopicPrefix
	}
	if k.Partitions != 0 {
		cfg.Partitions = k.Partitions
	}
	if k.Segments != nil { // `segments: []` means no stages
		cfg.Segments = k.Segments
	}
	return nil
}
