package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
)

// TestExternalBrokersAndConfigFile runs the node against a Kafka-protocol
// broker it does not own (--brokers), configured by a YAML file in the
// Python GitHub sensor's shape plus koistream's own section, with the
// repofilter stage plugged into the chain by configuration and given its
// repositories in its own block.
func TestExternalBrokersAndConfigFile(t *testing.T) {
	t.Parallel()
	cluster, err := topics.StartEmbedded(topics.EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)

	dataDir := t.TempDir()
	cfg := `
server:
  host: 127.0.0.1
  port: 0
  path: /koi
koi_net:
  node_name: github-sensor
  first_contact:
    rid:
    url: http://127.0.0.1:8080/koi-net
env:
  github_webhook_secret: MY_HOOK_SECRET
github:
  api_token: ''
  poll_interval_seconds: 600
koistream:
  data_dir: ` + dataDir + `
  topic_prefix: gh.
  partitions: 3
  segments:
    - name: ingest
      from: raw
      to: observed
      stages:
        - normalize
        - repofilter: {repositories: [koi-garden/pond-sensor]}
        - dedupe
    - {name: ridify, from: observed, to: events, stages: [ridify]}
`
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNodeWith(t, []string{"serve", "--config", path, "--brokers", cluster.Addr(), "--log-format", "json"},
		[]string{"MY_HOOK_SECRET=" + testSecret, "GITHUB_WEBHOOK_SECRET="})
	if n.serving["embedded_broker"] != false || n.kafka != cluster.Addr() || n.serving["data_dir"] != dataDir {
		t.Fatalf("node did not use the configured broker and data dir: %v", n.serving)
	}

	t.Run("topics created with the configured prefix and partitions", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		details, err := kadm.NewClient(cl).ListTopics(ctx, "gh.raw", "gh.observed", "gh.events", "gh.dead")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"gh.raw", "gh.observed", "gh.events", "gh.dead"} {
			d, ok := details[name]
			if !ok || d.Err != nil || len(d.Partitions) != 3 {
				t.Errorf("topic %s: present=%v err=%v partitions=%d, want 3", name, ok, d.Err, len(d.Partitions))
			}
		}
	})

	t.Run("repofilter keeps the configured repository only", func(t *testing.T) {
		repoEvent := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
		orgEvent := loadDelivery(t, filepath.Join(testdata, "organization.member_added.json"))
		for _, d := range []delivery{orgEvent, repoEvent} {
			if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
				t.Fatalf("%s: status %d %s", d.event, code, body)
			}
		}
		waitFor(t, 60*time.Second, "pipeline drained", func() bool { return drainedWith(t, n, "gh.") })
		body, _ := json.Marshal(map[string]any{"rid_types": []string{"orn:github.event"}})
		resp, err := http.Post("http://"+n.http+"/koi/rids/fetch", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var p ridsPayload
		if err := json.Unmarshal(raw, &p); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d body %s", resp.StatusCode, raw)
		}
		want := []string{eventRID(ownerOf(t, repoEvent), repoEvent.id)}
		if len(p.Rids) != 1 || p.Rids[0] != want[0] {
			t.Fatalf("event RIDs %v, want only %v", p.Rids, want)
		}
	})
	n.stop()
}

// TestServeRejectsBadConfiguration: configuration mistakes stop the node at
// start with a non-zero exit and a message naming the mistake.
func TestServeRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		args       []string
		want       string
	}{
		{"unknown key", "koistream:\n  partitons: 3\n", nil, "partitons"},
		{"unknown stage", "koistream:\n  segments:\n    - {from: raw, to: observed, stages: [normalise]}\n", nil, "normalise"},
		{"repofilter without repositories", "koistream:\n  segments:\n    - {from: raw, to: observed, stages: [normalize, repofilter]}\n    - {from: observed, to: events, stages: [ridify]}\n", nil, "repofilter: needs the repositories to keep"},
		{"bad listen address", "", []string{"--listen", "nowhere"}, "listen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"serve", "--config", path, "--data-dir", filepath.Join(dir, "data"),
				"--listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0"}, c.args...)
			out, err := runBinary(t, args...)
			if err == nil {
				t.Fatalf("serve started with a bad configuration:\n%s", out)
			}
			if !bytes.Contains([]byte(out), []byte(c.want)) {
				t.Fatalf("output does not mention %q:\n%s", c.want, out)
			}
		})
	}
}

// TestIngestOnlyNode: `segments: []` starts a node that takes webhooks into
// the raw topic and runs no stages (other instances sharing the topics do),
// while the default configuration runs both segments.
func TestIngestOnlyNode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("koistream:\n  segments: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, t.TempDir(), "--config", path)
	if segs, ok := n.serving["segments"].([]any); !ok || len(segs) != 0 {
		t.Fatalf("serving log segments = %v, want an empty list", n.serving["segments"])
	}
	d := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
		t.Fatalf("status %d %s", code, body)
	}
	if raw := endOffsets(t, n.kafka, "koistream.raw"); raw != 1 {
		t.Fatalf("raw topic holds %d records, want the delivery", raw)
	}
	n.stop()

	def := startNode(t, t.TempDir())
	if segs, ok := def.serving["segments"].([]any); !ok || len(segs) != 2 {
		t.Fatalf("default serving log segments = %v, want ingest and ridify", def.serving["segments"])
	}
	def.stop()
}
