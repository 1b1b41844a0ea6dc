package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/koistream/koistream/stages"
)

// TestEventHiveEntries: the eventhive sink and source entries start with
// valid keys (one background task each, nothing dialled yet) and refuse
// wrong ones at start with an error naming the key.
func TestEventHiveEntries(t *testing.T) {
	env := map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0", "HIVE_SECRET": "s"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name   string
		source bool
		keys   map[string]any
		err    string // "" for none
	}{
		{"sink url", false, map[string]any{"url": "redis://127.0.0.1:6379/0"}, ""},
		{"sink all keys", false, map[string]any{"url_env": "REDIS_URL", "network": "hive", "channel": "gh", "secret_env": "HIVE_SECRET",
			"filter": map[string]any{"rid_types": []string{"orn:github.event"}, "keys": []string{"evt.push.*"}}}, ""},
		{"source all keys", true, map[string]any{"url_env": "REDIS_URL", "network": "hive", "input_channel": "in", "secret_env": "HIVE_SECRET"}, ""},
		{"no url", false, map[string]any{}, "url or url_env"},
		{"both urls", true, map[string]any{"url": "redis://x", "url_env": "REDIS_URL"}, "not both"},
		{"url_env unset", false, map[string]any{"url_env": "NOPE"}, "NOPE is not set"},
		{"secret_env unset", true, map[string]any{"url": "redis://x", "secret_env": "NOPE"}, "NOPE is not set"},
		{"not a redis url", false, map[string]any{"url": "http://x"}, "url"},
		{"glob in network", true, map[string]any{"url": "redis://x", "network": "a*"}, "network"},
		{"slash in channel", false, map[string]any{"url": "redis://x", "channel": "a/b"}, "channel"},
		{"bad filter", false, map[string]any{"url": "redis://x", "filter": map[string]any{"keys": []string{"evt..x"}}}, "filter"},
		{"unknown key", false, map[string]any{"url": "redis://x", "chanel": "x"}, "chanel"},
		{"sink key on a source", true, map[string]any{"url": "redis://x", "channel": "x"}, "channel"},
	}
	pub := gochannel.NewGoChannel(gochannel.Config{}, nil)
	defer pub.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tasks []string
			bg := func(name string, _ func(context.Context) error) { tasks = append(tasks, name) }
			spec := PluginSpec{Name: "hive", Type: "eventhive", Config: stages.ConfigOf(tt.keys)}
			var err error
			if tt.source {
				err = eventHiveSource().Start(SourceDeps{Publisher: pub, RawTopic: "raw", DeadTopic: "dead", Getenv: getenv,
					Logger: slog.New(slog.DiscardHandler), Meter: noop.NewMeterProvider().Meter(""), Background: bg}, spec)
			} else {
				err = eventHiveSink().Start(SinkDeps{Spec: spec, Brokers: []string{"127.0.0.1:1"}, EventsTopic: "events", Group: "sink.hive",
					Getenv: getenv, Logger: slog.New(slog.DiscardHandler), Meter: noop.NewMeterProvider().Meter(""), Background: bg})
			}
			if tt.err == "" {
				if err != nil || len(tasks) != 1 {
					t.Fatalf("Start = %v with %d background tasks, want nil and 1", err, len(tasks))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Start = %v, want an error about %q", err, tt.err)
			}
			if len(tasks) != 0 {
				t.Errorf("refused entry started %d tasks", len(tasks))
			}
		})
	}
}
