package main_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/topicstest"
)

// startSharedBroker runs "koistream broker" on dataDir on a free port and waits
// for its "broker serving" line; the returned node's kafka is the address
// it logged and http is empty.
func startSharedBroker(t *testing.T, dataDir string) *node {
	t.Helper()
	cmd := exec.Command(binary, "broker", "--data-dir", dataDir, "--kafka-listen", "127.0.0.1:0", "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &node{t: t, cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			b.logs.Write(append(append([]byte(nil), line...), '\n'))
			var rec struct{ Msg, Kafka string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "broker serving" {
				select {
				case ready <- rec.Kafka:
				default:
				}
			}
		}
	}()
	go func() {
		b.waitErr = cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			b.cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("broker logs:\n%s", b.logs.String())
		}
	})
	select {
	case b.kafka = <-ready:
	case <-b.exited:
		t.Fatalf("broker exited before serving: %v\n%s", b.waitErr, b.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("broker did not start in 60s:\n%s", b.logs.String())
	}
	return b
}

// TestSharedBroker runs "koistream broker" and two "serve --brokers" nodes
// on it, each on its own data folder, and sends each node one webhook:
// both events end up in the cache of both nodes, since the nodes share the
// stage work through consumer groups and each projects the whole events
// topic. The broker exits 0 on SIGTERM.
func TestSharedBroker(t *testing.T) {
	t.Parallel()
	b := startSharedBroker(t, t.TempDir())
	nodes := []*node{
		startNode(t, t.TempDir(), "--brokers", b.kafka),
		startNode(t, t.TempDir(), "--brokers", b.kafka),
	}
	var want []string
	for i, n := range nodes {
		if n.kafka != b.kafka {
			t.Fatalf("node %d uses %s, not the broker at %s", i, n.kafka, b.kafka)
		}
		d := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
		if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
			t.Fatalf("node %d: status %d %s", i, code, body)
		}
		want = append(want, eventRID(ownerOf(t, d), d.id))
	}
	for i, n := range nodes {
		t.Run("node "+string(rune('a'+i))+" caches both events", func(t *testing.T) {
			topicstest.WaitFor(t, 60*time.Second, "both events in the cache", func() bool {
				got := rids(t, n.http, "orn:github.event")
				return got[want[0]] == 1 && got[want[1]] == 1
			})
		})
	}
	for _, n := range nodes {
		n.stop()
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("broker did not stop within 30s of SIGTERM")
	}
	if b.waitErr != nil {
		t.Fatalf("broker exited with %v after SIGTERM", b.waitErr)
	}
}
