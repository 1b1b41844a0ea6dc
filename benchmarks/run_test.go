package benchmarks

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/stages/github"
)

// TestRunSmoke runs the whole harness on a few thousand events and checks
// that the result is complete and consistent. It asserts nothing about
// speed.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs brokers and nodes")
	}
	const events = 2000
	dir := t.TempDir()
	res, err := Run(context.Background(), Options{Events: events, Connections: 8, DataDir: dir,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("result: %s", b)

	var flat map[string]any
	if err := json.Unmarshal(b, &flat); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"events", "payload_bytes", "e2e_events_per_s", "e2e_mb_per_s", "log_ceiling_events_per_s",
		"pebble_ceiling_events_per_s", "stages_cpu_events_per_s", "e2e_vs_log_ceiling", "e2e_vs_stages_cpu",
		"e2e_vs_pebble_ceiling", "http_ingest_req_per_s", "http_p50_ms", "http_p99_ms", "lag_drain_ms", "peak_rss_mb",
		"http_ingest_only_req_per_s", "http_ingest_only_p50_ms", "http_ingest_only_p99_ms", "http_null_ceiling_req_per_s",
		"paced_events_per_s", "paced_events", "paced_lag_drain_ms", "log_bytes_per_raw_byte",
		"go_version", "gomaxprocs", "nproc", "mem_total_mb", "corpus_mean_bytes", "corpus_p50_bytes", "corpus_p99_bytes",
		"corpus_max_bytes", "http_requests", "e2e_state_size_mb"} {
		v, ok := flat[key]
		switch {
		case !ok:
			t.Errorf("JSON has no %q", key)
		case key == "go_version":
			if s, _ := v.(string); !strings.HasPrefix(s, "go") {
				t.Errorf("%s = %v", key, v)
			}
		default:
			if f, _ := v.(float64); !(f > 0) {
				t.Errorf("%s = %v, want > 0", key, v)
			}
		}
	}
	if v, ok := flat["http_errors"]; !ok || v != float64(0) {
		t.Errorf("http_errors = %v, want 0 (first error: %s)", v, res.HTTPFirstError)
	}

	checks := []struct {
		what      string
		got, want any
	}{
		{"events", res.Events, events},
		{"every e2e delivery materialized as an event RID", res.E2EMaterialized, events},
		{"dead letters", res.E2EDeadLetters, int64(0)},
		{"stages refused nothing", res.StagesDead, int64(0)},
		{"pebble wrote every KOI event", int64(res.PebbleCeilingBundles), res.StagesKOIEvents},
		{"corpus events add up", sum(res.CorpusStats.Events), events},
		{"http_connections", res.HTTPConnections, 8},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
	// All requests, unless MaxHTTPDuration ran out first (a slow machine,
	// -race).
	if res.HTTPRequests < 1 || res.HTTPRequests > events {
		t.Errorf("%d requests posted, want 1 to %d", res.HTTPRequests, events)
	}
	if res.StagesKOIEvents < int64(events) || res.StagesObservations < int64(events) {
		t.Errorf("stages: %d observations, %d KOI events for %d deliveries; want at least one each per delivery",
			res.StagesObservations, res.StagesKOIEvents, events)
	}
	if !(res.CorpusStats.P50Bytes <= res.CorpusStats.P99Bytes && res.CorpusStats.P99Bytes <= res.CorpusStats.MaxBytes &&
		res.CorpusStats.MaxBytes <= MaxPayloadBytes) {
		t.Errorf("corpus sizes out of order: %+v", res.CorpusStats)
	}
	if !(res.HTTPP50MS <= res.HTTPP99MS && res.HTTPP99MS <= res.HTTPMaxMS) {
		t.Errorf("latencies out of order: p50 %v p99 %v max %v", res.HTTPP50MS, res.HTTPP99MS, res.HTTPMaxMS)
	}
	if got := res.E2EVsLogCeiling; got != ratio(res.E2EEventsPerS, res.LogCeilingEventsPerS) {
		t.Errorf("e2e_vs_log_ceiling = %v, inconsistent with its parts", got)
	}
	if res.E2ESeconds < res.E2EAppendSeconds {
		t.Errorf("e2e took %v s but appending alone %v s", res.E2ESeconds, res.E2EAppendSeconds)
	}
	if res.DataDir == "" || !strings.HasPrefix(res.DataDir, dir) {
		t.Errorf("data_dir = %q, want a folder in %s", res.DataDir, dir)
	}
	for _, sub := range []string{"e2e", "http_ingest", "http_ingest_only", "log_ceiling", "pebble_ceiling"} {
		if _, err := os.Stat(filepath.Join(res.DataDir, sub)); err != nil {
			t.Errorf("measurement folder: %v", err)
		}
	}
}

// TestE2EMaterializesEveryEvent checks the e2e measurement's own count
// against the cache of a node restarted on the same data: every delivery
// is an event RID.
func TestE2EMaterializesEveryEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node")
	}
	const events = 300
	c, err := GenerateCorpus(7, 100) // 3 passes: varied payloads too
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := measureE2E(context.Background(), dir, c, events, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if res.materialized != events || res.deadLetters != 0 {
		t.Fatalf("materialized %d of %d, %d dead letters", res.materialized, events, res.deadLetters)
	}
	node, err := pipeline.Start(context.Background(), pipeline.Config{DataDir: dir, Listen: "127.0.0.1:0",
		KafkaListen: "127.0.0.1:0", Streams: pipeline.StreamsConfig{Listen: "127.0.0.1:0"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Shutdown(context.Background())
	rids, err := node.Cache().RIDs([]string{github.TypeEvent})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rids {
		seen[r[strings.LastIndexByte(r, ':')+1:]] = true
	}
	for i := range events {
		if id := c.Delivery(i).ID; !seen[id] {
			t.Fatalf("delivery %d (%s) has no event RID in the cache", i, id)
		}
	}
	if res.pacedEvents < 1 {
		t.Fatalf("paced phase appended %d deliveries", res.pacedEvents)
	}
	for i := events + e2eWarmup; i < events+e2eWarmup+res.pacedEvents; i++ {
		if id := c.Delivery(i).ID; !seen[id] {
			t.Fatalf("paced delivery %d (%s) has no event RID in the cache", i, id)
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
