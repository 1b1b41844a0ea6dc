package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/topics/topicstest"
)

const testdata = "../../stages/github/testdata"

func eventRID(ownerRepo, id string) string { return "orn:github.event:" + ownerRepo + ":" + id }

// ownerOf returns the <owner>/<repo> an event RID of d uses.
func ownerOf(t *testing.T, d delivery) string {
	t.Helper()
	var p struct {
		Repository *struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
		Organization *struct{ Login string } `json:"organization"`
		Sender       *struct{ Login string } `json:"sender"`
	}
	if err := json.Unmarshal(d.body, &p); err != nil {
		t.Fatal(err)
	}
	switch {
	case p.Repository != nil:
		return p.Repository.FullName
	case p.Organization != nil:
		return p.Organization.Login
	case p.Sender != nil:
		return p.Sender.Login
	}
	return "_"
}

func fetchBundles(t *testing.T, addr string, rids ...string) bundlesPayload {
	t.Helper()
	var p bundlesPayload
	if code := koi(t, addr, "/bundles/fetch", map[string]any{"rids": rids}, &p); code != http.StatusOK {
		t.Fatalf("bundles/fetch: status %d", code)
	}
	return p
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

// TestWebhooksToBundles drives the real binary: signed webhooks of every
// kind in, KOI-net RIDs and bundles out, redeliveries ignored, forged
// deliveries refused and stored nowhere, and a clean SIGTERM.
func TestWebhooksToBundles(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir())

	files := []string{
		"push.multiple-commits.json", "issues.opened.json", "pull_request.opened.json",
		"issue_comment.created.json", "create.tag.json", "delete.tag.json", "release.published.json",
		"star.created.json", "watch.started.json", "ping.repo.json", "organization.member_added.json",
		"repository_insight.synchronized.json",
	}
	var sent []delivery
	for _, f := range files {
		d := loadDelivery(t, filepath.Join(testdata, f))
		if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
			t.Fatalf("%s: status %d, body %s", f, code, body)
		}
		sent = append(sent, d)
	}
	// GitHub's form-encoded content type, signed over the form body.
	form := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	formPayload := form.body
	form.body = []byte(url.Values{"payload": {string(formPayload)}}.Encode())
	form.contentType = "application/x-www-form-urlencoded"
	if code, body := post(t, n.http, form, testSecret); code != http.StatusAccepted {
		t.Fatalf("form delivery: status %d, body %s", code, body)
	}

	want := map[string][]byte{}
	for _, d := range sent {
		want[eventRID(ownerOf(t, d), d.id)] = d.body
	}
	want[eventRID(ownerOf(t, delivery{body: formPayload}), form.id)] = formPayload
	topicstest.WaitFor(t, 60*time.Second, "every event RID in the cache", func() bool {
		got := rids(t, n.http, "orn:github.event")
		for r := range want {
			if got[r] != 1 {
				return false
			}
		}
		return true
	})

	t.Run("event bundles carry the payload intact", func(t *testing.T) {
		var ids []string
		for r := range want {
			ids = append(ids, r)
		}
		p := fetchBundles(t, n.http, append(ids, "orn:github.event:nobody/nothing:x")...)
		if len(p.Bundles) != len(want) || !reflect.DeepEqual(p.NotFound, []string{"orn:github.event:nobody/nothing:x"}) {
			t.Fatalf("got %d bundles, not_found %v; want %d and the unknown RID", len(p.Bundles), p.NotFound, len(want))
		}
		if p.Type != "bundles_payload" || p.Deferred == nil {
			t.Fatalf("payload shape: type %q deferred %v", p.Type, p.Deferred)
		}
		for _, b := range p.Bundles {
			var c struct {
				Type    string          `json:"webhook_event_type"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(b.Contents, &c); err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, c.Payload, want[b.Manifest.RID]) {
				t.Errorf("%s: payload differs from what was sent", b.Manifest.RID)
			}
			if len(b.Manifest.SHA256Hash) != 64 || !strings.HasSuffix(b.Manifest.Timestamp, "Z") {
				t.Errorf("%s: manifest %+v", b.Manifest.RID, b.Manifest)
			}
		}
	})

	t.Run("entity RIDs for issue, pull request and commits", func(t *testing.T) {
		got := rids(t, n.http, "orn:github.issue", "orn:github.pr", "orn:github.commit", "orn:github.repo")
		count := map[string]int{}
		for r := range got {
			for _, tp := range []string{"orn:github.issue:", "orn:github.pr:", "orn:github.commit:", "orn:github.repo:"} {
				if strings.HasPrefix(r, tp) {
					count[tp]++
				}
			}
		}
		for tp, min := range map[string]int{"orn:github.issue:": 1, "orn:github.pr:": 1, "orn:github.commit:": 2, "orn:github.repo:": 1} {
			if count[tp] < min {
				t.Errorf("%s RIDs: %d, want at least %d (got %v)", tp, count[tp], min, got)
			}
		}
	})

	t.Run("a redelivery produces nothing", func(t *testing.T) {
		topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drained(t, n) })
		before := endOffsets(t, n.kafka, "koistream.events")
		beforeRaw := endOffsets(t, n.kafka, "koistream.raw")
		for _, d := range sent[:3] {
			if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
				t.Fatalf("redelivery: status %d, body %s", code, body)
			}
		}
		topicstest.WaitFor(t, 60*time.Second, "redeliveries stored", func() bool { return endOffsets(t, n.kafka, "koistream.raw") == beforeRaw+3 })
		topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drained(t, n) })
		if after := endOffsets(t, n.kafka, "koistream.events"); after != before {
			t.Fatalf("events topic grew from %d to %d after redeliveries", before, after)
		}
	})

	t.Run("bad input is refused and stored nowhere", func(t *testing.T) {
		beforeRaw := endOffsets(t, n.kafka, "koistream.raw")
		good := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
		noEvent := good
		noEvent.event = ""
		notJSON := good
		notJSON.body = []byte("{not json")
		badID := good
		badID.id = "a:b/c"
		form := good
		form.contentType = "text/plain"
		cases := []struct {
			name   string
			d      delivery
			secret string
			status int
			code   string
		}{
			{"wrong secret", good, "not-the-secret", http.StatusUnauthorized, "invalid_signature"},
			{"no signature", good, "", http.StatusUnauthorized, "missing_signature"},
			{"missing event header", noEvent, testSecret, http.StatusBadRequest, "missing_header"},
			{"body not JSON", notJSON, testSecret, http.StatusBadRequest, "invalid_payload"},
			{"delivery id unusable in a RID", badID, testSecret, http.StatusBadRequest, "invalid_header"},
			{"unsupported content type", form, testSecret, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				status, body := post(t, n.http, c.d, c.secret)
				var e struct{ Error, Detail string }
				if err := json.Unmarshal(body, &e); err != nil || status != c.status || e.Error != c.code || e.Detail == "" {
					t.Fatalf("status %d body %s; want %d with error %q and a detail", status, body, c.status, c.code)
				}
			})
		}
		big := good
		big.body = bytes.Repeat([]byte(" "), 25<<20+1)
		if status, _ := post(t, n.http, big, testSecret); status != http.StatusRequestEntityTooLarge {
			t.Fatalf("26 MiB body: status %d, want 413", status)
		}
		if after := endOffsets(t, n.kafka, "koistream.raw"); after != beforeRaw {
			t.Fatalf("raw topic grew from %d to %d on refused input", beforeRaw, after)
		}
		if got := rids(t, n.http); got[eventRID(ownerOf(t, good), good.id)] != 0 {
			t.Fatal("refused delivery reached the cache")
		}
	})

	n.stop()
}

// TestKill9LosesNothing kills the node mid-stream and restarts it on the
// same data: every delivery that got its 202 is in the cache exactly once.
func TestKill9LosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, dir)
	base := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	owner := ownerOf(t, base)

	var mu sync.Mutex
	var acked []string
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				d := base
				d.id = newDeliveryID()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.http+"/github/webhook", bytes.NewReader(d.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", d.event)
				req.Header.Set("X-GitHub-Delivery", d.id)
				req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(testSecret), d.body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the node is gone
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					mu.Lock()
					acked = append(acked, d.id)
					mu.Unlock()
				}
			}
		}()
	}
	topicstest.WaitFor(t, 60*time.Second, "200 deliveries acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 200
	})
	n.kill9()
	cancel()
	wg.Wait()
	t.Logf("%d deliveries acknowledged before kill -9", len(acked))

	n2 := startNode(t, dir)
	topicstest.WaitFor(t, 90*time.Second, "pipeline drained after restart", func() bool { return drained(t, n2) })
	got := rids(t, n2.http, "orn:github.event")
	var lost []string
	for _, id := range acked {
		if c := got[eventRID(owner, id)]; c != 1 {
			t.Errorf("acknowledged delivery %s: %d times in the cache, want 1", id, c)
			if c == 0 {
				lost = append(lost, id)
			}
		}
	}
	traceLost(t, n2.kafka, lost[:min(len(lost), 3)])
	// The raw log holds each acknowledged delivery once, and the events log
	// holds one version per RID (a retry after the crash may repeat an event
	// byte for byte; it may not announce different contents).
	keys := map[string]int{}
	events := map[string]map[string]bool{}
	consumeAll(t, n2.kafka, "koistream.raw", func(r *kgo.Record) { keys[string(r.Key)]++ })
	consumeAll(t, n2.kafka, "koistream.events", func(r *kgo.Record) {
		var ev struct {
			RID       string          `json:"rid"`
			EventType string          `json:"event_type"`
			Manifest  json.RawMessage `json:"manifest"`
		}
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatalf("events record: %v", err)
		}
		if events[ev.RID] == nil {
			events[ev.RID] = map[string]bool{}
		}
		events[ev.RID][ev.EventType+string(ev.Manifest)] = true
	})
	for _, id := range acked {
		if keys[id] != 1 {
			t.Errorf("delivery %s: %d raw records, want 1", id, keys[id])
		}
		if v := events[eventRID(owner, id)]; len(v) != 1 {
			t.Errorf("delivery %s: %d distinct events, want 1: %v", id, len(v), v)
		}
	}
	n2.stop()
}

// consumeAll reads topic from the start to its current end, as a
// read_committed consumer: what the node's transactions committed.
func consumeAll(t *testing.T, kafka, topic string, fn func(*kgo.Record)) {
	t.Helper()
	for _, r := range topicstest.ReadAll(t, kafka, topic) {
		fn(r)
	}
}
