package webhook_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/httpjson"
	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/topics/topicstest"
)

// rawRequest is the bytes of a POST of body with header, its
// Content-Length set to contentLength (-1: chunked, the body framed by the
// caller), without the body.
func rawHead(header http.Header, contentLength int) string {
	var b strings.Builder
	b.WriteString("POST /github/webhook HTTP/1.1\r\nHost: koistream\r\n")
	if contentLength >= 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", contentLength)
	} else {
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	_ = header.Write(&b)
	b.WriteString("\r\n")
	return b.String()
}

// exchange writes head and body on a new connection to srv, runs then (if
// any), and reads the answer within 10s.
func exchange(addr, head string, body []byte, then func(*net.TCPConn)) (response, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return response{}, err
	}
	defer c.Close()
	if _, err := c.Write(append([]byte(head), body...)); err != nil {
		return response{}, err
	}
	if then != nil {
		then(c.(*net.TCPConn))
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return response{}, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}, err
}

func addrOf(srv *httptest.Server) string { return srv.Listener.Addr().String() }

// TestHandlerHalfClosedClient: a client that half-closes its connection
// after sending a complete delivery still reads the truth: 202, and the
// record is stored. (net/http cancels the request's context when it reads
// the end of the connection; the append must not depend on it.)
func TestHandlerHalfClosedClient(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	ping := readTestdata(t, "ping.json")
	tests := []struct {
		name    string
		chunked bool
	}{
		{"content-length", false},
		{"chunked", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topic := newTopic(t, addr)
			srv := serve(t, baseConfig(topic, pub))
			h := githubHeaders("ping", "half-closed-"+tc.name, "application/json", testSecret, ping)
			head, body := rawHead(h, len(ping)), ping
			if tc.chunked {
				head = rawHead(h, -1)
				body = fmt.Appendf(nil, "%x\r\n%s\r\n0\r\n\r\n", len(ping), ping)
			}
			r, err := exchange(addrOf(srv), head, body, func(c *net.TCPConn) { _ = c.CloseWrite() })
			if err != nil {
				t.Fatal(err)
			}
			if r.status != http.StatusAccepted {
				t.Fatalf("status = %d, want 202; body %s", r.status, r.body)
			}
			if rec := consume(t, addr, topic, 1)[0]; !bytes.Equal(rec.Value, ping) {
				t.Errorf("stored %q, want the body sent", rec.Value)
			}
		})
	}
}

// TestHandlerErrorDetailsInClientTerms: every refusal says what is wrong
// with the request, never Go's error text, addresses or package names.
func TestHandlerErrorDetailsInClientTerms(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	ping := readTestdata(t, "ping.json")

	// A server whose ReadTimeout ends a stalled body: the handler alone,
	// without the node's body guard, must still describe it.
	topic := newTopic(t, addr)
	h, err := webhook.New(baseConfig(topic, pub))
	if err != nil {
		t.Fatal(err)
	}
	slow := httptest.NewUnstartedServer(h)
	slow.Config.ReadTimeout = 300 * time.Millisecond
	slow.Start()
	t.Cleanup(slow.Close)
	srv := serve(t, baseConfig(topic, pub))

	signed := func(body []byte, edit func(http.Header)) http.Header {
		hd := githubHeaders("ping", "details-1", "application/json", testSecret, body)
		if edit != nil {
			edit(hd)
		}
		return hd
	}
	notJSON := []byte(`{"zen": nope}`)
	form := []byte("payload=%7Bnope")
	tests := []struct {
		name       string
		srv        *httptest.Server
		head       string
		body       []byte
		then       func(*net.TCPConn)
		wantStatus int
		wantCode   string
		wantDetail string
	}{
		{"stalled body", slow, rawHead(signed(ping, nil), len(ping)), ping[:10], nil,
			http.StatusRequestTimeout, "body_timeout", "the request body was not received completely in time (10 of " + strconv.Itoa(len(ping)) + " bytes arrived)"},
		{"body cut short", srv, rawHead(signed(ping, nil), len(ping)), ping[:10], func(c *net.TCPConn) { _ = c.CloseWrite() },
			http.StatusBadRequest, "incomplete_body", "the connection ended after 10 bytes of the body, before the " + strconv.Itoa(len(ping)) + " its Content-Length declares"},
		{"chunked body cut short", srv, rawHead(signed(ping, nil), -1), []byte("5\r\nhello\r\n"), func(c *net.TCPConn) { _ = c.CloseWrite() },
			http.StatusBadRequest, "incomplete_body", "the connection ended before the last chunk of the body (5 bytes arrived)"},
		{"body not JSON", srv, rawHead(signed(notJSON, nil), len(notJSON)), notJSON, nil,
			http.StatusBadRequest, "invalid_payload", "the body is not a JSON webhook payload: payload is not valid JSON: invalid character 'o' in literal null (expecting 'u') at byte 10"},
		{"form payload not JSON", srv, rawHead(signed(form, func(h http.Header) { h.Set("Content-Type", "application/x-www-form-urlencoded") }), len(form)), form, nil,
			http.StatusBadRequest, "invalid_payload", "the payload form field is not a JSON webhook payload: payload is not valid JSON: invalid character 'n' looking for beginning of object key string at byte 2"},
		{"unsupported content type", srv, rawHead(signed(ping, func(h http.Header) { h.Set("Content-Type", "text/plain") }), len(ping)), ping, nil,
			http.StatusUnsupportedMediaType, "unsupported_media_type", `Content-Type "text/plain" is not accepted: GitHub delivers application/json or application/x-www-form-urlencoded`},
		{"no content type", srv, rawHead(signed(ping, func(h http.Header) { h.Del("Content-Type") }), len(ping)), ping, nil,
			http.StatusUnsupportedMediaType, "unsupported_media_type", "the Content-Type header is missing: GitHub delivers application/json or application/x-www-form-urlencoded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := exchange(addrOf(tc.srv), tc.head, tc.body, tc.then)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			code, detail := errorBody(t, r)
			if code != tc.wantCode || detail != tc.wantDetail {
				t.Errorf("error %q detail %q,\nwant %q detail %q", code, detail, tc.wantCode, tc.wantDetail)
			}
			for _, leak := range []string{"127.0.0.1", "tcp", "i/o timeout", "github:", "EOF", "Go "} {
				if strings.Contains(detail, leak) {
					t.Errorf("detail %q gives away %q", detail, leak)
				}
			}
		})
	}
	if n := endOffsetSum(t, addr, topic); n != 0 {
		t.Errorf("raw topic holds %d records after refused deliveries, want 0", n)
	}
}

// TestHandlerRefusesBeforeReadingTheBody: a request without a signature,
// with a malformed one, or declaring a body over the limit is refused from
// its headers alone: the answer comes although the client never sends the
// body (the probe's 64 unsigned 25 MiB bodies were read whole first).
func TestHandlerRefusesBeforeReadingTheBody(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	topic := newTopic(t, addr)
	srv := serve(t, baseConfig(topic, pub))
	cfgNoSecret := baseConfig(topic, pub)
	cfgNoSecret.Secrets = nil
	noSecret := serve(t, cfgNoSecret)
	ping := readTestdata(t, "ping.json")
	hdr := func(edit func(http.Header)) http.Header {
		h := githubHeaders("ping", "early-1", "application/json", testSecret, ping)
		edit(h)
		return h
	}
	hexSig := strings.TrimPrefix(webhook.Sign([]byte(testSecret), ping), "sha256=")
	tests := []struct {
		name          string
		srv           *httptest.Server
		header        http.Header
		contentLength int
		wantStatus    int
		wantCode      string
		wantDetail    string
	}{
		{"no signature", srv, hdr(func(h http.Header) { h.Del("X-Hub-Signature-256") }), testMaxBody,
			401, "missing_signature", "X-Hub-Signature-256 header is required"},
		{"sha1 signature", srv, hdr(func(h http.Header) { h.Set("X-Hub-Signature-256", "sha1="+hexSig[:40]) }), testMaxBody,
			401, "malformed_signature", `X-Hub-Signature-256 must be "sha256=" followed by 64 hexadecimal digits`},
		{"short signature", srv, hdr(func(h http.Header) { h.Set("X-Hub-Signature-256", "sha256="+hexSig[:63]) }), testMaxBody,
			401, "malformed_signature", "64 hexadecimal digits"},
		{"not hex", srv, hdr(func(h http.Header) { h.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("z", 64)) }), testMaxBody,
			401, "malformed_signature", "64 hexadecimal digits"},
		{"Content-Length over the limit", srv, hdr(func(http.Header) {}), testMaxBody + 1,
			413, "payload_too_large", fmt.Sprintf("the body is %d bytes long; at most %d are accepted", testMaxBody+1, testMaxBody)},
		{"25 MiB unsigned", srv, hdr(func(h http.Header) { h.Del("X-Hub-Signature-256") }), 25 << 20,
			413, "payload_too_large", "at most 4096 are accepted"},
		{"no secret configured", noSecret, hdr(func(http.Header) {}), testMaxBody,
			401, "no_secret_configured", "cannot verify any delivery"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r, err := exchange(addrOf(tc.srv), rawHead(tc.header, tc.contentLength), nil, nil)
			if err != nil {
				t.Fatalf("%v (the handler waited for the body)", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("answered after %s", took)
			}
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			if code, detail := errorBody(t, r); code != tc.wantCode || !strings.Contains(detail, tc.wantDetail) {
				t.Errorf("error %q detail %q, want %q saying %q", code, detail, tc.wantCode, tc.wantDetail)
			}
		})
	}
}

// TestHandlerBodyBudget: bodies in flight share a memory budget. A request
// whose declared body, or a chunked body's growth, does not fit is
// answered 503 with Retry-After at once; once the budget is free again the
// same delivery is taken.
func TestHandlerBodyBudget(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	topic := newTopic(t, addr)
	cfg := baseConfig(topic, pub)
	cfg.BodyBudget = testMaxBody + 10
	h, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ping := readTestdata(t, "ping.json")
	pingHeader := githubHeaders("ping", "budget-1", "application/json", testSecret, ping)

	// A signed upload of testMaxBody bytes that stalls holds its bytes of
	// the budget.
	big := bytes.Repeat([]byte(" "), testMaxBody)
	stalled, err := net.Dial("tcp", addrOf(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := io.WriteString(stalled, rawHead(githubHeaders("ping", "budget-0", "application/json", testSecret, big), len(big))); err != nil {
		t.Fatal(err)
	}
	chunked := fmt.Appendf(nil, "%x\r\n%s\r\n0\r\n\r\n", len(ping), ping)
	tests := []struct {
		name string
		head string
		body []byte
	}{
		{"declared body does not fit", rawHead(pingHeader, len(ping)), ping},
		{"chunked body does not fit", rawHead(pingHeader, -1), chunked},
	}
	// Nothing is sent until the stalled upload's handler has reserved its
	// bytes: a delivery sent before could take the budget first, have the
	// stalled upload refused, and be taken itself, as could every delivery
	// after it.
	topicstest.WaitFor(t, 30*time.Second, "the stalled upload holds the budget", func() bool {
		return webhook.BudgetHeld(h) == testMaxBody
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r, err := exchange(addrOf(srv), tc.head, tc.body, nil)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("answered after %s", took)
			}
			if r.status != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503; body %s", r.status, r.body)
			}
			if ra := r.header.Get("Retry-After"); ra != "1" {
				t.Errorf("Retry-After = %q, want 1", ra)
			}
			code, detail := errorBody(t, r)
			if code != "over_budget" || !strings.Contains(detail, fmt.Sprintf("the node already holds webhook bodies close to its budget of %d bytes; retry", cfg.BodyBudget)) {
				t.Errorf("error %q detail %q", code, detail)
			}
		})
	}
	if n := endOffsetSum(t, addr, topic); n != 0 {
		t.Fatalf("raw topic holds %d records, want 0", n)
	}
	if held := webhook.BudgetHeld(h); held != testMaxBody {
		t.Fatalf("the budget holds %d bytes after the refusals, want the stalled upload's %d", held, testMaxBody)
	}
	stalled.Close() // the stalled upload gives its bytes back
	topicstest.WaitFor(t, 30*time.Second, "the stalled upload's bytes given back", func() bool {
		return webhook.BudgetHeld(h) == 0
	})
	r, err := exchange(addrOf(srv), tests[0].head, tests[0].body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusAccepted {
		t.Fatalf("once the budget is free: status = %d, want 202; body %s", r.status, r.body)
	}
}

// TestHandlerDeliveryAndEventBounds: a delivery id longer than
// github.MaxDeliveryLen and an event name GitHub never sends are refused
// with 400 and a reason naming the header.
func TestHandlerDeliveryAndEventBounds(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	topic := newTopic(t, addr)
	srv := serve(t, baseConfig(topic, pub))
	ping := readTestdata(t, "ping.json")
	tests := []struct {
		name, event, delivery, wantDetail string
	}{
		{"delivery id at the bound", "ping", strings.Repeat("d", 128), ""},
		{"delivery id of 129 bytes", "ping", strings.Repeat("d", 129), "X-GitHub-Delivery is 129 bytes long; at most 128 are accepted (GitHub's delivery ids are 36-character GUIDs)"},
		{"delivery id of 60 KB", "ping", strings.Repeat("d", 60<<10), "X-GitHub-Delivery is 61440 bytes long; at most 128 are accepted"},
		{"event ../../etc", "../../etc", "ev-1", `X-GitHub-Event "../../etc" has "." at byte 0`},
		{"event a b/c:d", "a b/c:d", "ev-2", `X-GitHub-Event "a b/c:d" has " " at byte 1`},
		{"event of 10 KB", strings.Repeat("e", 10<<10), "ev-3", "is longer than 64 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := send(t, testClient, http.MethodPost, srv.URL, githubHeaders(tc.event, tc.delivery, "application/json", testSecret, ping), ping)
			if tc.wantDetail == "" {
				if r.status != http.StatusAccepted {
					t.Fatalf("status = %d, want 202; body %s", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %.300s", r.status, r.body)
			}
			code, detail := errorBody(t, r)
			if code != "invalid_header" || !strings.Contains(detail, tc.wantDetail) {
				t.Errorf("error %q detail %.300q, want invalid_header saying %q", code, detail, tc.wantDetail)
			}
			if len(r.body) > 400 {
				t.Errorf("answer is %d bytes: it repeats the value", len(r.body))
			}
		})
	}
}

// TestHandlerEarlyRefusalsAreReadable: clients that send large bodies the
// handler refuses from their headers alone (over the limit, or unsigned),
// many at once, each read the JSON refusal, never a reset connection:
// Go's client, which reads the answer while it still sends, and clients
// that read only once they have sent the whole body (as Python's requests
// does); served alone and under the node's body guard. The handler
// discards the rest of such a body before the connection closes: closed
// with the body unread, the connection was reset, and the client's write,
// often its read of the answer too, failed with "connection reset by
// peer".
func TestHandlerEarlyRefusalsAreReadable(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	topic := newTopic(t, addr)
	// Larger than loopback's socket buffers hold, so that the clients are
	// still sending when the answer comes.
	big := bytes.Repeat([]byte(" "), 16<<20)
	signed := githubHeaders("ping", "early-big", "application/json", testSecret, big)
	unsigned := signed.Clone()
	unsigned.Del("X-Hub-Signature-256")

	for _, guarded := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "guarded"}[guarded], func(t *testing.T) {
			t.Parallel()
			start := func(cfg webhook.Config) string {
				h, err := webhook.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				var handler http.Handler = h
				if guarded {
					guard := &httpjson.BodyGuard{Idle: 10 * time.Second, Total: time.Minute, Grace: time.Second}
					handler = guard.Handler(h)
				}
				srv := httptest.NewServer(handler)
				t.Cleanup(srv.Close)
				return srv.URL + "/github/webhook"
			}
			tooLarge := start(baseConfig(topic, pub))
			cfg := baseConfig(topic, pub)
			cfg.MaxBody = webhook.DefaultMaxBody
			unsignedTaken := start(cfg)
			client := &http.Client{Transport: &http.Transport{}, Timeout: time.Minute}
			t.Cleanup(client.CloseIdleConnections)

			check := func(status int, header http.Header, b []byte, wantStatus int, wantCode string) error {
				var e struct{ Error, Detail string }
				if status != wantStatus || header.Get("Content-Type") != "application/json" ||
					json.Unmarshal(b, &e) != nil || e.Error != wantCode || e.Detail == "" {
					return fmt.Errorf("status %d %s %q, want %d with error %q", status, header.Get("Content-Type"), b, wantStatus, wantCode)
				}
				return nil
			}

			const goClients, sendFirstClients = 20, 4
			errs := make(chan error, goClients+sendFirstClients)
			var wg sync.WaitGroup
			for i := range goClients + sendFirstClients {
				url, header, wantStatus, wantCode := tooLarge, signed, http.StatusRequestEntityTooLarge, "payload_too_large"
				if i%2 == 1 {
					url, header, wantStatus, wantCode = unsignedTaken, unsigned, http.StatusUnauthorized, "missing_signature"
				}
				if i >= goClients {
					wg.Go(func() {
						// The whole request, then the answer.
						u, _ := neturl.Parse(url)
						head := strings.Replace(rawHead(header, len(big)), "POST /github/webhook", "POST "+u.Path, 1)
						c, err := net.Dial("tcp", u.Host)
						if err != nil {
							errs <- err
							return
						}
						defer c.Close()
						_ = c.SetDeadline(time.Now().Add(time.Minute))
						if _, err := c.Write(append([]byte(head), big...)); err != nil {
							errs <- fmt.Errorf("sending the whole body first: %w", err)
							return
						}
						resp, err := http.ReadResponse(bufio.NewReader(c), nil)
						if err != nil {
							errs <- fmt.Errorf("sending the whole body first: no answer: %w", err)
							return
						}
						defer resp.Body.Close()
						b, err := io.ReadAll(resp.Body)
						if err != nil {
							errs <- fmt.Errorf("sending the whole body first: answer %d cut short: %w", resp.StatusCode, err)
							return
						}
						if err := check(resp.StatusCode, resp.Header, b, wantStatus, wantCode); err != nil {
							errs <- fmt.Errorf("sending the whole body first: %w", err)
						}
					})
					continue
				}
				wg.Go(func() {
					req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(big))
					if err != nil {
						errs <- err
						return
					}
					req.Header = header.Clone()
					resp, err := client.Do(req)
					if err != nil {
						errs <- fmt.Errorf("no answer: %w", err)
						return
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					if err != nil {
						errs <- fmt.Errorf("answer %d cut short: %w", resp.StatusCode, err)
						return
					}
					if err := check(resp.StatusCode, resp.Header, b, wantStatus, wantCode); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

var _ = errors.New
