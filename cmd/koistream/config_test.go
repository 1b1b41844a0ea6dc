package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics/topicstest"
)

// TestExternalBrokersAndConfigFile runs the node against a Kafka-protocol
// broker it does not own (--brokers), configured by a YAML file in the
// Python GitHub sensor's shape plus koistream's own section, with the
// repofilter stage plugged into the chain by configuration and given its
// repositories in its own block.
func TestExternalBrokersAndConfigFile(t *testing.T) {
	t.Parallel()
	_, clusterAddr := topicstest.StartBroker(t)

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
	n := startNodeWith(t, []string{"serve", "--config", path, "--brokers", clusterAddr, "--log-format", "json"},
		[]string{"MY_HOOK_SECRET=" + testSecret, "GITHUB_WEBHOOK_SECRET="})
	if n.serving["embedded_broker"] != false || n.kafka != clusterAddr || n.serving["data_dir"] != dataDir {
		t.Fatalf("node did not use the configured broker and data dir: %v", n.serving)
	}

	t.Run("topics created with the configured prefix and partitions", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(clusterAddr))
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
		topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drainedWith(t, n, "gh.") })
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

// TestServeRejectsBadConfiguration: a configuration mistake stops serve
// before anything starts, with exit code 2 and exactly one line naming the
// file, the line and the key (and the key probably meant).
func TestServeRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(readmeConfig)
	if err != nil {
		t.Fatal(err)
	}
	const twoSegments = "koistream:\n  segments:\n    - from: raw\n      to: observed\n      stages:\n        - normalize\n        - %s\n    - {from: observed, to: events, stages: [ridify]}\n"
	cases := []struct {
		name, yaml string
		args       []string
		want       string // the whole output, after "<path>"
	}{
		{"mistyped key in the sensor README config", strings.Replace(string(readme), "monitored_repositories:", "monitored_repos:", 1), nil,
			`:22: unknown key "monitored_repos" in github (did you mean "monitored_repositories"?)`},
		{"unknown koistream key", "koistream:\n  partitons: 3\n", nil,
			`:2: unknown key "partitons" in koistream (did you mean "partitions"?)`},
		{"wrong type", "server:\n  host: 127.0.0.1\n  port: eighty\n", nil,
			`:3: server.port must be a whole number, got "eighty"`},
		{"first contact of the wrong shape", "koi_net:\n  first_contact: [http://127.0.0.1:8000/koi-net]\n", nil,
			`:2: koi_net.first_contact must be a URL or {rid: <node RID>, url: <URL>}, got a list`},
		{"unknown stage", fmt.Sprintf(twoSegments, "normalise"), nil,
			`:7: koistream.segments[0].stages[1].normalise: no such stage (did you mean "normalize"?)`},
		{"unknown key in a stage's block", fmt.Sprintf(twoSegments, "repofilter: {repos: [octo/hello]}"), nil,
			`:7: unknown key "repos" in koistream.segments[0].stages[1].repofilter (did you mean "repositories"?)`},
		{"repofilter without repositories", fmt.Sprintf(twoSegments, "repofilter"), nil,
			`:7: koistream.segments[0].stages[1].repofilter: needs the repositories to keep, as {repositories: [owner/repo]}; without them it would drop everything`},
		{"bad listen address", "", []string{"--listen", "nowhere"}, ""},
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
			out, code := runCode(t, args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2:\n%s", code, out)
			}
			want := path + c.want + "\n"
			if c.want == "" {
				want = "config: listen \"nowhere\": address nowhere: missing port in address\n"
			}
			if out != want {
				t.Fatalf("output\n%q\nwant\n%q", out, want)
			}
		})
	}
}

// Configuration files of the GitHub sensors in pipeline/testdata.
const (
	// readmeConfig is the GitHub sensor README's config.yaml, exactly as
	// printed there (koi-net 1.0).
	readmeConfig = "../../pipeline/testdata/sensor-readme-config.yaml"
	// koi21Config is a koi-net 2.1 node's config.yaml (KOI-2.1.md 1h).
	koi21Config = "../../pipeline/testdata/koi-net-2.1-config.yaml"
)

// TestServeSeedConfigs: both sensor config.yaml files start a node as they
// are. The flags win over the file's server.port, so no fixed port is
// bound, and the start log names, in one line, the keys read but not used
// yet.
func TestServeSeedConfigs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, path string
		notYetUsed []string
	}{
		{"sensor README", readmeConfig, []string{
			"koi_net.node_rid", "koi_net.cache_directory_path",
			"koi_net.event_queues_path",
		}},
		{"koi-net 2.1 node", koi21Config, []string{
			"koi_net.node_rid",
			"koi_net.cache_directory_path", "koi_net.private_key_pem_path", "koi_net.event_worker",
			"koi_net.kobj_worker",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := startNodeWith(t, []string{"serve", "--config", c.path, "--listen", "127.0.0.1:0",
				"--kafka-listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json"},
				[]string{"GITHUB_WEBHOOK_SECRET=" + testSecret})
			// --listen won over the file's server.port (8002 or 8000).
			if _, port, _ := net.SplitHostPort(n.http); port == "8002" || port == "8000" {
				t.Fatalf("serving on %s: the file's port won over --listen 127.0.0.1:0", n.http)
			}
			var notices []map[string]any
			for _, line := range strings.Split(n.logs.String(), "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "configuration keys read but not used yet" {
					notices = append(notices, rec)
				}
			}
			if len(notices) != 1 {
				t.Fatalf("%d not-yet-used log lines, want 1:\n%s", len(notices), n.logs.String())
			}
			var keys []string
			for _, k := range notices[0]["keys"].([]any) {
				keys = append(keys, k.(string))
			}
			if !reflect.DeepEqual(keys, c.notYetUsed) || notices[0]["file"] != c.path || notices[0]["level"] != "WARN" {
				t.Fatalf("not-yet-used log line %v, want keys %v", notices[0], c.notYetUsed)
			}
			// The file's KOI-net path is served.
			if code := koi(t, n.http, "/rids/fetch", map[string]any{"type": "fetch_rids"}, nil); code != http.StatusOK {
				t.Fatalf("KOI-net rids/fetch under /koi-net: status %d", code)
			}
			n.stop()
		})
	}
}

// TestIngestOnlyNode: `segments: []` starts a node that takes webhooks into
// the raw topic and runs no stages (other instances sharing the topics do),
// while the default configuration runs both segments. Both nodes get the
// same delivery. The default node shows how long a delivery takes to reach
// the observed topic here and now (T); the ingest-only node must have
// joined no stage group, and its observed and events topics must stay
// empty for five times T, and at least five fetch waits of an idle stage
// consumer, after the default node's record appeared.
func TestIngestOnlyNode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("koistream:\n  segments: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	only := startNode(t, t.TempDir(), "--config", path)
	def := startNode(t, t.TempDir())
	if segs, ok := only.serving["segments"].([]any); !ok || len(segs) != 0 {
		t.Errorf("serving log segments = %v, want an empty list", only.serving["segments"])
	}
	if segs, ok := def.serving["segments"].([]any); !ok || len(segs) != 2 {
		t.Errorf("default serving log segments = %v, want ingest and ridify", def.serving["segments"])
	}

	// The ingest-only node first: by the time T is known it has had the
	// delivery for longer than T.
	d := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	var posted time.Time
	for _, n := range []*node{only, def} {
		posted = time.Now()
		if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
			t.Fatalf("status %d %s", code, body)
		}
	}
	topicstest.WaitFor(t, 60*time.Second, "the default node's observed record", func() bool {
		return endOffsets(t, def.kafka, "koistream.observed") > 0
	})
	took := time.Since(posted)
	if keys := webhookKeys(t, only.kafka); len(keys) != 1 {
		t.Fatalf("ingest-only node: raw topic holds deliveries %v, want the one delivery", keys)
	}
	// The default node's stage groups are what the ingest-only node must
	// not have: seeing them here shows the look-up sees groups at all.
	if g := stageGroups(t, def.kafka); len(g) != 2 {
		t.Errorf("default node's stage groups %v, want ingest and ridify", g)
	}

	// 200 ms is topics.FetchOpts' FetchMaxWait, how late an idle stage
	// consumer notices a record at most.
	window := 5 * max(took, 200*time.Millisecond)
	t.Logf("observed after %s on the default node; watching the ingest-only node for %s", took, window)
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, topic := range []string{"koistream.observed", "koistream.events"} {
			if n := endOffsets(t, only.kafka, topic); n != 0 {
				t.Fatalf("ingest-only node: %s holds %d records, want none", topic, n)
			}
		}
	}
	if g := stageGroups(t, only.kafka); len(g) != 0 {
		t.Errorf("ingest-only node has stage groups %v, want none", g)
	}
	only.stop()
	def.stop()
}

// stageGroups lists the consumer groups of stage segments on the broker at
// kafka.
func stageGroups(t *testing.T, kafka string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	groups, err := kadm.NewClient(cl).ListGroups(ctx)
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	var out []string
	for _, g := range groups.Groups() {
		if strings.Contains(g, "stage.") {
			out = append(out, g)
		}
	}
	return out
}
