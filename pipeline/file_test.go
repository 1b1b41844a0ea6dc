package pipeline_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/stages"
)

func TestLoadFileSensorKeys(t *testing.T) {
	t.Parallel()
	f, err := pipeline.LoadFile("testdata/sensor-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg pipeline.Config
	if err := f.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen from server.host/port", cfg.Listen, "0.0.0.0:8007"},
		{"KOI path from server.path", cfg.KOIPath, "/koi-net"},
		{"repositories", cfg.Repositories, []string{"octo/hello", "octo/world"}},
		{"secret variable from env", f.WebhookSecretEnv(), "SENSOR_HOOK_SECRET"},
		{"first contact kept", f.KoiNet.FirstContact.URL, "http://127.0.0.1:8080/koi-net"},
		{"data dir default", cfg.DataDir, pipeline.DefaultDataDir},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Fatalf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestParseFileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "servr: {}\n", "servr"},
		{"unknown koistream key", "koistream: {partitons: 3}\n", "partitons"},
		{"wrong type", "server: {port: eighty}\n", "eighty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := pipeline.ParseFile([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
	if f, err := pipeline.ParseFile(nil); err != nil || f.WebhookSecretEnv() != pipeline.DefaultWebhookSecretEnv {
		t.Fatalf("empty file: %v %v", f, err)
	}
}

// TestFileSegments: absent segments mean the default chain, an empty list
// means an ingest-only node, and either validates.
func TestFileSegments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		want       int // segments after defaults
	}{
		{"absent", "koistream: {partitions: 2}\n", len(stages.DefaultSegments())},
		{"null", "koistream: {segments: }\n", len(stages.DefaultSegments())},
		{"empty list: ingest only", "koistream: {segments: []}\n", 0},
		{"one segment", "koistream:\n  segments:\n    - {from: raw, to: events, stages: [normalize, dedupe, ridify]}\n", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, err := pipeline.ParseFile([]byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			cfg := pipeline.Config{DataDir: t.TempDir()}
			if err := f.Apply(&cfg); err != nil {
				t.Fatal(err)
			}
			cfg.SetDefaults()
			if err := cfg.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if len(cfg.Segments) != c.want {
				t.Fatalf("%d segments %v, want %d", len(cfg.Segments), cfg.Segments, c.want)
			}
		})
	}
}
