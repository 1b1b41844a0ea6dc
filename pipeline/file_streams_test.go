package pipeline_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/streams"
	"github.com/koistream/koistream/stages/yamlconf"
)

// TestLoadFileStreams: the koistream.streams keys reach StreamsConfig, and
// a file without them gets the defaults.
func TestLoadFileStreams(t *testing.T) {
	t.Parallel()
	f, cfg := loadApplied(t, "testdata/streams-config.yaml")
	runChecks(t, []check{
		{"listen", cfg.Streams.Listen, "0.0.0.0:2070"},
		{"trusted", cfg.Streams.TrustedCIDRs, []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8")}},
		{"token variable", f.PublishTokenEnv(), "MY_PUBLISH_TOKEN"},
		{"max payload", cfg.Streams.MaxPayload, int64(65536)},
		{"ping", cfg.Streams.PingInterval, 2500 * time.Millisecond},
		{"ring items", cfg.Streams.RingItems, 1000},
		{"ring bytes", cfg.Streams.RingBytes, int64(1 << 20)},
	})
	f, cfg = loadApplied(t, "testdata/sensor-config.yaml")
	runChecks(t, []check{
		{"default listen", cfg.Streams.Listen, pipeline.DefaultStreamsListen},
		{"default trusted", cfg.Streams.TrustedCIDRs, streams.DefaultTrustedCIDRs},
		{"default token variable", f.PublishTokenEnv(), pipeline.DefaultPublishTokenEnv},
		{"default ping", cfg.Streams.PingInterval, streams.DefaultPingInterval},
		{"default max payload", cfg.Streams.MaxPayload, int64(streams.DefaultMaxPayload)},
	})
}

// TestLoadFileStreamsRefusals: a bad value under koistream.streams is a
// yamlconf error naming its key.
func TestLoadFileStreamsRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, key string }{
		{"listen", "listen: nowhere", "koistream.streams.listen"},
		{"cidr", "trusted_cidrs: [10.0.0.0/33]", "koistream.streams.trusted_cidrs"},
		{"token env", "publish_token_env: 'the token itself!'", "koistream.streams.publish_token_env"},
		{"max payload", "max_payload: -1", "koistream.streams.max_payload"},
		{"ping too long", "ping_interval: 6", "koistream.streams"},
		{"unknown key", "listne: 1.2.3.4:5", `"listne" in koistream.streams`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pipeline.ParseFile("c.yaml", []byte("koistream:\n  streams:\n    "+tt.yaml+"\n"))
			_, ok := errors.AsType[*yamlconf.Error](err)
			if !ok || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("error %v (%T), want a yamlconf error naming %s", err, err, tt.key)
			}
		})
	}
}

// TestStreamsConfigValidate: the stream listener's bounds.
func TestStreamsConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*pipeline.StreamsConfig)
		ok   bool
	}{
		{"defaults", func(*pipeline.StreamsConfig) {}, true},
		{"ping 5 s", func(c *pipeline.StreamsConfig) { c.PingInterval = 5 * time.Second }, true},
		{"ping over 5 s", func(c *pipeline.StreamsConfig) { c.PingInterval = 5*time.Second + 1 }, false},
		{"negative ping", func(c *pipeline.StreamsConfig) { c.PingInterval = -time.Second }, false},
		{"bad listen", func(c *pipeline.StreamsConfig) { c.Listen = "2069" }, false},
		{"negative payload", func(c *pipeline.StreamsConfig) { c.MaxPayload = -1 }, false},
		{"invalid prefix", func(c *pipeline.StreamsConfig) { c.TrustedCIDRs = []netip.Prefix{{}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := pipeline.Config{DataDir: t.TempDir()}
			cfg.SetDefaults()
			tt.edit(&cfg.Streams)
			if err := cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate: %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestCIDRPrefix: addresses and prefixes written in IPv4-mapped IPv6 form
// mean their IPv4 ones, as the listener compares unmapped client addresses
// (found in review: they never matched).
func TestCIDRPrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3", "10.1.2.3/32"},
		{"::1", "::1/128"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:10.1.2.3", "10.1.2.3/32"},
		{"10.1.2.3/8", "10.0.0.0/8"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := pipeline.CIDR(tt.in).Prefix()
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tt.want {
				t.Fatalf("%s: %s, want %s", tt.in, p, tt.want)
			}
		})
	}
}
