package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/publish"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/topicstest"
)

// testPing is the stream listener's ping interval in these tests: short, so
// the repeat stillalive comes quickly.
const testPing = 300 * time.Millisecond

// startStreamsNode starts a node with the stream listener on a free port,
// pinging every testPing; edit changes the configuration first.
func startStreamsNode(t *testing.T, edit func(*pipeline.Config)) *pipeline.Node {
	t.Helper()
	cfg := pipeline.Config{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0", Partitions: 2,
		Streams: pipeline.StreamsConfig{Listen: "127.0.0.1:0", PingInterval: testPing},
		Logger:  slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&cfg)
	}
	n, err := pipeline.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	if n.PubsubAddr() == "" || n.PubsubAddr() == n.Addr() {
		t.Fatalf("pubsub address %q (http %q)", n.PubsubAddr(), n.Addr())
	}
	return n
}

// rawConn is a raw HTTP/1.1 exchange on its own TCP connection.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	head string // status line and headers
}

// rawRequest sends req (a request line and headers; the blank line and
// body are added) and reads the answer's head.
func rawRequest(t *testing.T, addr, req, body string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var head strings.Builder
	for {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer's head: %v (so far %q)", err, head.String())
		}
		if line == "\r\n" {
			break
		}
		head.WriteString(line)
	}
	rc.head = head.String()
	return rc
}

func (rc *rawConn) status() int {
	f := strings.Fields(rc.head)
	if len(f) < 2 {
		rc.t.Fatalf("no status line: %q", rc.head)
	}
	s, _ := strconv.Atoi(f[1])
	return s
}

func (rc *rawConn) header(name string) string {
	for _, line := range strings.Split(rc.head, "\r\n")[1:] {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// chunk reads one chunk and returns its size line (without CRLF) and its
// payload; io.EOF at the last chunk.
func (rc *rawConn) chunk(wait time.Duration) (string, []byte, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(wait))
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return "", nil, err
	}
	if !strings.HasSuffix(line, "\r\n") {
		return "", nil, fmt.Errorf("size line %q without CRLF", line)
	}
	size := strings.TrimSuffix(line, "\r\n")
	n, err := strconv.ParseInt(size, 16, 64)
	if err != nil {
		return "", nil, fmt.Errorf("size line %q: %w", size, err)
	}
	p := make([]byte, n+2)
	if _, err := io.ReadFull(rc.r, p); err != nil {
		return "", nil, err
	}
	if string(p[n:]) != "\r\n" {
		return "", nil, fmt.Errorf("chunk %q not followed by CRLF", p)
	}
	if n == 0 {
		return size, nil, io.EOF
	}
	return size, p[:n], nil
}

// errorBody reads a JSON error answer.
func (rc *rawConn) errorBody() (code, detail string) {
	n, _ := strconv.Atoi(rc.header("Content-Length"))
	b := make([]byte, n)
	if _, err := io.ReadFull(rc.r, b); err != nil {
		rc.t.Fatalf("error body: %v", err)
	}
	var e struct{ Error, Detail string }
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || e.Detail == "" {
		rc.t.Fatalf("error body %q is not {error, detail}: %v", b, err)
	}
	return e.Error, e.Detail
}

// get opens a stream on path with the extra header lines.
func get(t *testing.T, addr, path string, headers ...string) *rawConn {
	t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: test\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	return rawRequest(t, addr, req, "")
}

// publishTo PUTs body to path over net/http and returns the status, body
// and headers.
func publishTo(t *testing.T, addr, path, body string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

var stillaliveRE = regexp.MustCompile(`^\{"stillalive": [0-9]+\.[0-9]{6}\}$`)
var sseStillaliveRE = regexp.MustCompile(`^: stillalive [0-9]+\.[0-9]{6}\n\n$`)

// pubsubObject checks the four pubsub members of an object shown at path
// and returns its cursor.
func pubsubObject(t *testing.T, obj []byte, path string) string {
	t.Helper()
	var o struct {
		Path      string   `json:"pubsub_path"`
		Topics    []string `json:"pubsub_topics"`
		Timestamp *float64 `json:"pubsub_timestamp"`
		Cursor    string   `json:"pubsub_cursor"`
	}
	if err := json.Unmarshal(obj, &o); err != nil {
		t.Fatalf("object %q: %v", obj, err)
	}
	for _, m := range []string{"pubsub_path", "pubsub_topics", "pubsub_timestamp", "pubsub_cursor"} {
		if c := bytes.Count(obj, []byte(`"`+m+`"`)); c != 1 {
			t.Fatalf("object %s has %s %d times, want once", obj, m, c)
		}
	}
	want := strings.Split(strings.Trim(path, "/"), "/")
	if o.Path != path || strings.Join(o.Topics, "/") != strings.Join(want, "/") || o.Timestamp == nil || o.Cursor == "" {
		t.Fatalf("object %s: pubsub members %+v, want path %s, topics %v, a timestamp and a cursor", obj, o, path, want)
	}
	return o.Cursor
}

// TestStreamFramings reads every framing byte for byte over a raw TCP
// connection: the stillalive on connect, a published object as one chunk
// with its terminator (GitPubSub "\r\n", PyPubSub "\n", svnwcsub "\n\x00",
// SSE id/data), and the stillalive again after the ping interval.
func TestStreamFramings(t *testing.T) {
	n := startStreamsNode(t, nil)
	tests := []struct {
		name, accept, agent, ct, term string
	}{
		{"gitpubsub", "application/x-gitpubsub", "", "application/x-gitpubsub", "\r\n"},
		{"pypubsub", "application/vnd.pypubsub-stream", "", "application/vnd.pypubsub-stream", "\n"},
		{"svnwcsub", "", "svnwcsub/1.14", "application/vnd.pypubsub-stream", "\n\x00"},
		{"curl default", "*/*", "curl/8.5", "application/vnd.pypubsub-stream", "\n"},
		{"sse", "text/event-stream", "", "text/event-stream", "\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/frame/" + strings.ReplaceAll(tt.name, " ", "-")
			hdrs := []string{}
			if tt.accept != "" {
				hdrs = append(hdrs, "Accept: "+tt.accept)
			}
			if tt.agent != "" {
				hdrs = append(hdrs, "User-Agent: "+tt.agent)
			}
			s := get(t, n.PubsubAddr(), path, hdrs...)
			if s.status() != 200 || !strings.HasPrefix(s.header("Content-Type"), tt.ct) || s.header("Transfer-Encoding") != "chunked" {
				t.Fatalf("head %q, want 200, %s, chunked", s.head, tt.ct)
			}
			isPing := func(p []byte) bool {
				if tt.name == "sse" {
					return sseStillaliveRE.Match(p)
				}
				body, ok := bytes.CutSuffix(p, []byte(tt.term))
				return ok && stillaliveRE.Match(body)
			}
			size, p, err := s.chunk(10 * time.Second)
			if err != nil || !isPing(p) || size != strconv.FormatInt(int64(len(p)), 16) {
				t.Fatalf("first chunk %q %q (%v), want a stillalive ending %q", size, p, err, tt.term)
			}
			marker := fmt.Sprintf("m-%d", time.Now().UnixNano())
			if st, b, _ := publishTo(t, n.PubsubAddr(), path, `{"marker": "`+marker+`", "pubsub_path": "/forged"}`); st != http.StatusAccepted {
				t.Fatalf("publish: %d %s", st, b)
			}
			for {
				_, p, err := s.chunk(30 * time.Second)
				if err != nil {
					t.Fatalf("waiting for the published object: %v", err)
				}
				if isPing(p) {
					continue
				}
				if tt.name == "sse" {
					m := regexp.MustCompile(`^id: ([A-Za-z0-9_-]+)\ndata: (\{.*\})\n\n$`).FindSubmatch(p)
					if m == nil {
						t.Fatalf("SSE event %q is not id/data", p)
					}
					if !bytes.Contains(m[2], []byte(marker)) {
						continue
					}
					if c := pubsubObject(t, m[2], path); c != string(m[1]) {
						t.Fatalf("SSE id %s, pubsub_cursor %s", m[1], c)
					}
					break
				}
				obj, ok := bytes.CutSuffix(p, []byte(tt.term))
				if !ok || bytes.ContainsAny(obj, "\r\n\x00") {
					t.Fatalf("chunk %q is not one object followed by %q", p, tt.term)
				}
				if !bytes.Contains(obj, []byte(marker)) {
					continue
				}
				pubsubObject(t, obj, path)
				if want := `{"marker":"` + marker + `","pubsub_path":"` + path + `",`; !bytes.HasPrefix(obj, []byte(want)) {
					t.Fatalf("object %s, want the object as published (its pubsub_path dropped), then the pubsub members: %s...", obj, want)
				}
				break
			}
			for {
				_, p, err := s.chunk(10 * time.Second)
				if err != nil {
					t.Fatalf("no stillalive after the ping interval: %v", err)
				}
				if isPing(p) {
					break
				}
			}
		})
	}
}

// TestPublishRefusals: every refusal of the publish intake is a JSON
// {error, detail} with its status, and puts nothing into the raw topic;
// the accepted publishes (token, chunked, multi-line) each put one record.
func TestPublishRefusals(t *testing.T) {
	const token = "s3cret-token"
	n := startStreamsNode(t, func(c *pipeline.Config) {
		c.Streams.TrustedCIDRs = []netip.Prefix{} // loopback too must send the token
		c.Streams.PublishToken = []byte(token)
		c.Streams.MaxPayload = 1024
	})
	auth := "Authorization: Bearer " + token + "\r\n"
	put := func(path, headers, body string) string {
		return fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: %d\r\n%s", path, len(body), headers)
	}
	chunked := func(path, headers, body string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n%s", path, headers)
	}
	chunkedBody := func(body string) string {
		return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	}
	big := `{"a":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name, req, body string
		status          int
		code            string
	}{
		{"no token", put("/p", "", `{}`), `{}`, 403, "untrusted"},
		{"wrong token", put("/p", "Authorization: Bearer nope\r\n", `{}`), `{}`, 403, "untrusted"},
		{"array", put("/p", auth, `[1]`), `[1]`, 400, "not_an_object"},
		{"scalar", put("/p", auth, `1`), `1`, 400, "not_an_object"},
		{"invalid", put("/p", auth, `{"a":`), `{"a":`, 400, "not_an_object"},
		{"empty", put("/p", auth, ``), ``, 400, "not_an_object"},
		{"too large", put("/p", auth, big), big, 413, "too_large"},
		{"too large chunked", chunked("/p", auth, big), chunkedBody(big), 413, "too_large"},
		{"dot dot", put("/a/../b", auth, `{}`), `{}`, 400, "bad_path"},
		{"comma", put("/a,b", auth, `{}`), `{}`, 400, "bad_path"},
		{"control", put("/a%01b", auth, `{}`), `{}`, 400, "bad_path"},
		{"long path", put("/"+strings.Repeat("a", 2000), auth, `{}`), `{}`, 414, "path_too_long"},
		{"delete", "DELETE /p HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" + auth, "", 405, "method_not_allowed"},
		{"patch", put("/p", auth, `{}`)[len("PUT"):], "", 405, "method_not_allowed"},
	}
	tests[len(tests)-1].req = "PATCH" + tests[len(tests)-1].req
	tests[len(tests)-1].body = `{}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := rawRequest(t, n.PubsubAddr(), tt.req, tt.body)
			if rc.status() != tt.status {
				t.Fatalf("status %d, want %d (%q)", rc.status(), tt.status, rc.head)
			}
			if code, _ := rc.errorBody(); code != tt.code {
				t.Fatalf("error %q, want %q", code, tt.code)
			}
		})
	}

	accepted := []struct{ name, req, body string }{
		{"token, multi-line", put("/ok/one", auth, "{\n  \"a\": 1\n}\n"), "{\n  \"a\": 1\n}\n"},
		{"token, chunked", chunked("/ok/two", auth, `{"b":2}`), chunkedBody(`{"b":2}`)},
	}
	for _, tt := range accepted {
		rc := rawRequest(t, n.PubsubAddr(), tt.req, tt.body)
		if rc.status() != http.StatusAccepted {
			t.Fatalf("%s: status %d (%q)", tt.name, rc.status(), rc.head)
		}
		b, _ := io.ReadAll(rc.r)
		var a struct {
			ID, Path  string
			Timestamp int64
		}
		if err := json.Unmarshal(b, &a); err != nil || !publish.ValidKey(a.ID) || !strings.HasPrefix(a.Path, "/ok/") ||
			strconv.FormatInt(a.Timestamp, 10) != rc.header("X-Timestamp") {
			t.Fatalf("%s: answer %s (X-Timestamp %q): %v", tt.name, b, rc.header("X-Timestamp"), err)
		}
	}
	var published []string
	for _, r := range topicstest.ReadAll(t, n.KafkaAddrs()[0], n.Topics().Raw) {
		for _, h := range r.Headers {
			if h.Key == raw.HeaderSource && string(h.Value) == publish.SourceKind {
				published = append(published, string(r.Value))
			}
		}
	}
	if len(published) != len(accepted) || published[0] != accepted[0].body || published[1] != `{"b":2}` {
		t.Fatalf("raw topic holds publishes %q, want exactly the %d accepted bodies as sent", published, len(accepted))
	}
}

// TestPublishOrder: messages published in order by one publisher to one
// path arrive in that order at every subscriber, each with the pubsub
// members.
func TestPublishOrder(t *testing.T) {
	n := startStreamsNode(t, nil)
	const path, count, subs = "/order/one", 20, 3
	seqRE := regexp.MustCompile(`"seq":([0-9]+)`)
	var wg sync.WaitGroup
	got := make([][]int, subs)
	streams := make([]*rawConn, subs)
	for i := range subs {
		streams[i] = get(t, n.PubsubAddr(), path, "Accept: application/x-gitpubsub")
		if _, _, err := streams[i].chunk(10 * time.Second); err != nil { // the stillalive: subscribed
			t.Fatal(err)
		}
	}
	for i := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(got[i]) < count {
				_, p, err := streams[i].chunk(60 * time.Second)
				if err != nil {
					return
				}
				if !bytes.Contains(p, []byte(`"pubsub_path":"`+path+`"`)) {
					continue
				}
				if m := seqRE.FindSubmatch(p); m != nil {
					v, _ := strconv.Atoi(string(m[1]))
					got[i] = append(got[i], v)
				}
			}
		}()
	}
	for i := range count {
		if st, b, _ := publishTo(t, n.PubsubAddr(), path, fmt.Sprintf(`{"seq": %d}`, i)); st != http.StatusAccepted {
			t.Fatalf("publish %d: %d %s", i, st, b)
		}
	}
	wg.Wait()
	for i, g := range got {
		if len(g) != count {
			t.Fatalf("subscriber %d got %v, want 0..%d", i, g, count-1)
		}
		for j, v := range g {
			if v != j {
				t.Fatalf("subscriber %d got %v, want 0..%d in order", i, g, count-1)
			}
		}
	}
}

// TestStreamHostilePaths: hostile subscription paths are answered (a
// stream for the valid ones, a JSON 400 or 414 for the others) and leave
// the listener serving.
func TestStreamHostilePaths(t *testing.T) {
	n := startStreamsNode(t, nil)
	tests := []struct {
		name, path string
		status     int
		code       string
	}{
		{"lua pattern", "/a(", 200, ""},
		{"percent", "/%25", 200, ""},
		{"alternatives", "/a,b/c", 200, ""},
		{"dot dot", "/a/../b", 400, "bad_path"},
		{"control", "/a%00", 400, "bad_path"},
		{"10 KB", "/" + strings.Repeat("x", 10<<10), 414, "path_too_long"},
		{"bad until", "/a?until=tomorrow", 400, "bad_until"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := get(t, n.PubsubAddr(), tt.path)
			if s.status() != tt.status {
				t.Fatalf("status %d, want %d (%q)", s.status(), tt.status, s.head)
			}
			if tt.code != "" {
				if code, _ := s.errorBody(); code != tt.code {
					t.Fatalf("error %q, want %q", code, tt.code)
				}
				return
			}
			if _, p, err := s.chunk(10 * time.Second); err != nil || !bytes.HasPrefix(p, []byte(`{"stillalive": `)) {
				t.Fatalf("first chunk %q: %v", p, err)
			}
		})
	}
	if rc := rawRequest(t, n.PubsubAddr(), "HEAD / HTTP/1.1\r\nHost: test\r\n", ""); rc.status() != 200 {
		t.Fatalf("HEAD after hostile paths: %q", rc.head)
	}
}

// TestStreamHead: HEAD answers GitPubSub's statistics headers, counting an
// open stream and the bytes the listener moved.
func TestStreamHead(t *testing.T) {
	n := startStreamsNode(t, nil)
	s := get(t, n.PubsubAddr(), "/head")
	if _, _, err := s.chunk(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	rc := rawRequest(t, n.PubsubAddr(), "HEAD /anything HTTP/1.1\r\nHost: test\r\n", "")
	if rc.status() != 200 || rc.header("Content-Length") != "0" {
		t.Fatalf("head %q, want 200 with Content-Length: 0", rc.head)
	}
	num := func(h string) int64 {
		v, err := strconv.ParseInt(rc.header(h), 10, 64)
		if err != nil {
			t.Fatalf("%s %q: %v", h, rc.header(h), err)
		}
		return v
	}
	if num("X-Uptime") < 0 || num("X-Subscribers") != 1 || num("X-Total-Connections") != 2 || num("X-Received") <= 0 || num("X-Sent") <= 0 {
		t.Fatalf("stats %q: want uptime, 1 subscriber, 2 connections, bytes both ways", rc.head)
	}
}

// TestStreamReplay: X-Fetch-Since replays by time, X-Fetch-Since-Cursor
// (any letter case) and SSE's Last-Event-ID resume right after a cursor,
// until ends the stream with the last chunk, and bad values are JSON 400s
// before any streaming.
func TestStreamReplay(t *testing.T) {
	n := startStreamsNode(t, nil)
	const path = "/replay/one"
	since := time.Now().Add(-time.Second)
	live := get(t, n.PubsubAddr(), path, "Accept: application/x-gitpubsub")
	if _, _, err := live.chunk(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if st, b, _ := publishTo(t, n.PubsubAddr(), path, fmt.Sprintf(`{"seq": %d}`, i)); st != http.StatusAccepted {
			t.Fatalf("publish %d: %d %s", i, st, b)
		}
	}
	seqRE := regexp.MustCompile(`"seq":([0-9]+)`)
	// read returns the seq numbers and cursors of the objects shown at
	// path, until want of them or the end of the stream.
	read := func(s *rawConn, want int, sse bool) (seqs []int, cursors []string, ended bool) {
		t.Helper()
		for len(seqs) < want {
			_, p, err := s.chunk(30 * time.Second)
			if err == io.EOF {
				return seqs, cursors, true
			}
			if err != nil {
				t.Fatalf("after %v: %v", seqs, err)
			}
			obj := bytes.TrimRight(p, "\r\n")
			if sse {
				_, data, ok := bytes.Cut(p, []byte("\ndata: "))
				if !ok {
					continue // a ping
				}
				obj = bytes.TrimRight(data, "\n")
			}
			if !bytes.Contains(obj, []byte(`"pubsub_path":"`+path+`"`)) {
				continue
			}
			m := seqRE.FindSubmatch(obj)
			if m == nil {
				t.Fatalf("object %s without seq", obj)
			}
			v, _ := strconv.Atoi(string(m[1]))
			seqs = append(seqs, v)
			cursors = append(cursors, pubsubObject(t, obj, path))
		}
		return seqs, cursors, false
	}
	seqs, cursors, _ := read(live, 3, false)
	if fmt.Sprint(seqs) != "[0 1 2]" {
		t.Fatalf("live: %v", seqs)
	}
	epoch := strconv.FormatFloat(float64(since.UnixMicro())/1e6, 'f', 3, 64)

	t.Run("X-Fetch-Since", func(t *testing.T) {
		s := get(t, n.PubsubAddr(), path, "X-Fetch-Since: "+epoch)
		if got, _, _ := read(s, 3, false); fmt.Sprint(got) != "[0 1 2]" {
			t.Fatalf("replayed %v, want [0 1 2]", got)
		}
	})
	t.Run("X-Fetch-Since-Cursor lower case", func(t *testing.T) {
		s := get(t, n.PubsubAddr(), path, "x-fetch-since-cursor: "+cursors[0])
		if got, _, _ := read(s, 2, false); fmt.Sprint(got) != "[1 2]" {
			t.Fatalf("resumed %v, want [1 2]", got)
		}
	})
	t.Run("SSE Last-Event-ID", func(t *testing.T) {
		s := get(t, n.PubsubAddr(), path, "Accept: text/event-stream", "Last-Event-ID: "+cursors[1])
		if got, _, _ := read(s, 1, true); fmt.Sprint(got) != "[2]" {
			t.Fatalf("resumed %v, want [2]", got)
		}
	})
	t.Run("until ends the stream", func(t *testing.T) {
		until := time.Now().UTC().Format(time.RFC3339Nano)
		s := get(t, n.PubsubAddr(), path+"?until="+until, "X-Fetch-Since: "+epoch)
		got, _, ended := read(s, 4, false)
		if fmt.Sprint(got) != "[0 1 2]" || !ended {
			t.Fatalf("got %v, ended %v; want [0 1 2] then the last chunk", got, ended)
		}
	})
	for _, tt := range []struct{ name, header, code string }{
		{"bad cursor", "X-Fetch-Since-Cursor: 795ce89e-4d51-4730-b098-ab4d0b0263df", "bad_cursor"},
		{"bad since", "X-Fetch-Since: yesterday", "bad_since"},
		{"negative since", "X-Fetch-Since: -5", "bad_since"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := get(t, n.PubsubAddr(), path, tt.header)
			if s.status() != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (%q)", s.status(), s.head)
			}
			if code, _ := s.errorBody(); code != tt.code {
				t.Fatalf("error %q, want %q", code, tt.code)
			}
		})
	}
}

// TestStreamHTTP10: an HTTP/1.0 subscriber gets the stream unchunked, the
// connection marked to close, one object per line.
func TestStreamHTTP10(t *testing.T) {
	n := startStreamsNode(t, nil)
	s := rawRequest(t, n.PubsubAddr(), "GET /old HTTP/1.0\r\n", "")
	if s.status() != 200 || s.header("Transfer-Encoding") != "" || s.header("Connection") != "close" {
		t.Fatalf("head %q, want 200, not chunked, Connection: close", s.head)
	}
	line, err := s.r.ReadString('\n')
	if err != nil || !stillaliveRE.MatchString(strings.TrimSuffix(line, "\n")) {
		t.Fatalf("first line %q: %v", line, err)
	}
}

// TestStreamCutOff: a subscriber that stops reading while the ring moves
// on past it is cut off: once it reads again it gets what was written
// before, then a final {"error":"fell behind",...,"pubsub_cursor"} object,
// then the end of the stream; resuming with that cursor works.
func TestStreamCutOff(t *testing.T) {
	n := startStreamsNode(t, func(c *pipeline.Config) {
		c.Streams.RingItems = 2
	})
	const path = "/cut/off"
	s := get(t, n.PubsubAddr(), path, "Accept: application/x-gitpubsub")
	if _, _, err := s.chunk(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Objects large enough that a few fill the socket buffers between the
	// listener and the subscriber, which does not read: the listener's
	// write blocks and the ring evicts what it has not shown yet.
	pad := strings.Repeat("x", 400<<10)
	for i := range 40 {
		if st, b, _ := publishTo(t, n.PubsubAddr(), path, fmt.Sprintf(`{"seq": %d, "pad": "%s"}`, i, pad)); st != http.StatusAccepted {
			t.Fatalf("publish %d: %d %s", i, st, b)
		}
	}
	// Wait until every object is in the events topic, so the ring has
	// moved past the blocked subscriber.
	topicstest.WaitFor(t, 120*time.Second, "40 events", func() bool {
		c := 0
		for _, r := range topicstest.ReadAll(t, n.KafkaAddrs()[0], n.Topics().Events) {
			if bytes.Contains(r.Value, []byte(`"seq":`)) {
				c++
			}
		}
		return c >= 40
	})
	var last []byte
	shown := 0
	for {
		_, p, err := s.chunk(60 * time.Second)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d objects: %v", shown, err)
		}
		if bytes.Contains(p, []byte(`"pubsub_path":"`+path+`"`)) {
			shown++
		}
		last = p
	}
	var e struct {
		Error, Detail string
		Cursor        string `json:"pubsub_cursor"`
	}
	if err := json.Unmarshal(last, &e); err != nil || e.Error != "fell behind" || e.Detail == "" || e.Cursor == "" {
		t.Fatalf("last object %.200q (%v), want the fell-behind object", last, err)
	}
	if shown >= 40 {
		t.Fatalf("%d objects shown before the cut-off, want fewer than 40", shown)
	}
	r := get(t, n.PubsubAddr(), path, "X-Fetch-Since-Cursor: "+e.Cursor)
	if r.status() != 200 {
		t.Fatalf("resuming with the cut-off cursor: %q", r.head)
	}
}
