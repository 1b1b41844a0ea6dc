package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/webhook"
)

// TestConfigHTTPIntakeBounds: the intake's bounds default to their
// documented values, and a budget too small for one webhook body, or a
// negative idle timeout, stops the node before it starts.
func TestConfigHTTPIntakeBounds(t *testing.T) {
	t.Parallel()
	var cfg pipeline.Config
	cfg.SetDefaults()
	if cfg.WebhookBodyBudget != webhook.DefaultBodyBudget || cfg.HTTPBodyIdleTimeout != pipeline.DefaultHTTPBodyIdleTimeout {
		t.Errorf("defaults: budget %d idle %s, want %d and %s", cfg.WebhookBodyBudget, cfg.HTTPBodyIdleTimeout, webhook.DefaultBodyBudget, pipeline.DefaultHTTPBodyIdleTimeout)
	}
	tests := []struct {
		name    string
		edit    func(*pipeline.Config)
		wantErr string
	}{
		{"defaults", func(*pipeline.Config) {}, ""},
		{"budget of one body", func(c *pipeline.Config) { c.WebhookBodyBudget = webhook.DefaultMaxBody }, ""},
		{"budget below one body", func(c *pipeline.Config) { c.WebhookBodyBudget = webhook.DefaultMaxBody - 1 }, "webhook body budget 26214399 is smaller than a webhook body may be (26214400)"},
		{"negative idle timeout", func(c *pipeline.Config) { c.HTTPBodyIdleTimeout = -time.Second }, "http body idle timeout must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c pipeline.Config
			c.SetDefaults()
			tc.edit(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
