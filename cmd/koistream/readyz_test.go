package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/topicstest"
)

// probe is one answer of /readyz or /healthz.
type probe struct {
	code    int
	Status  string            `json:"status"`
	Failing map[string]string `json:"failing"`
}

func getProbe(t *testing.T, addr, path string) probe {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := probe{code: resp.StatusCode}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return p
}

// setMaxMessageBytes sets topic's max.message.bytes on the broker at addr.
func setMaxMessageBytes(t *testing.T, addr, topic, v string) {
	t.Helper()
	adm := kadm.NewClient(topicstest.Client(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
	defer cancel()
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: topics.MaxMessageBytesConfig, Value: &v}}, topic)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("set %s of %s to %s: %v", topics.MaxMessageBytesConfig, topic, v, err)
	}
}

// sender posts signed deliveries from a few goroutines until stopped and
// remembers which were acknowledged and how many were refused with 503.
type sender struct {
	mu      sync.Mutex
	acked   []string
	refused int
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func startSender(t *testing.T, addr string, d delivery) *sender {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &sender{cancel: cancel}
	for range 4 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for ctx.Err() == nil {
				id := newDeliveryID()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/github/webhook", bytes.NewReader(d.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", d.event)
				req.Header.Set("X-GitHub-Delivery", id)
				req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(testSecret), d.body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				s.mu.Lock()
				switch resp.StatusCode {
				case http.StatusAccepted:
					s.acked = append(s.acked, id)
				case http.StatusServiceUnavailable:
					s.refused++
				}
				s.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	t.Cleanup(s.stop)
	return s
}

func (s *sender) stop() { s.cancel(); s.wg.Wait() }

func (s *sender) counts() (acked, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked), s.refused
}

// TestReadyz: /readyz turns 503 naming the failing part while the stages
// or the intake cannot make progress, and 200 again once they can; /healthz
// (liveness) stays 200 meanwhile. Before, /readyz was /healthz and stayed
// green while a segment retried the same poll forever or the disk was full.
func TestReadyz(t *testing.T) {
	t.Parallel()
	issue := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	owner := ownerOf(t, issue)

	cases := []struct {
		name string
		// setup returns the data folder to run the node on, or skips.
		setup func(t *testing.T) string
		// breakIt makes progress impossible; repair undoes it.
		breakIt, repair func(t *testing.T, n *node, dir string)
		// part is the failing part /readyz must name.
		part string
	}{
		{
			name:  "a segment whose polls keep failing",
			setup: func(t *testing.T) string { return t.TempDir() },
			// With its output topic refusing every record (a 100-byte
			// limit), the ingest segment's publish fails and the segment
			// offers the same poll again and again; the sender keeps
			// giving it input.
			breakIt: func(t *testing.T, n *node, _ string) {
				setMaxMessageBytes(t, n.kafka, "koistream.observed", "100")
			},
			// EnsureTopics, as a node's start runs it, raises the limit
			// back to topics.MaxBatchBytes.
			repair: func(t *testing.T, n *node, _ string) {
				ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
				defer cancel()
				if err := topics.EnsureTopics(ctx, []string{n.kafka}, []string{"koistream.observed"}, 4); err != nil {
					t.Fatal(err)
				}
			},
			part: "segment ingest",
		},
		{
			name: "a full disk",
			setup: func(t *testing.T) string {
				if os.Geteuid() != 0 {
					t.Skip("needs root to mount a small tmpfs to fill")
				}
				mnt := t.TempDir()
				// 160 MiB: a fresh node takes ~36 MiB (the stage state's
				// preallocated write-ahead log), the rest is filled.
				if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", mnt).CombinedOutput(); err != nil {
					t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
				}
				t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
				return filepath.Join(mnt, "data")
			},
			breakIt: func(t *testing.T, _ *node, dir string) {
				f, err := os.Create(filepath.Join(filepath.Dir(dir), "filler"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				chunk := make([]byte, 1<<20)
				for {
					if _, err := f.Write(chunk); err != nil {
						break // ENOSPC
					}
				}
			},
			repair: func(t *testing.T, _ *node, dir string) {
				if err := os.Remove(filepath.Join(filepath.Dir(dir), "filler")); err != nil {
					t.Fatal(err)
				}
			},
			part: "disk",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := c.setup(t)
			n := startNode(t, dir)
			topicstest.WaitFor(t, 30*time.Second, "readyz 200", func() bool { return getProbe(t, n.http, "/readyz").code == http.StatusOK })
			s := startSender(t, n.http, issue)
			topicstest.WaitFor(t, 30*time.Second, "deliveries acknowledged", func() bool { a, _ := s.counts(); return a >= 20 })

			c.breakIt(t, n, dir)
			var got probe
			topicstest.WaitFor(t, 60*time.Second, "readyz 503 naming "+c.part, func() bool {
				got = getProbe(t, n.http, "/readyz")
				return got.code == http.StatusServiceUnavailable && got.Failing[c.part] != ""
			})
			t.Logf("readyz: %d %+v", got.code, got)
			if got.Status != "not_ready" {
				t.Errorf("status %q, want not_ready", got.Status)
			}
			if h := getProbe(t, n.http, "/healthz"); h.code != http.StatusOK {
				t.Errorf("healthz %d while not ready; liveness must stay 200", h.code)
			}

			c.repair(t, n, dir)
			topicstest.WaitFor(t, 60*time.Second, "readyz 200 again", func() bool { return getProbe(t, n.http, "/readyz").code == http.StatusOK })
			acked, refused := s.counts()
			topicstest.WaitFor(t, 30*time.Second, "deliveries acknowledged again", func() bool { a, _ := s.counts(); return a >= acked+20 })
			s.stop()
			acked, refused = s.counts()
			t.Logf("%d deliveries acknowledged, %d refused with 503", acked, refused)

			// Nothing acknowledged is lost, before and after a restart.
			check := func(n *node) {
				topicstest.WaitFor(t, 90*time.Second, "pipeline drained", func() bool { return drained(t, n) })
				got := rids(t, n.http, "orn:github.event")
				for _, id := range s.acked {
					if c := got[eventRID(owner, id)]; c != 1 {
						t.Errorf("acknowledged delivery %s: %d times in the cache, want 1", id, c)
					}
				}
			}
			check(n)
			n.stop()
			n2 := startNode(t, dir)
			check(n2)
			n2.stop()
		})
	}
}
