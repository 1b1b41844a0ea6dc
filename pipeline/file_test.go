package pipeline_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/stages/yamlconf"
)

// loadApplied loads a testdata file and applies it to a Config with defaults.
func loadApplied(t *testing.T, path string) (*pipeline.File, pipeline.Config) {
	t.Helper()
	f, err := pipeline.LoadFile(path)
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
	return f, cfg
}

type check struct {
	name      string
	got, want any
}

func runChecks(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Fatalf("got %#v, want %#v", c.got, c.want)
			}
		})
	}
}

// TestLoadFileSensorKeys: the newer Python sensor's keys keep working.
func TestLoadFileSensorKeys(t *testing.T) {
	t.Parallel()
	f, cfg := loadApplied(t, "testdata/sensor-config.yaml")
	runChecks(t, []check{
		{"listen from server.host/port", cfg.Listen, "0.0.0.0:8007"},
		{"KOI path from server.path", cfg.KOIPath, "/koi-net"},
		{"repositories", f.GitHub.Repositories, []github.FullName{"octo/hello", "octo/world"}},
		{"poll interval", f.GitHub.PollIntervalSeconds, pipeline.Count(600)},
		{"secret variable from env", f.WebhookSecretEnv(), "SENSOR_HOOK_SECRET"},
		{"first contact kept", f.KoiNet.FirstContact.URL, pipeline.HTTPURL("http://127.0.0.1:8080/koi-net")},
		{"data dir default", cfg.DataDir, pipeline.DefaultDataDir},
		{"default chain", len(cfg.Segments), len(stages.DefaultSegments())},
		{"not yet used", f.NotYetUsed(), []string{
			"koi_net.cache_directory_path",
			"koi_net.private_key_pem_path", "koi_net.event_worker", "koi_net.kobj_worker",
			"env.GITHUB_API_TOKEN",
		}},
		{"backfill repositories", cfg.Backfill.Repos, []string{"octo/hello", "octo/world"}},
		{"backfill interval", cfg.Backfill.Interval, 600 * time.Second},
	})
}

// TestLoadFileSeedConfigs: the GitHub sensor README's config.yaml (koi-net
// 1.0: first_contact a bare URL, monitored_repositories a list of {name})
// and a koi-net 2.1 node's config.yaml (first_contact {rid, url}, a signed
// identity) both load, and their KOI-net and backfill keys are kept and
// listed as not yet used.
func TestLoadFileSeedConfigs(t *testing.T) {
	t.Parallel()
	t.Run("sensor README", func(t *testing.T) {
		t.Parallel()
		f, cfg := loadApplied(t, "testdata/sensor-readme-config.yaml")
		runChecks(t, []check{
			{"listen", cfg.Listen, "127.0.0.1:8002"},
			{"KOI path", cfg.KOIPath, "/koi-net"},
			{"first contact URL", f.KoiNet.FirstContact, pipeline.FirstContact{URL: "http://127.0.0.1:8000/koi-net"}},
			{"monitored repositories", f.GitHub.MonitoredRepositories, []pipeline.MonitoredRepository{{Name: "blockscience/koi-net"}, {Name: "blockscience/rid-lib"}}},
			{"backfill", []int{int(f.GitHub.BackfillMaxItems), int(f.GitHub.BackfillLookbackDays)}, []int{50, 30}},
			{"provides", f.KoiNet.NodeProfile.Provides.Event, []pipeline.RIDType{"GitHubEvent"}},
			{"secret variable", f.WebhookSecretEnv(), "GITHUB_WEBHOOK_SECRET"},
			{"not yet used", f.NotYetUsed(), []string{
				"koi_net.node_rid", "koi_net.cache_directory_path",
				"koi_net.event_queues_path",
			}},
			{"backfill of the monitored repositories", cfg.Backfill.Repos, []string{"blockscience/koi-net", "blockscience/rid-lib"}},
			{"backfill bounds", []int{cfg.Backfill.MaxItems, cfg.Backfill.LookbackDays}, []int{50, 30}},
			{"token variable", f.GitHubTokenEnv(), "GITHUB_TOKEN"},
		})
	})
	t.Run("koi-net 2.1 node", func(t *testing.T) {
		t.Parallel()
		f, cfg := loadApplied(t, "testdata/koi-net-2.1-config.yaml")
		runChecks(t, []check{
			{"listen", cfg.Listen, "127.0.0.1:8000"},
			{"first contact", f.KoiNet.FirstContact, pipeline.FirstContact{
				RID: "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12",
				URL: "http://127.0.0.1:8080/koi-net",
			}},
			{"@context", f.KoiNet.NodeProfile.Context, pipeline.RID("orn:koi-net.context:koi-net.node")},
			{"node name", cfg.NodeName, "github-sensor"},
			{"base url", cfg.BaseURL, "http://127.0.0.1:8091/koi-net"},
			{"signatures not required", cfg.RequireSignatures, false},
			{"event worker", f.KoiNet.EventWorker, pipeline.EventWorker{QueueTimeout: 0.1, MaxBufLen: 5, MaxWaitTime: 1}},
			{"rid types of interest", f.KoiNet.RidTypesOfInterest, []pipeline.RIDType{"orn:koi-net.node"}},
			{"not yet used", f.NotYetUsed(), []string{
				"koi_net.node_rid",
				"koi_net.cache_directory_path", "koi_net.private_key_pem_path", "koi_net.event_worker",
				"koi_net.kobj_worker",
			}},
		})
	})
}

// TestParseFileErrors: every mistake is one line naming the file, the line
// and the key in plain words, with the nearest known key for a typo.
func TestParseFileErrors(t *testing.T) {
	t.Parallel()
	const key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEa/hdX+hFmLEMphmewJzNfTXc1xlf3R3Hc3oMZwBu8lG5UvJe7B3u0fyhkYOJkEZjV9MUrft+l2C42a/I85qVrQ=="
	cases := []struct {
		name, yaml, want string
	}{
		// Unknown keys.
		{"unknown top-level key", "servr: {}\n",
			`config.yaml:1: unknown key "servr" at the top level (did you mean "server"?)`},
		{"mistyped github key", "github:\n  api_url: https://api.github.com\n  monitored_repos:\n    - name: octo/hello\n",
			`config.yaml:3: unknown key "monitored_repos" in github (did you mean "monitored_repositories"?)`},
		{"mistyped koistream key", "koistream: {partitons: 3}\n",
			`config.yaml:1: unknown key "partitons" in koistream (did you mean "partitions"?)`},
		{"mistyped nested key", "koi_net:\n  node_profile:\n    base-url: http://x/koi-net\n",
			`config.yaml:3: unknown key "base-url" in koi_net.node_profile (did you mean "base_url"?)`},
		{"unknown key with nothing near", "server: {zzzzzz: 1}\n",
			`config.yaml:1: unknown key "zzzzzz" in server (known keys: host, path, port)`},
		{"unknown first_contact key", "koi_net:\n  first_contact: {url: http://x/koi-net, ridd: x}\n",
			`config.yaml:2: unknown key "ridd" in koi_net.first_contact (did you mean "rid"?)`},
		{"key given twice", "server:\n  port: 1\n  port: 2\n",
			`config.yaml:3: key "port" in server is given twice (first on line 2)`},
		// Segments checked where they stand.
		{"segment without from", "koistream:\n  segments:\n    - {to: observed, stages: [normalize]}\n",
			`config.yaml:3: koistream.segments[0] needs "from": the topic it consumes`},
		{"segment to itself", "koistream:\n  segments:\n    - from: raw\n      to: raw\n      stages: [normalize]\n",
			`config.yaml:4: koistream.segments[0].to is the topic the segment consumes ("raw")`},
		{"segment without stages", "koistream:\n  segments:\n    - {from: raw, to: observed}\n",
			`config.yaml:3: koistream.segments[0] needs "stages": at least one stage`},
		// Values of the wrong shape.
		{"port as text", "server: {port: eighty}\n",
			`config.yaml:1: server.port must be a whole number, got "eighty"`},
		{"port quoted", "server:\n  port: \"8002\"\n",
			`config.yaml:2: server.port must be a whole number, got "8002"`},
		{"section as a list", "github:\n  - octo/hello\n",
			`config.yaml:2: github must be a mapping (key: value), got a list`},
		{"monitored_repositories as a mapping", "github:\n  monitored_repositories:\n    name: octo/hello\n",
			`config.yaml:3: github.monitored_repositories must be a list, got a mapping`},
		{"monitored_repositories of plain names", "github:\n  monitored_repositories:\n    - octo/hello\n",
			`config.yaml:3: github.monitored_repositories[0] must be a mapping (key: value), got "octo/hello"`},
		{"empty list entry", "github:\n  repositories:\n    -\n",
			`config.yaml:3: github.repositories[0] is empty`},
		{"float for a count", "github: {backfill_max_items: 2.5}\n",
			`config.yaml:1: github.backfill_max_items must be a whole number, got 2.5`},
		{"text for seconds", "koi_net:\n  event_worker: {queue_timeout: fast}\n",
			`config.yaml:2: koi_net.event_worker.queue_timeout must be a number, got "fast"`},
		{"first_contact as a list", "koi_net:\n  first_contact: [http://x/koi-net]\n",
			`config.yaml:2: koi_net.first_contact must be a URL or {rid: <node RID>, url: <URL>}, got a list`},
		{"rid_types_of_interest as text", "koi_net: {rid_types_of_interest: orn:koi-net.node}\n",
			`config.yaml:1: koi_net.rid_types_of_interest must be a list, got "orn:koi-net.node"`},
		{"env value as a mapping", "env:\n  github_token: {name: GITHUB_TOKEN}\n",
			`config.yaml:2: env.github_token must be text, got a mapping`},
		{"top level a list", "- server\n",
			`config.yaml:1: the configuration must be a mapping (key: value), got a list`},
		// Invalid values.
		{"repository not owner/repo", "github:\n  monitored_repositories:\n    - name: blockscience/koi-net\n    - name: rid-lib\n",
			`config.yaml:4: github.monitored_repositories[1].name must be a repository as "owner/repo", got "rid-lib"`},
		{"monitored repository without a name", "github:\n  monitored_repositories:\n    - {}\n",
			`config.yaml:3: github.monitored_repositories[0] needs a name: owner/repo`},
		{"newer sensor repository", "github: {repositories: [octo/hello, octo]}\n",
			`config.yaml:1: github.repositories[1] must be a repository as "owner/repo", got "octo"`},
		{"first contact URL without scheme", "koi_net:\n  first_contact: 127.0.0.1:8000/koi-net\n",
			`config.yaml:2: koi_net.first_contact must be an http or https URL, got "127.0.0.1:8000/koi-net"`},
		{"first contact RID without hash", "koi_net:\n  first_contact: {rid: orn:koi-net.node:coordinator, url: http://x/koi-net}\n",
			`config.yaml:2: koi_net.first_contact.rid must be a KOI-net node RID, orn:koi-net.node:<name>+<hash>, got "orn:koi-net.node:coordinator"`},
		{"first contact RID without URL", "koi_net:\n  first_contact:\n    rid: orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12\n",
			`config.yaml:2: koi_net.first_contact has a rid but no url`},
		{"node RID of another type", "koi_net: {node_rid: 'orn:koi-net.edge:abc+def'}\n",
			`config.yaml:1: koi_net.node_rid must be a KOI-net node RID, orn:koi-net.node:<name>+<hash>, got "orn:koi-net.edge:abc+def"`},
		{"node RID of another key", "koi_net:\n  node_rid: orn:koi-net.node:github-sensor+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12\n  node_profile: {public_key: " + key + "}\n",
			`config.yaml:2: koi_net.node_rid must end in the sha256 of node_profile.public_key, 659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2, got d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12: the RID belongs to another key`},
		{"public key not base64", "koi_net:\n  node_profile: {public_key: not-a-key}\n",
			`config.yaml:2: koi_net.node_profile.public_key must be a base64 public key, got "not-a-key"`},
		{"node type", "koi_net:\n  node_profile: {node_type: LIGHT}\n",
			`config.yaml:2: koi_net.node_profile.node_type must be FULL or PARTIAL, got "LIGHT"`},
		{"base URL", "koi_net:\n  node_profile: {base_url: 'ftp://x'}\n",
			`config.yaml:2: koi_net.node_profile.base_url must be an http or https URL, got "ftp://x"`},
		{"negative count", "github: {backfill_lookback_days: -1}\n",
			`config.yaml:1: github.backfill_lookback_days must be 0 or more, got -1`},
		{"negative seconds", "koi_net: {kobj_worker: {queue_timeout: -0.5}}\n",
			`config.yaml:1: koi_net.kobj_worker.queue_timeout must be 0 or more seconds, got -0.5`},
		{"port out of range", "server: {port: 70000}\n",
			`config.yaml:1: server.port must be a port from 0 to 65535, got 70000`},
		{"path without slash", "server: {path: koi-net}\n",
			`config.yaml:1: server.path must be a path starting with /, got "koi-net"`},
		{"secret pasted into env", "env: {github_webhook_secret: 's3cr3t!'}\n",
			`config.yaml:1: env.github_webhook_secret must name an environment variable (letters, digits and _), got "s3cr3t!"`},
		{"broker without port", "koistream: {brokers: [redpanda-0]}\n",
			`config.yaml:1: koistream.brokers[0] must be host:port, got "redpanda-0"`},
		{"node name with +", "koi_net: {node_name: a+b}\n",
			`config.yaml:1: koi_net.node_name must not hold a +, which ends the name in orn:koi-net.node:<name>+<hash>; got "a+b"`},
		// Not YAML. The parser reports the line of the construct it was in.
		{"syntax", "server:\n  host: a\n port: 1\n",
			`config.yaml:2: not valid YAML: did not find expected key`},
		{"two documents", "server: {}\n---\ngithub: {}\n",
			`config.yaml:2: more than one YAML document; put the whole configuration in one`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := pipeline.ParseFile("config.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("no error, want %s", c.want)
			}
			if _, ok := errors.AsType[*yamlconf.Error](err); !ok {
				t.Errorf("error %v is not a *yamlconf.Error", err)
			}
			if got := err.Error(); got != c.want {
				t.Fatalf("error\n got %s\nwant %s", got, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

// TestParseFileEmpty: an empty or comment-only file is an empty
// configuration.
func TestParseFileEmpty(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "# nothing yet\n", "{}\n"} {
		f, err := pipeline.ParseFile("config.yaml", []byte(text))
		if err != nil || f.WebhookSecretEnv() != pipeline.DefaultWebhookSecretEnv || len(f.NotYetUsed()) != 0 {
			t.Fatalf("%q: %v %v", text, f, err)
		}
	}
}

// TestFileSegments: absent segments mean the default chain, an empty list
// means an ingest-only node, stage entries carry their own blocks, and
// each validates.
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
		{"a stage with its block", "koistream:\n  segments:\n    - from: raw\n      to: observed\n      stages:\n        - normalize\n        - repofilter: {repositories: [octo/hello]}\n        - dedupe\n    - {from: observed, to: events, stages: [ridify]}\n", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, err := pipeline.ParseFile("config.yaml", []byte(c.yaml))
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

// TestFileKoiNetKeysApplied: the koi_net keys koistream acts on reach the
// configuration and are not listed as unused.
func TestFileKoiNetKeysApplied(t *testing.T) {
	f, err := pipeline.ParseFile("k.yaml", []byte("koi_net:\n  node_name: sensor-x\n  require_signatures: true\nenv:\n  priv_key_password: KEY_PW\n"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg pipeline.Config
	if err := f.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != "sensor-x" || !cfg.RequireSignatures || f.PrivKeyPasswordEnv() != "KEY_PW" || len(f.NotYetUsed()) != 0 {
		t.Errorf("node name %q, require %v, password variable %q, unused %v", cfg.NodeName, cfg.RequireSignatures, f.PrivKeyPasswordEnv(), f.NotYetUsed())
	}
	if _, err := pipeline.ParseFile("k.yaml", []byte("koi_net:\n  require_signatures: yes please\n")); err == nil {
		t.Error("require_signatures took a string")
	}
}
