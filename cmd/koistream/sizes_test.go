package main_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/topics/topicstest"
)

// paddedPush returns a valid push delivery of exactly size bytes: the
// testdata push, compacted, with its first commit's message lengthened.
func paddedPush(t *testing.T, size int) delivery {
	t.Helper()
	d := loadDelivery(t, filepath.Join(testdata, "push.multiple-commits.json"))
	var compact bytes.Buffer
	if err := json.Compact(&compact, d.body); err != nil {
		t.Fatal(err)
	}
	const field = `"message":"`
	at := bytes.Index(compact.Bytes(), []byte(field))
	pad := size - compact.Len()
	if at < 0 || pad < 0 {
		t.Fatalf("cannot pad a %d-byte push to %d bytes", compact.Len(), size)
	}
	at += len(field)
	body := make([]byte, 0, size)
	body = append(body, compact.Bytes()[:at]...)
	body = append(body, bytes.Repeat([]byte("a long commit message "), pad/22+1)[:pad]...)
	body = append(body, compact.Bytes()[at:]...)
	if len(body) != size || !json.Valid(body) {
		t.Fatalf("padded push: %d bytes (want %d), valid JSON %v", len(body), size, json.Valid(body))
	}
	d.body = body
	return d
}

// TestDeliverySizes drives the real binary with signed deliveries from
// just under 1 MiB to GitHub's cap of 25 MiB: each is answered 202 and its
// payload comes back byte for byte from the KOI-net bundles endpoint. Kafka's
// default record limit (1,048,588 bytes) made every delivery of about 1 MiB
// or more a 503. A body over the cap is refused with 413, and a delivery
// id of 500 KB never reaches the log.
func TestDeliverySizes(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir())

	cases := []struct {
		name string
		size int
	}{
		{"0.9 MiB", 9 << 20 / 10},
		{"1 MiB", 1 << 20},
		{"5 MiB", 5 << 20},
		{"25 MiB", webhook.DefaultMaxBody},
	}
	sent := make([]delivery, len(cases))
	for i, c := range cases {
		t.Run("accepted "+c.name, func(t *testing.T) {
			sent[i] = paddedPush(t, c.size)
			if code, body := post(t, n.http, sent[i], testSecret); code != http.StatusAccepted {
				t.Fatalf("%d-byte delivery: status %d, body %s", c.size, code, body)
			}
		})
	}
	if t.Failed() {
		t.FailNow()
	}
	topicstest.WaitFor(t, 180*time.Second, "pipeline drained", func() bool { return drained(t, n) })
	for i, c := range cases {
		t.Run("fetched intact "+c.name, func(t *testing.T) {
			rid := eventRID(ownerOf(t, sent[i]), sent[i].id)
			p := fetchBundles(t, n.http, rid)
			if len(p.Bundles) != 1 {
				t.Fatalf("%s: %d bundles, not found %v", rid, len(p.Bundles), p.NotFound)
			}
			var contents struct {
				Payload json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(p.Bundles[0].Contents, &contents); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(contents.Payload, sent[i].body) {
				t.Fatalf("%s: payload of %d bytes came back as %d bytes, not byte for byte", rid, len(sent[i].body), len(contents.Payload))
			}
		})
	}

	t.Run("refused and stored nowhere", func(t *testing.T) {
		tooBig := paddedPush(t, webhook.DefaultMaxBody+1)
		longID := paddedPush(t, 10<<10)
		longID.id = strings.Repeat("a", 500_000)
		refused := []struct {
			name   string
			d      delivery
			status int // 0: any 4xx, or the connection closed while sending
		}{
			{"25 MiB + 1 byte", tooBig, http.StatusRequestEntityTooLarge},
			{"500 KB delivery id", longID, 0},
		}
		for _, c := range refused {
			t.Run(c.name, func(t *testing.T) {
				before := endOffsets(t, n.kafka, "koistream.raw")
				status, err := postRaw(n.http, c.d, testSecret)
				switch {
				case c.status != 0 && status != c.status:
					t.Fatalf("status %d (%v), want %d", status, err, c.status)
				case c.status == 0 && err == nil && (status < 400 || status > 499):
					t.Fatalf("status %d, want a 4xx", status)
				}
				if after := endOffsets(t, n.kafka, "koistream.raw"); after != before {
					t.Fatalf("raw topic grew from %d to %d records", before, after)
				}
			})
		}
	})
	n.stop()
}

// postRaw is post for requests the node may refuse before reading them
// whole: it returns the status, or the error when the node closed the
// connection first.
func postRaw(addr string, d delivery, secret string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/github/webhook", bytes.NewReader(d.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", d.contentType)
	req.Header.Set("X-GitHub-Event", d.event)
	req.Header.Set("X-GitHub-Delivery", d.id)
	req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(secret), d.body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
