package main_test

import (
	"bufio"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics/topicstest"
)

// traceID returns the trace id of a record's traceparent header.
func traceID(r *kgo.Record) string {
	parts := strings.Split(header(r, "traceparent"), "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
}

// TestTraceAndMetrics: one trace follows a webhook from ingest through the
// stages to the events topic the projection reads, and /metrics shows the
// per-stage counters and the projection lag.
func TestTraceAndMetrics(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir())
	d := loadDelivery(t, filepath.Join(testdata, "release.published.json"))
	if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
		t.Fatalf("status %d %s", code, body)
	}
	rid := eventRID(ownerOf(t, d), d.id)
	topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drained(t, n) && rids(t, n.http)[rid] == 1 })

	var rawTrace string
	consumeAll(t, n.kafka, "koistream.raw", func(r *kgo.Record) {
		if string(r.Key) == d.id {
			rawTrace = traceID(r)
		}
	})
	if len(rawTrace) != 32 {
		t.Fatalf("raw record has no traceparent header")
	}
	for _, topic := range []string{"koistream.observed", "koistream.events"} {
		found := false
		consumeAll(t, n.kafka, topic, func(r *kgo.Record) {
			if string(r.Key) == rid {
				found = true
				if got := traceID(r); got != rawTrace {
					t.Errorf("%s record of %s: trace %q, want the webhook's %q", topic, rid, got, rawTrace)
				}
			}
		})
		if !found {
			t.Errorf("no %s record for %s", topic, rid)
		}
	}

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + n.http + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var lines []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		text := strings.Join(lines, "\n")
		for _, re := range []string{
			`koistream_stage_records_in_total\{[^}]*stage="normalize"[^}]*\} [1-9]`,
			`koistream_stage_records_out_total\{[^}]*stage="dedupe"[^}]*\} [1-9]`,
			`koistream_stage_records_out_total\{[^}]*stage="ridify"[^}]*\} [1-9]`,
			`koistream_projection_records_applied_total\{[^}]*projection="cache"[^}]*\} [1-9]`,
			`koistream_projection_lag\{[^}]*projection="cache"[^}]*\} 0`,
		} {
			if !regexp.MustCompile(re).MatchString(text) {
				t.Errorf("/metrics has no line matching %s", re)
			}
		}
	})

	t.Run("manifests fetch", func(t *testing.T) {
		var p struct {
			Type      string `json:"type"`
			Manifests []struct {
				RID        string `json:"rid"`
				Timestamp  string `json:"timestamp"`
				SHA256Hash string `json:"sha256_hash"`
			} `json:"manifests"`
			NotFound []string `json:"not_found"`
		}
		if code := koi(t, n.http, "/manifests/fetch", map[string]any{"rids": []string{rid, "orn:github.event:x/y:z"}}, &p); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		if p.Type != "manifests_payload" || len(p.Manifests) != 1 || p.Manifests[0].RID != rid || len(p.NotFound) != 1 {
			t.Fatalf("manifests payload %+v", p)
		}
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$`).MatchString(p.Manifests[0].Timestamp) {
			t.Fatalf("timestamp %q is not UTC µs Z", p.Manifests[0].Timestamp)
		}
		if code := koi(t, n.http, "/manifests/fetch", map[string]any{"type": "fetch_manifests", "rid_types": []string{"orn:github.event"}}, &p); code != http.StatusOK || len(p.Manifests) != 1 {
			t.Fatalf("by type: status %d, %+v", code, p)
		}
	})
	n.stop()
}
