package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/koistream/koistream/topics/topicstest"
)

// TestSinksAndSourcesFromTheConfigFile: `koistream serve --config` with a
// sinks: entry and a sources: entry (EventHive over a real redis-server)
// publishes a signed webhook's events to the network's channels, and takes
// a message published on the input channel into its log and cache: the
// YAML lists, the registries and both directions through the binary.
func TestSinksAndSourcesFromTheConfigFile(t *testing.T) {
	t.Parallel()
	rds := topicstest.StartRedis(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	body := fmt.Sprintf(`sinks:
  - name: hive-out
    type: eventhive
    url_env: TEST_REDIS_URL
    network: koi
    channel: github
sources:
  - name: hive-in
    type: eventhive
    url: %s
    network: koi
    input_channel: worker
`, rds.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(rds.URL)
	if err != nil {
		t.Fatal(err)
	}
	cl := redis.NewClient(opts)
	t.Cleanup(func() { cl.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sub := cl.PSubscribe(ctx, "koi/github/*")
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := sub.Channel()

	n := startNodeWith(t, []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--log-format", "json"},
		[]string{"GITHUB_WEBHOOK_SECRET=" + testSecret, "TEST_REDIS_URL=" + rds.URL})
	d := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	if code, b := post(t, n.http, d, testSecret); code != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", code, b)
	}
	// The delivery's event and its entities reach the channels, each as an
	// EventHive message naming its full event name.
	seen := map[string]bool{}
	for !seen["orn:github.event:"] {
		select {
		case m := <-msgs:
			var v struct {
				RID  string `json:"rid"`
				Meta struct {
					Event string `json:"event"`
				} `json:"__eventhive__"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &v); err != nil {
				t.Fatalf("message on %s is not JSON: %v", m.Channel, err)
			}
			if v.Meta.Event != m.Channel || !strings.HasPrefix(m.Channel, "koi/github/") {
				t.Errorf("message on %s names event %q", m.Channel, v.Meta.Event)
			}
			if strings.HasSuffix(v.RID, ":"+d.id) {
				seen["orn:github.event:"] = true
			}
		case <-ctx.Done():
			t.Fatalf("the delivery's event never reached koi/github/* (saw %v)", seen)
		}
	}

	// A message on the input channel lands in the node's cache.
	if err := cl.Publish(ctx, "koi/worker/ping", `{"hello":"from a worker"}`).Err(); err != nil {
		t.Fatal(err)
	}
	topicstest.WaitFor(t, 60*time.Second, "the worker's message in the cache", func() bool {
		return len(rids(t, n.http, "orn:eventhive.message")) > 0
	})
	n.stop()
}
