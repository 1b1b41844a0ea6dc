package pipeline_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
)

// koiFrom parses yaml as a configuration file, applies it to a Config and
// sets the defaults, as serve does, and returns the KOI-net part.
func koiFrom(t *testing.T, yaml string) pipeline.KOIConfig {
	t.Helper()
	f, err := pipeline.ParseFile("config.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	var cfg pipeline.Config
	if err := f.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	return cfg.KOI
}

// TestKOIConfigFromFile: the koi_net keys of the file land in Config.KOI
// with the reference's meanings (rid_types_of_interest null = all, [] =
// none, absent = [orn:koi-net.node]; a bare-URL first contact is 1.0).
func TestKOIConfigFromFile(t *testing.T) {
	const fc = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
	full := pipeline.KOIConfig{
		NodeType: pipeline.NodeTypeFull, RidTypesOfInterest: []string{"orn:koi-net.node"},
		PollingInterval: pipeline.DefaultPollingInterval, QueueLimit: pipeline.DefaultQueueLimit,
	}
	with := func(mod func(*pipeline.KOIConfig)) pipeline.KOIConfig {
		k := full
		mod(&k)
		return k
	}
	tests := []struct {
		name string
		yaml string
		want pipeline.KOIConfig
	}{
		{"empty file: the defaults", "", full},
		{"2.1 first contact", "koi_net:\n  first_contact: {rid: " + fc + ", url: http://127.0.0.1:8080/koi-net}\n",
			with(func(k *pipeline.KOIConfig) {
				k.FirstContactRID, k.FirstContactURL = fc, "http://127.0.0.1:8080/koi-net"
			})},
		{"bare-URL first contact is 1.0", "koi_net:\n  first_contact: http://127.0.0.1:8000/koi-net\n",
			with(func(k *pipeline.KOIConfig) {
				k.FirstContactURL, k.Protocol = "http://127.0.0.1:8000/koi-net", pipeline.ProtocolV1
			})},
		{"interests null: all", "koi_net:\n  rid_types_of_interest: null\n",
			with(func(k *pipeline.KOIConfig) { k.RidTypesOfInterest, k.AllRidTypes = nil, true })},
		{"interests ~: all", "koi_net:\n  rid_types_of_interest: ~\n",
			with(func(k *pipeline.KOIConfig) { k.RidTypesOfInterest, k.AllRidTypes = nil, true })},
		{"interests empty: none", "koi_net:\n  rid_types_of_interest: []\n",
			with(func(k *pipeline.KOIConfig) { k.RidTypesOfInterest = []string{} })},
		{"interests listed", "koi_net:\n  rid_types_of_interest: [orn:github.event, orn:koi-net.node]\n",
			with(func(k *pipeline.KOIConfig) { k.RidTypesOfInterest = []string{"orn:github.event", "orn:koi-net.node"} })},
		{"partial node polling every 2.5 s", "koi_net:\n  node_profile: {node_type: PARTIAL}\n  polling_interval: 2.5\n",
			with(func(k *pipeline.KOIConfig) {
				k.NodeType, k.PollingInterval = pipeline.NodeTypePartial, 2500*time.Millisecond
			})},
		{"protocol 1.0 given", "koi_net:\n  protocol: '1.0'\n",
			with(func(k *pipeline.KOIConfig) { k.Protocol = pipeline.ProtocolV1 })},
		{"queue limit", "koi_net:\n  queue_limit: 500\n",
			with(func(k *pipeline.KOIConfig) { k.QueueLimit = 500 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := koiFrom(t, tt.yaml)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("KOI =\n%#v\nwant\n%#v", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestKOIConfigSeedFiles: the testdata configurations map as their
// networks need.
func TestKOIConfigSeedFiles(t *testing.T) {
	tests := []struct {
		file         string
		wantProtocol string
		wantFCRID    bool
	}{
		{"testdata/koi-net-2.1-config.yaml", "", true},
		{"testdata/sensor-readme-config.yaml", pipeline.ProtocolV1, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, cfg := loadApplied(t, tt.file)
			if cfg.KOI.Protocol != tt.wantProtocol || (cfg.KOI.FirstContactRID != "") != tt.wantFCRID || cfg.KOI.FirstContactURL == "" {
				t.Errorf("KOI = %+v", cfg.KOI)
			}
			if err := cfg.KOI.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestKOIConfigValidate refuses what a node cannot run with, saying which
// setting.
func TestKOIConfigValidate(t *testing.T) {
	good := func() pipeline.KOIConfig {
		return pipeline.KOIConfig{NodeType: pipeline.NodeTypeFull, PollingInterval: time.Second}
	}
	tests := []struct {
		name string
		mod  func(*pipeline.KOIConfig)
		want string
	}{
		{"node type", func(k *pipeline.KOIConfig) { k.NodeType = "HALF" }, "node type"},
		{"protocol", func(k *pipeline.KOIConfig) { k.Protocol = "2.0" }, "protocol"},
		{"first contact rid of another type", func(k *pipeline.KOIConfig) {
			k.FirstContactRID, k.FirstContactURL = "orn:github.repo:o/r", "http://x/koi-net"
		}, "first contact rid"},
		{"first contact rid without url", func(k *pipeline.KOIConfig) {
			k.FirstContactRID = "orn:koi-net.node:c+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
		}, "no url"},
		{"first contact url", func(k *pipeline.KOIConfig) { k.FirstContactURL = "ftp://x" }, "first contact url"},
		{"interest", func(k *pipeline.KOIConfig) { k.RidTypesOfInterest = []string{"not a type"} }, "rid type of interest"},
		{"negative interval", func(k *pipeline.KOIConfig) { k.PollingInterval = -time.Second }, "must not be negative"},
		{"negative queue limit", func(k *pipeline.KOIConfig) { k.QueueLimit = -1 }, "must not be negative"},
	}
	if err := func() *pipeline.KOIConfig { k := good(); return &k }().Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := good()
			tt.mod(&k)
			err := k.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
