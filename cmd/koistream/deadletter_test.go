package main_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics/dead"
	"github.com/koistream/koistream/topics/topicstest"
)

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestBadRecordsGoToTheDeadTopic: a record no stage can process is kept in
// koistream.dead with the reason, and the pipeline goes on.
func TestBadRecordsGoToTheDeadTopic(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir())

	// Valid JSON, so the webhook source stores it, but not an issue GitHub
	// could send: normalize refuses it.
	bad := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	bad.body = []byte(`{"action":"opened","issue":{"number":"seven"},"repository":{"full_name":"koi-garden/pond-sensor"}}`)
	if code, body := post(t, n.http, bad, testSecret); code != http.StatusAccepted {
		t.Fatalf("status %d %s", code, body)
	}
	// A record written straight into the raw topic by another Kafka client,
	// without the headers a source sets.
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "koistream.raw", Key: []byte("stray"), Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	good := loadDelivery(t, filepath.Join(testdata, "star.created.json"))
	if code, body := post(t, n.http, good, testSecret); code != http.StatusAccepted {
		t.Fatalf("status %d %s", code, body)
	}
	topicstest.WaitFor(t, 60*time.Second, "the good delivery in the cache", func() bool {
		return rids(t, n.http)[eventRID(ownerOf(t, good), good.id)] == 1
	})
	topicstest.WaitFor(t, 60*time.Second, "two dead records", func() bool { return endOffsets(t, n.kafka, "koistream.dead") >= 2 })

	deadRecs := map[string]*kgo.Record{}
	consumeAll(t, n.kafka, "koistream.dead", func(r *kgo.Record) { deadRecs[string(r.Key)] = r })
	cases := []struct {
		key, body, reason string
	}{
		{bad.id, string(bad.body), "issue.number"},
		{"stray", "hello", "unknown source kind"},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			r := deadRecs[c.key]
			if r == nil {
				t.Fatalf("no dead record keyed %q", c.key)
			}
			if string(r.Value) != c.body {
				t.Errorf("dead record value %q, want the input unchanged", r.Value)
			}
			if reason := header(r, dead.HeaderReason); !strings.Contains(reason, c.reason) {
				t.Errorf("reason %q, want it to mention %q", reason, c.reason)
			}
			for k, want := range map[string]string{
				dead.HeaderFailedStage:   "normalize",
				dead.HeaderOriginTopic:   "koistream.raw",
				dead.HeaderFailedSegment: "ingest",
			} {
				if got := header(r, k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if header(r, dead.HeaderOriginOffset) == "" {
				t.Error("no origin offset header")
			}
		})
	}
	if v := metricValue(t, n.http, "koistream_stage_records_dead_total"); v < 2 {
		t.Errorf("koistream_stage_records_dead_total = %v, want at least 2", v)
	}
	n.stop()
}
