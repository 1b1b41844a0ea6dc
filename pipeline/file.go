package pipeline

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/stages/yamlconf"
)

// File is the YAML configuration file. The top-level keys server, koi_net,
// env and github are the GitHub sensor's: both the koi-net 1.0 sensor's
// README config.yaml and a koi-net 2.x node's config.yaml start a node
// unchanged. koistream's own settings live under koistream.
//
// Every key is checked when the file is read: an unknown key, a value of the
// wrong shape or an invalid value (a URL that does not parse, a node RID
// that is not orn:koi-net.node:<name>+<hash>, a negative count) is an
// [*yamlconf.Error] naming the file, the line and the key. Keys whose
// feature comes in a later release (KOI-net identity and first contact,
// GitHub backfill) are read and checked now; [File.NotYetUsed] lists the
// ones a file gives.
type File struct {
	Server ServerSection `yaml:"server"`
	KoiNet KoiNetSection `yaml:"koi_net"`
	// Env names the environment variables secrets are read from, as in the
	// sensor: each key's value is a variable name (github_webhook_secret,
	// github_token, priv_key_password, ...).
	Env       map[string]EnvVar `yaml:"env"`
	GitHub    GitHubSection     `yaml:"github"`
	Koistream KoistreamSection  `yaml:"koistream"`
	// Sinks and Sources place sinks and configurable intakes, each entry
	// with its name, type and own keys (PluginSpec).
	Sinks   []PluginSpec `yaml:"sinks"`
	Sources []PluginSpec `yaml:"sources"`

	keys []yamlconf.Key // the keys the file gave, in file order
	// allRidTypes records rid_types_of_interest given as null (every
	// type), which the decoder cannot tell from an absent key (the
	// reference's default, [orn:koi-net.node]).
	allRidTypes bool
}

// ServerSection is the sensor's server block: where the node listens and
// mounts KOI-net.
type ServerSection struct {
	// Host is the listen host; "127.0.0.1" when only Port is given.
	Host string `yaml:"host"`
	// Port is the listen port; 0 picks a free one.
	Port Port `yaml:"port"`
	// Path is where the KOI-net API is mounted (default /koi-net).
	Path URLPath `yaml:"path"`
}

// KoistreamSection holds koistream's own settings. Flags override each.
type KoistreamSection struct {
	// DataDir is --data-dir.
	DataDir string `yaml:"data_dir"`
	// Brokers is --brokers, as a list.
	Brokers []HostPort `yaml:"brokers"`
	// KafkaListen is --kafka-listen.
	KafkaListen HostPort `yaml:"kafka_listen"`
	// TopicPrefix is --topic-prefix.
	TopicPrefix string `yaml:"topic_prefix"`
	// Partitions is --partitions; 0 means the default.
	Partitions Count `yaml:"partitions"`
	// Segments place the stages; absent or null means the default chain,
	// [] an ingest-only node. Each stage entry is a name or a one-key
	// mapping of the name to the stage's own block.
	Segments []stages.Segment `yaml:"segments"`
	// Streams is the stream listener's block (StreamsConfig).
	Streams StreamsSection `yaml:"streams"`
}

// DefaultWebhookSecretEnv is the variable the webhook secret list is read
// from unless env.github_webhook_secret names another.
const DefaultWebhookSecretEnv = "GITHUB_WEBHOOK_SECRET"

// LoadFile reads and checks a YAML configuration file. Errors about its
// content are [*yamlconf.Error]s that name path as given.
func LoadFile(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return ParseFile(path, raw)
}

// ParseFile parses and checks YAML configuration; name is the file name
// errors report. An empty document is a valid, empty configuration.
func ParseFile(name string, raw []byte) (*File, error) {
	n, err := yamlconf.Parse(name, raw)
	if err != nil {
		return nil, err
	}
	var f File
	d := yamlconf.NewDecoder(name)
	if err := d.Decode(n, "", &f); err != nil {
		return nil, err
	}
	f.keys = d.Keys()
	f.allRidTypes = isNullAt(n, "koi_net", "rid_types_of_interest")
	return &f, nil
}

// isNullAt reports whether the mapping n gives the key path a null value
// (through aliases), as opposed to another value or none.
func isNullAt(n *yaml.Node, path ...string) bool {
	for _, key := range path {
		n = dealias(n)
		if n == nil || n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	n = dealias(n)
	return n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// dealias follows n's alias chain (bounded, as the decoder bounds it).
func dealias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == 32 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// WebhookSecretEnv returns the name of the variable holding the webhook
// secrets.
func (f *File) WebhookSecretEnv() string {
	if v := f.Env["github_webhook_secret"]; v != "" {
		return string(v)
	}
	return DefaultWebhookSecretEnv
}

// PrivKeyPasswordEnv returns the name of the variable holding the node key's
// password: env.priv_key_password, else PrivKeyPasswordEnv.
func (f *File) PrivKeyPasswordEnv() string {
	if v := f.Env["priv_key_password"]; v != "" {
		return string(v)
	}
	return PrivKeyPasswordEnv
}

// usedKoiNetKeys are the koi_net keys koistream acts on.
var usedKoiNetKeys = map[string]bool{
	"node_name": true, "require_signatures": true, "node_profile": true, "first_contact": true,
	"rid_types_of_interest": true, "polling_interval": true, "protocol": true, "queue_limit": true,
}

// NotYetUsed returns the keys the file gives that koistream reads and
// checks but does not act on yet, in file order: koi_net.* keys other than
// usedKoiNetKeys, github.* keys other than usedGitHubKeys, and env.* other
// than the variables koistream reads. A start-up log line names them, so
// nobody mistakes a key that is accepted for one that works.
func (f *File) NotYetUsed() []string {
	var out []string
	for _, k := range f.keys {
		section, key, ok := strings.Cut(k.Path, ".")
		if !ok || strings.ContainsAny(key, ".[") {
			continue // a section itself, or a key inside a listed one
		}
		switch section {
		case "koi_net":
			if !usedKoiNetKeys[key] {
				out = append(out, k.Path)
			}
		case "github":
			if !usedGitHubKeys[key] {
				out = append(out, k.Path)
			}
		case "env":
			if key != "github_webhook_secret" && key != "priv_key_password" && key != "github_token" {
				out = append(out, k.Path)
			}
		}
	}
	return out
}

// Apply copies the file's settings into cfg. Call it before flags are
// applied, so flags win.
func (f *File) Apply(cfg *Config) error {
	if f.Server.Host != "" || f.Server.Port != 0 {
		host := f.Server.Host
		if host == "" {
			host = "127.0.0.1"
		}
		cfg.Listen = net.JoinHostPort(host, strconv.Itoa(int(f.Server.Port)))
	}
	if f.Server.Path != "" {
		cfg.KOIPath = string(f.Server.Path)
	}
	if f.KoiNet.NodeName != "" {
		cfg.NodeName = f.KoiNet.NodeName
	}
	if f.KoiNet.NodeProfile.BaseURL != "" {
		cfg.BaseURL = string(f.KoiNet.NodeProfile.BaseURL)
	}
	cfg.RequireSignatures = f.KoiNet.RequireSignatures
	kn := f.KoiNet
	if kn.NodeProfile.NodeType != "" {
		cfg.KOI.NodeType = string(kn.NodeProfile.NodeType)
	}
	if kn.FirstContact.URL != "" {
		cfg.KOI.FirstContactRID = string(kn.FirstContact.RID)
		cfg.KOI.FirstContactURL = string(kn.FirstContact.URL)
	}
	if kn.RidTypesOfInterest != nil {
		cfg.KOI.RidTypesOfInterest = make([]string, len(kn.RidTypesOfInterest))
		for i, t := range kn.RidTypesOfInterest {
			cfg.KOI.RidTypesOfInterest[i] = string(t)
		}
	} else if f.allRidTypes {
		cfg.KOI.AllRidTypes = true // given as null: every type
	}
	if kn.PollingInterval != 0 {
		cfg.KOI.PollingInterval = time.Duration(float64(kn.PollingInterval) * float64(time.Second))
	}
	if kn.Protocol != "" {
		cfg.KOI.Protocol = kn.Protocol
	}
	if kn.QueueLimit != 0 {
		cfg.KOI.QueueLimit = int(kn.QueueLimit)
	}
	if kn.BodyBudget != 0 {
		cfg.KOI.BodyBudget = int64(kn.BodyBudget)
	}
	k := f.Koistream
	if k.DataDir != "" {
		cfg.DataDir = k.DataDir
	}
	if len(k.Brokers) > 0 {
		cfg.Brokers = make([]string, len(k.Brokers))
		for i, b := range k.Brokers {
			cfg.Brokers[i] = string(b)
		}
	}
	if k.KafkaListen != "" {
		cfg.KafkaListen = string(k.KafkaListen)
	}
	if k.TopicPrefix != "" {
		cfg.TopicPrefix = k.TopicPrefix
	}
	if k.Partitions != 0 {
		cfg.Partitions = int(k.Partitions)
	}
	if k.Segments != nil { // `segments: []` means no stages
		cfg.Segments = k.Segments
	}
	f.GitHub.apply(&cfg.Backfill)
	cfg.Sinks = append(cfg.Sinks, f.Sinks...)
	cfg.Sources = append(cfg.Sources, f.Sources...)
	return k.Streams.apply(&cfg.Streams)
}
