package pipeline_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline"
)

// TestPluginEntries: sinks: and sources: entries keep their name and type
// and hand the rest of their keys to the entry's own decoding, strictly.
func TestPluginEntries(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, body string) string {
		p := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f, err := pipeline.LoadFile(write(t, "sinks:\n  - name: ght\n    type: amqp\n    exchange: ght-streams\nsources:\n  - name: hive\n    type: eventhive\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Sinks) != 1 || f.Sinks[0].Name != "ght" || f.Sinks[0].Type != "amqp" || len(f.Sources) != 1 || f.Sources[0].Name != "hive" {
		t.Fatalf("sinks %+v, sources %+v", f.Sinks, f.Sources)
	}
	var block struct {
		Exchange string `yaml:"exchange"`
	}
	if err := f.Sinks[0].Config.Decode(&block); err != nil || block.Exchange != "ght-streams" {
		t.Errorf("block %+v, %v", block, err)
	}
	var strict struct{}
	if err := f.Sinks[0].Config.Decode(&strict); err == nil || !strings.Contains(err.Error(), "exchange") {
		t.Errorf("an unknown key decoded without an error naming it: %v", err)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"no type", "sinks:\n  - name: a\n", "needs a name and a type"},
		{"bad name", "sinks:\n  - name: a b\n    type: amqp\n", "must be letters"},
		{"not a mapping", "sinks:\n  - amqp\n", "must be a mapping"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pipeline.LoadFile(write(t, tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	cfg := pipeline.Config{Sinks: []pipeline.PluginSpec{f.Sinks[0], f.Sinks[0]}}
	cfg.SetDefaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `two sinks are named "ght"`) {
		t.Errorf("Validate of two sinks with one name: %v", err)
	}
}
