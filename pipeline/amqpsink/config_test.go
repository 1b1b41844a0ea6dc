package amqpsink_test

import (
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline/amqpsink"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AMQP_URL": "amqp://u:secret@127.0.0.1:5672/vh", "BAD_URL": "http://x"}
	getenv := func(k string) string { return env[k] }
	withURL := func(edit func(*amqpsink.Config)) amqpsink.Config {
		c := amqpsink.DefaultConfig()
		c.URL = "amqp://guest:guest@127.0.0.1:5672/"
		edit(&c)
		return c
	}
	tests := []struct {
		name    string
		cfg     amqpsink.Config
		wantErr string // "" means valid
	}{
		{"defaults and a url", withURL(func(*amqpsink.Config) {}), ""},
		{"url_env", withURL(func(c *amqpsink.Config) { c.URL, c.URLEnv = "", "AMQP_URL" }), ""},
		{"filters", withURL(func(c *amqpsink.Config) {
			c.Filter = amqpsink.Filter{RIDTypes: []string{"orn:github.event"}, Keys: []string{"evt.push.*", "ent.#"}}
		}), ""},
		{"neither", withURL(func(c *amqpsink.Config) { c.URL = "" }), "url or url_env is required"},
		{"both", withURL(func(c *amqpsink.Config) { c.URLEnv = "AMQP_URL" }), "not both"},
		{"unset variable", withURL(func(c *amqpsink.Config) { c.URL, c.URLEnv = "", "NOPE" }), "NOPE, which is not set"},
		{"not amqp", withURL(func(c *amqpsink.Config) { c.URL, c.URLEnv = "", "BAD_URL" }), "url_env BAD_URL is not an amqp://"},
		{"empty exchange", withURL(func(c *amqpsink.Config) { c.Exchange = "" }), "exchange must not be empty"},
		{"reserved exchange", withURL(func(c *amqpsink.Config) { c.Exchange = "amq.topic" }), "reserved"},
		{"bad exchange", withURL(func(c *amqpsink.Config) { c.Exchange = "a b" }), "not a letter"},
		{"bad rid type", withURL(func(c *amqpsink.Config) { c.Filter.RIDTypes = []string{"github"} }), "filter.rid_types[0]"},
		{"empty key", withURL(func(c *amqpsink.Config) { c.Filter.Keys = []string{"evt.#", ""} }), "filter.keys[1] is empty"},
		{"bad key", withURL(func(c *amqpsink.Config) { c.Filter.Keys = []string{"evt.\x01"} }), "filter.keys[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate(getenv)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: %v, want an error saying %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	if got := withURL(func(c *amqpsink.Config) { c.URL, c.URLEnv = "", "AMQP_URL" }).URI(getenv); got != env["AMQP_URL"] {
		t.Errorf("URI = %q, want the variable's value", got)
	}
	if d := amqpsink.DefaultConfig(); d.Exchange != "ght-streams" || !d.Persistent {
		t.Errorf("DefaultConfig = %+v, want exchange ght-streams, persistent", d)
	}
}
