package main_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/topicstest"
)

// snapshot is everything the KOI-net API shows.
func snapshot(t *testing.T, addr string) map[string]string {
	t.Helper()
	var ids []string
	for r := range rids(t, addr) {
		ids = append(ids, r)
	}
	out := map[string]string{}
	for _, b := range fetchBundles(t, addr, ids...).Bundles {
		raw, _ := json.Marshal(b)
		out[b.Manifest.RID] = string(raw)
	}
	return out
}

// TestRestartKeepsStateAndRebuilds: dedupe remembers across a restart,
// deleting the cache folder rebuilds the same cache from the log, and a
// deleted issue is forgotten.
func TestRestartKeepsStateAndRebuilds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The node's own profile is listed beside the cache, and its base_url
	// would follow the port --listen 127.0.0.1:0 picks on each start (a
	// changed profile, rightly with a new manifest); a fixed base_url keeps
	// the profile unchanged, so the comparisons below also check that its
	// manifest survives restarts and rebuilds as it was.
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("koi_net:\n  node_profile:\n    base_url: http://127.0.0.1:8002/koi-net\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, dir, "--config", cfg)
	opened := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	push := loadDelivery(t, filepath.Join(testdata, "push.multiple-commits.json"))
	for _, d := range []delivery{opened, push} {
		if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
			t.Fatalf("status %d %s", code, body)
		}
	}
	topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drained(t, n) })
	before := snapshot(t, n.http)
	if len(before) < 5 {
		t.Fatalf("only %d RIDs cached: %v", len(before), before)
	}
	n.stop()

	t.Run("a redelivery after a restart produces nothing", func(t *testing.T) {
		n := startNode(t, dir, "--config", cfg)
		events := endOffsets(t, n.kafka, "koistream.events")
		raw := endOffsets(t, n.kafka, "koistream.raw")
		if code, body := post(t, n.http, opened, testSecret); code != http.StatusAccepted {
			t.Fatalf("status %d %s", code, body)
		}
		topicstest.WaitFor(t, 60*time.Second, "redelivery stored", func() bool { return endOffsets(t, n.kafka, "koistream.raw") == raw+1 })
		topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drained(t, n) })
		if got := endOffsets(t, n.kafka, "koistream.events"); got != events {
			t.Fatalf("events topic grew from %d to %d", events, got)
		}
		n.stop()
	})

	t.Run("deleting the cache folder rebuilds it from the log", func(t *testing.T) {
		if err := os.RemoveAll(filepath.Join(dir, "cache")); err != nil {
			t.Fatal(err)
		}
		n := startNode(t, dir, "--config", cfg)
		topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drained(t, n) })
		if after := snapshot(t, n.http); !reflect.DeepEqual(after, before) {
			t.Fatalf("rebuilt cache differs:\n got %v\nwant %v", after, before)
		}
		n.stop()
	})

	t.Run("koistream rebuild drops the projection for the next start", func(t *testing.T) {
		out, err := runBinary(t, "rebuild", "--data-dir", dir)
		if err != nil {
			t.Fatalf("rebuild: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "cache")); !os.IsNotExist(err) {
			t.Fatalf("cache folder still there: %v", err)
		}
		n := startNode(t, dir, "--config", cfg)
		topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drained(t, n) })
		if after := snapshot(t, n.http); !reflect.DeepEqual(after, before) {
			t.Fatalf("rebuilt cache differs")
		}
		n.stop()
	})

	t.Run("a deleted issue is forgotten", func(t *testing.T) {
		n := startNode(t, dir, "--config", cfg)
		// The opened issue, now deleted: GitHub sends the issue as it was.
		deleted := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
		deleted.body = bytes.Replace(deleted.body, []byte(`"action": "opened"`), []byte(`"action": "deleted"`), 1)
		issue := "orn:github.issue:" + ownerOf(t, deleted) + ":" + issueNumber(t, deleted)
		if rids(t, n.http)[issue] != 1 {
			t.Fatalf("%s not cached before the deletion", issue)
		}
		if code, body := post(t, n.http, deleted, testSecret); code != http.StatusAccepted {
			t.Fatalf("status %d %s", code, body)
		}
		topicstest.WaitFor(t, 60*time.Second, "issue forgotten", func() bool { return rids(t, n.http)[issue] == 0 })
		if p := fetchBundles(t, n.http, issue); len(p.Bundles) != 0 || len(p.NotFound) != 1 {
			t.Fatalf("forgotten issue still served: %+v", p)
		}
		n.stop()
	})
}

func issueNumber(t *testing.T, d delivery) string {
	t.Helper()
	var p struct {
		Issue struct {
			Number json.Number `json:"number"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(d.body, &p); err != nil {
		t.Fatal(err)
	}
	return p.Issue.Number.String()
}
