package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestBenchJSON runs the real binary's bench command on a small corpus and
// decodes its one JSON object. Progress logs go to stderr; --log-level
// error keeps them out of runBinary's combined output, so the output must
// be exactly the JSON object. Nothing about speed is asserted.
func TestBenchJSON(t *testing.T) {
	out, err := runBinary(t, "bench", "--events", "1000", "--connections", "4", "--json", "--log-level", "error",
		"--data-dir", t.TempDir())
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var res map[string]any
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value in the output:\n%s", out)
	}
	for _, key := range []string{"events", "payload_bytes", "e2e_events_per_s", "log_ceiling_events_per_s",
		"pebble_ceiling_events_per_s", "stages_cpu_events_per_s", "e2e_vs_log_ceiling", "http_ingest_req_per_s",
		"http_p50_ms", "http_p99_ms", "peak_rss_mb", "lag_drain_ms", "e2e_mb_per_s", "nproc", "gomaxprocs", "mem_total_mb",
		"http_ingest_only_req_per_s"} {
		if f, _ := res[key].(float64); !(f > 0) {
			t.Errorf("%s = %v, want a positive number", key, res[key])
		}
	}
	if res["events"] != float64(1000) || res["http_errors"] != float64(0) || res["e2e_materialized"] != float64(1000) ||
		res["http_connections"] != float64(4) {
		t.Errorf("events %v, e2e_materialized %v, http_errors %v, http_connections %v; want 1000, 1000, 0, 4",
			res["events"], res["e2e_materialized"], res["http_errors"], res["http_connections"])
	}
	if v, _ := res["go_version"].(string); !strings.HasPrefix(v, "go") {
		t.Errorf("go_version = %v", res["go_version"])
	}
}

// TestBenchCommandLine checks the human output and the flag errors.
func TestBenchCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		exit     int
		contains []string
	}{
		{"table", []string{"bench", "--events", "300", "--connections", "2", "--corpus", "../../stages/github/testdata"}, 0,
			[]string{"e2e (append → drained)", "log_ceiling", "stages_cpu", "pebble_ceiling", "peak RSS", "http ", "http only", "stages/github/testdata",
				`msg=e2e events_per_s=`}},
		{"zero events", []string{"bench", "--events", "0"}, 2, []string{"--events must be at least 1", "Usage: koistream bench [flags]"}},
		{"negative connections", []string{"bench", "--connections", "-1"}, 2, []string{"--connections must be at least 1"}},
		{"missing corpus", []string{"bench", "--corpus", "/nonexistent/corpus"}, 2, []string{"corpus"}},
		{"extra argument", []string{"bench", "now"}, 2, []string{`unknown command "now" for "koistream bench"`, "Usage: koistream bench [flags]"}},
		{"help", []string{"bench", "-h"}, 0, []string{"--events", "--corpus", "--connections", "--data-dir", "--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runBinary(t, tc.args...)
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.exit {
				t.Fatalf("exit %d, want %d\n%s", code, tc.exit, out)
			}
			for _, want := range tc.contains {
				if !bytes.Contains([]byte(out), []byte(want)) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
