package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/topics/topicstest"
)

// binary is the koistream binary built once by TestMain: the end-to-end
// tests run the real command, as a user would.
var binary string

const testSecret = "e2e-secret"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "koistream-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "koistream")
	// -buildvcs=auto overrides a GOFLAGS=-buildvcs=false in the
	// environment, so "koistream version" is tested with the revision a
	// user's build from a git checkout carries.
	args := []string{"build", "-buildvcs=auto", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building koistream:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one running koistream process.
type node struct {
	t       *testing.T
	cmd     *exec.Cmd
	http    string // host:port
	pubsub  string // host:port of the stream listener
	kafka   string // host:port of the embedded broker
	logs    *syncBuffer
	exited  chan struct{}
	waitErr error
	serving map[string]any // the "koistream serving" log record
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode runs "koistream serve" on dataDir with free ports and waits for
// /healthz to answer 200.
func startNode(t *testing.T, dataDir string, extra ...string) *node {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0",
		"--kafka-listen", "127.0.0.1:0", "--pubsub-listen", "127.0.0.1:0", "--log-format", "json", "--partitions", "4"}, extra...)
	return startNodeWith(t, args, []string{"GITHUB_WEBHOOK_SECRET=old-secret, " + testSecret})
}

// startNodeWith runs the binary with args and the extra environment
// variables env. A serve without --pubsub-listen gets a free port for the
// stream listener, so that parallel nodes never collide on its default.
func startNodeWith(t *testing.T, args, env []string) *node {
	t.Helper()
	if len(args) > 0 && args[0] == "serve" && !slices.Contains(args, "--pubsub-listen") {
		args = append(slices.Clip(args), "--pubsub-listen", "127.0.0.1:0")
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			n.logs.Write(append(append([]byte(nil), line...), '\n'))
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && rec["msg"] == "koistream serving" {
				select {
				case ready <- rec:
				default:
				}
			}
		}
	}()
	go func() {
		n.waitErr = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("node logs:\n%s", n.logs.String())
		}
	})
	select {
	case rec := <-ready:
		n.http = rec["http"].(string)
		n.pubsub, _ = rec["pubsub"].(string)
		if n.pubsub == "" || strings.HasSuffix(n.pubsub, ":2069") {
			t.Fatalf("serving log line names stream listener %q, want the free port it bound: %v", n.pubsub, rec)
		}
		kafka := rec["kafka"].([]any)
		n.kafka = kafka[0].(string)
		n.serving = rec
	case <-n.exited:
		t.Fatalf("node exited before serving: %v\n%s", n.waitErr, n.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("node did not start in 60s:\n%s", n.logs.String())
	}
	topicstest.WaitFor(t, 60*time.Second, "healthz 200", func() bool {
		resp, err := http.Get("http://" + n.http + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return n
}

// kill9 kills the process without warning, as a crash or OOM would.
func (n *node) kill9() {
	n.t.Helper()
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop() {
	n.t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(60 * time.Second):
		n.t.Fatalf("node did not stop within 60s of SIGTERM")
	}
	if n.waitErr != nil {
		n.t.Fatalf("node exited with %v after SIGTERM\n%s", n.waitErr, n.logs.String())
	}
}

// delivery is one webhook request.
type delivery struct {
	event, id, contentType string
	body                   []byte
}

func newDeliveryID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// loadDelivery reads a testdata payload named <event>.<anything>.json.
func loadDelivery(t *testing.T, path string) delivery {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	event, _, _ := strings.Cut(filepath.Base(path), ".")
	return delivery{event: event, id: newDeliveryID(), contentType: "application/json", body: body}
}

// post sends d signed with secret and returns the status and body.
func post(t *testing.T, addr string, d delivery, secret string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/github/webhook", bytes.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", d.contentType)
	if d.event != "" {
		req.Header.Set("X-GitHub-Event", d.event)
	}
	if d.id != "" {
		req.Header.Set("X-GitHub-Delivery", d.id)
	}
	req.Header.Set("User-Agent", "GitHub-Hookshot/e2e")
	if secret != "" {
		req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(secret), d.body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post %s: %v", d.event, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// koi posts a KOI-net request body to path and decodes the answer into out.
func koi(t *testing.T, addr, path string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post("http://"+addr+"/koi-net"+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("koi %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("koi %s: decode %s: %v", path, raw, err)
		}
	}
	return resp.StatusCode
}

type ridsPayload struct {
	Type string   `json:"type"`
	Rids []string `json:"rids"`
}

type bundle struct {
	Manifest struct {
		RID        string `json:"rid"`
		Timestamp  string `json:"timestamp"`
		SHA256Hash string `json:"sha256_hash"`
	} `json:"manifest"`
	Contents json.RawMessage `json:"contents"`
}

type bundlesPayload struct {
	Type     string   `json:"type"`
	Bundles  []bundle `json:"bundles"`
	NotFound []string `json:"not_found"`
	Deferred []string `json:"deferred"`
}

func rids(t *testing.T, addr string, types ...string) map[string]int {
	t.Helper()
	var p ridsPayload
	if code := koi(t, addr, "/rids/fetch", map[string]any{"type": "fetch_rids", "rid_types": types}, &p); code != http.StatusOK {
		t.Fatalf("rids/fetch: status %d", code)
	}
	out := map[string]int{}
	for _, r := range p.Rids {
		out[r]++
	}
	return out
}

// endOffsets sums the end offsets of topic: how many records it holds.
func endOffsets(t *testing.T, kafka, topic string) int64 {
	t.Helper()
	var sum int64
	for _, o := range topicstest.EndOffsets(t, kafka, topic) {
		sum += o
	}
	return sum
}

// drained reports whether every stage group has committed the end of its
// input topic and the projection has applied the whole events topic.
func drained(t *testing.T, n *node) bool {
	t.Helper()
	return drainedWith(t, n, "koistream.")
}

// drainedWith is drained for a node whose topics have the given prefix.
func drainedWith(t *testing.T, n *node, prefix string) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	for group, topic := range map[string]string{prefix + "stage.ingest": prefix + "raw", prefix + "stage.ridify": prefix + "observed"} {
		lags, err := adm.Lag(ctx, group)
		if err != nil {
			return false
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false
		}
		committed := map[int32]int64{}
		for _, l := range lags.Sorted() {
			for _, pl := range l.Lag.Sorted() {
				if pl.Topic == topic {
					committed[pl.Partition] = pl.Commit.At
				}
			}
		}
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 && committed[o.Partition] < o.Offset {
				ok = false
			}
		})
		if !ok {
			return false
		}
	}
	return metricValue(t, n.http, "koistream_projection_lag") == 0
}

// metricValue returns the sum of a metric's samples on /metrics, or -1 if
// it is absent.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		var v float64
		fields := strings.Fields(line)
		if _, err := fmt.Sscan(fields[len(fields)-1], &v); err == nil {
			sum += v
			found = true
		}
	}
	if !found {
		return -1
	}
	return sum
}

// runBinary runs a one-shot koistream command and returns its output.
func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	return string(out), err
}
