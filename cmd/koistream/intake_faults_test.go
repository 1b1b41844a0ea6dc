package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline/webhook"
	ghwire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/raw"
)

// The HTTP intake's faults found by a probe (issue 10), each through the
// real binary over real connections.

// rawAnswer is an answer read off a raw connection.
type rawAnswer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// rawExchange writes head and body on a new connection to addr, runs then
// (if any) on it, and reads the answer within wait.
func rawExchange(addr, head string, body []byte, then func(*net.TCPConn), wait time.Duration) rawAnswer {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return rawAnswer{err: err}
	}
	defer c.Close()
	if _, err := c.Write(append([]byte(head), body...)); err != nil {
		return rawAnswer{err: err}
	}
	if then != nil {
		then(c.(*net.TCPConn))
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return rawAnswer{err: fmt.Errorf("no answer within %s: %w", wait, err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawAnswer{resp.StatusCode, resp.Header, b, err}
}

// webhookHead is the request line and headers of a delivery of d's body
// signed with secret ("" for none), declaring contentLength bytes.
func webhookHead(d delivery, secret string, contentLength int, edit func(http.Header)) string {
	h := http.Header{}
	h.Set("Content-Type", d.contentType)
	h.Set("X-GitHub-Event", d.event)
	h.Set("X-GitHub-Delivery", d.id)
	h.Set("User-Agent", "GitHub-Hookshot/faults")
	if secret != "" {
		h.Set("X-Hub-Signature-256", webhook.Sign([]byte(secret), d.body))
	}
	if edit != nil {
		edit(h)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "POST /github/webhook HTTP/1.1\r\nHost: koistream\r\nContent-Length: %d\r\n", contentLength)
	_ = h.Write(&b)
	b.WriteString("\r\n")
	return b.String()
}

// jsonError checks that a is a JSON {"error","detail"} answer in the
// client's terms and returns its fields.
func jsonError(t *testing.T, a rawAnswer) (code, detail string) {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json; body %.200q", ct, a.body)
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	var e struct {
		Error  *string `json:"error"`
		Detail *string `json:"detail"`
	}
	if err := dec.Decode(&e); err != nil || e.Error == nil || e.Detail == nil || *e.Detail == "" {
		t.Fatalf("body %.300q is not {\"error\",\"detail\"}: %v", a.body, err)
	}
	for _, leak := range []string{"127.0.0.1", "tcp", "i/o timeout", "github:", "Go struct", "unexpected EOF"} {
		if strings.Contains(*e.Detail, leak) {
			t.Errorf("detail %q gives away %q", *e.Detail, leak)
		}
	}
	return *e.Error, *e.Detail
}

// TestIntakeAnswersEveryErrorInJSON: every refusal of the node's HTTP
// listener, whether a route, net/http's parser or the webhook decided it,
// is JSON saying what is wrong in the client's terms, and nothing refused
// is stored. Requests that must be refused from their headers get their
// answer although they never send their body.
func TestIntakeAnswersEveryErrorInJSON(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir(), "--partitions", "1")
	good := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	withID := func(id string) delivery { d := good; d.id = id; return d }
	withEvent := func(e string) delivery { d := good; d.event = e; return d }
	notJSON := good
	notJSON.body = []byte(`{"action": opened}`)

	type req struct {
		head string
		body []byte
	}
	signed := func(d delivery) req { return req{webhookHead(d, testSecret, len(d.body), nil), d.body} }
	plain := func(head string) req { return req{head, nil} }
	tests := []struct {
		name       string
		req        req
		wantStatus int
		wantCode   string
		wantDetail string
	}{
		{"trailing slash", plain("POST /github/webhook/ HTTP/1.1\r\nHost: k\r\nContent-Length: 0\r\n\r\n"),
			404, "not_found", `nothing is served at "/github/webhook/"; did you mean "/github/webhook"`},
		{"unknown path", plain("GET /nope HTTP/1.1\r\nHost: k\r\n\r\n"), 404, "not_found", `nothing is served at "/nope"`},
		{"POST /healthz", plain("POST /healthz HTTP/1.1\r\nHost: k\r\nContent-Length: 0\r\n\r\n"),
			405, "method_not_allowed", `POST is not allowed on "/healthz"; allowed: GET, HEAD`},
		{"GET /github/webhook", plain("GET /github/webhook HTTP/1.1\r\nHost: k\r\n\r\n"), 405, "method_not_allowed", "webhooks are delivered with POST"},
		{"headers of 100 KB", plain("GET /healthz HTTP/1.1\r\nHost: k\r\nX-Big: " + strings.Repeat("b", 100<<10) + "\r\n\r\n"),
			431, "headers_too_large", "the request line and headers are larger than 65536 bytes"},
		{"conflicting Content-Lengths", plain("POST /github/webhook HTTP/1.1\r\nHost: k\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
			400, "malformed_request", "not valid HTTP/1.1"},
		{"no Host header", plain("GET /healthz HTTP/1.1\r\n\r\n"), 400, "malformed_request", "missing required Host header"},
		{"Transfer-Encoding gzip", plain("POST /github/webhook HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: gzip\r\n\r\n"),
			501, "unsupported_transfer_encoding", "Transfer-Encoding is not supported"},
		{"event ../../etc", signed(withEvent("../../etc")), 400, "invalid_header", `X-GitHub-Event "../../etc" has "." at byte 0`},
		{"event a b/c:d", signed(withEvent("a b/c:d")), 400, "invalid_header", `X-GitHub-Event "a b/c:d" has " " at byte 1`},
		{"event of 10 KB", signed(withEvent(strings.Repeat("e", 10<<10))), 400, "invalid_header", "is longer than 64 bytes"},
		{"delivery id of 129 bytes", signed(withID(strings.Repeat("d", 129))), 400, "invalid_header",
			"X-GitHub-Delivery is 129 bytes long; at most 128 are accepted"},
		{"delivery id of 60 KB", signed(withID(strings.Repeat("d", 60<<10))), 400, "invalid_header", "X-GitHub-Delivery is 61440 bytes long"},
		{"delivery id of 500 KB", signed(withID(strings.Repeat("d", 500<<10))), 431, "headers_too_large", "larger than 65536 bytes"},
		{"body not JSON", signed(notJSON), 400, "invalid_payload", "the body is not a JSON webhook payload: payload is not valid JSON: invalid character 'o'"},
		// Declared but never sent: the answer must not wait for the body.
		{"unsigned 25 MiB", req{webhookHead(good, "", 25<<20, nil), nil}, 401, "missing_signature", "X-Hub-Signature-256 header is required"},
		{"malformed signature", req{webhookHead(good, testSecret, 25<<20, func(h http.Header) { h.Set("X-Hub-Signature-256", "sha256=abc") }), nil},
			401, "malformed_signature", "64 hexadecimal digits"},
		{"over 25 MiB", req{webhookHead(good, testSecret, 25<<20+1, nil), nil}, 413, "payload_too_large", "at most 26214400 are accepted"},
	}
	// Webhook records only: the node publishes its own KOI-net profile
	// into the raw topic at start, which may land during the test.
	before := len(webhookKeys(t, n.kafka))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := rawExchange(n.http, tc.req.head, tc.req.body, nil, 10*time.Second)
			if a.err != nil {
				t.Fatal(a.err)
			}
			if a.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %.300q", a.status, tc.wantStatus, a.body)
			}
			code, detail := jsonError(t, a)
			if code != tc.wantCode || !strings.Contains(detail, tc.wantDetail) {
				t.Errorf("error %q detail %.300q, want %q saying %q", code, detail, tc.wantCode, tc.wantDetail)
			}
		})
	}
	t.Cleanup(func() {
		if after := len(webhookKeys(t, n.kafka)); after != before {
			t.Errorf("raw topic's deliveries grew from %d to %d on refused requests", before, after)
		}
	})
}

// TestIntakeHalfClosedClientGetsTheTruth: a client that half-closes its
// connection after a complete delivery reads 202, and the delivery is in
// the log (it used to read 503 "could not be stored" for a stored record).
func TestIntakeHalfClosedClientGetsTheTruth(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir(), "--partitions", "1")
	d := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	a := rawExchange(n.http, webhookHead(d, testSecret, len(d.body), nil), d.body, func(c *net.TCPConn) { _ = c.CloseWrite() }, 10*time.Second)
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.status != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", a.status, a.body)
	}
	keys := webhookKeys(t, n.kafka)
	if keys[d.id] != 1 || len(keys) != 1 {
		t.Errorf("raw topic holds %v, want %s once", keys, d.id)
	}
	n.stop()
}

// TestIntakeBodyBudget: signed uploads that declare 25 MiB and stall hold
// the node's body budget (256 MiB by default); the one that no longer fits
// is answered 503 over_budget with Retry-After at once, not left waiting.
func TestIntakeBodyBudget(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir(), "--partitions", "1")
	d := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	const size = 25 << 20
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// The signature is well formed, so each handler reserves 25 MiB and
	// waits for a body that never comes.
	stall := func() {
		c, err := net.Dial("tcp", n.http)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, webhookHead(d, testSecret, size, nil)); err != nil {
			t.Fatal(err)
		}
	}
	for range 256 / 25 {
		stall()
	}
	// Until every stalled upload's handler has reserved its 25 MiB, the
	// probe fits and waits for its body too: it gives up after a second
	// (its reservation goes when its connection does) and tries again.
	// A probe that reserved first has a stalled upload refused instead:
	// one more stalled upload per try makes up for it (any beyond the
	// budget are refused). Once the budget is held, the answer comes at
	// once.
	var a rawAnswer
	for deadline := time.Now().Add(30 * time.Second); ; {
		a = rawExchange(n.http, webhookHead(d, testSecret, size, nil), nil, nil, time.Second)
		if a.err == nil || time.Now().After(deadline) {
			break
		}
		stall()
	}
	if a.err != nil {
		t.Fatalf("%v: the request waited instead of being refused", a.err)
	}
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", a.status, a.body)
	}
	if ra := a.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1", ra)
	}
	if code, detail := jsonError(t, a); code != "over_budget" || !strings.Contains(detail, "budget of 268435456 bytes") {
		t.Errorf("error %q detail %q, want over_budget naming the budget", code, detail)
	}
	// A small delivery still fits beside them.
	if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
		t.Errorf("small delivery: status %d %s", code, body)
	}
}

// TestShutdownWithStalledUploads: uploads that stall halfway do not hold
// SIGTERM up: the node stops waiting for them (503 shutting_down), drains
// in seconds and exits 0, and a delivery acknowledged before the signal is
// in the log after a restart.
func TestShutdownWithStalledUploads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, dir, "--partitions", "1")
	d := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
		t.Fatalf("delivery before SIGTERM: status %d %s", code, body)
	}

	const stalled = 4
	answers := make(chan rawAnswer, stalled)
	var wg sync.WaitGroup
	for i := range stalled {
		s := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
		head := webhookHead(s, testSecret, len(s.body), nil)
		half := s.body[:len(s.body)/2]
		wg.Go(func() {
			// Headers and half the body, then nothing: the client waits
			// for its answer.
			answers <- rawExchange(n.http, head, half, nil, 30*time.Second)
		})
		_ = i
	}
	time.Sleep(time.Second) // the handlers are reading the stalled bodies

	start := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("node did not exit within 15s of SIGTERM with %d stalled uploads", stalled)
	}
	took := time.Since(start)
	if n.waitErr != nil {
		t.Fatalf("node exited with %v after %s", n.waitErr, took)
	}
	if took > 8*time.Second {
		t.Errorf("node took %s to exit, want a few seconds", took)
	}
	t.Logf("exited 0 %s after SIGTERM", took)
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.err != nil {
			t.Errorf("stalled upload: %v", a.err)
			continue
		}
		if a.status != http.StatusServiceUnavailable {
			t.Errorf("stalled upload: status = %d, want 503; body %s", a.status, a.body)
			continue
		}
		if code, detail := jsonError(t, a); code != "shutting_down" || !strings.Contains(detail, "the node is shutting down and stopped waiting for the rest of the request body") {
			t.Errorf("stalled upload: error %q detail %q", code, detail)
		}
	}

	n2 := startNode(t, dir, "--partitions", "1")
	keys := webhookKeys(t, n2.kafka)
	if keys[d.id] != 1 || len(keys) != 1 {
		t.Errorf("raw topic holds %v after the restart, want %s once", keys, d.id)
	}
	n2.stop()
}

// webhookKeys counts the keys of the webhook deliveries in the raw topic,
// leaving out the node's own KOI-net records (its profile, published at
// start).
func webhookKeys(t *testing.T, kafka string) map[string]int {
	t.Helper()
	keys := map[string]int{}
	consumeAll(t, kafka, "koistream.raw", func(r *kgo.Record) {
		for _, h := range r.Headers {
			if h.Key == raw.HeaderSource && string(h.Value) == ghwire.SourceKind {
				keys[string(r.Key)]++
			}
		}
	})
	return keys
}
