package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/topicstest"
)

// The stream listener through the real binary: replay across a restart of
// the node, the switch-over from history to live while publishers keep
// publishing, and a thousand subscribers at once. Byte-level framing is
// tested in pipeline/streams; these read the stream as a client would,
// over a raw connection, de-chunking by hand.

// rawStream is one subscription read over a raw TCP connection.
type rawStream struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	// deadline bounds the wait for events: pings keep a stream that never
	// shows the awaited event alive, and a test must fail rather than hang.
	deadline time.Time
}

// subscribe opens GET path on addr with the extra header lines and checks
// the answer is a 200 stream.
func openRawStream(t *testing.T, addr, path string, hdr ...string) *rawStream {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + strings.Join(append(hdr, ""), "\r\n") + "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	s := &rawStream{t: t, conn: conn, br: bufio.NewReader(conn), deadline: time.Now().Add(90 * time.Second)}
	status, err := s.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("GET %s: %q %v", path, status, err)
	}
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			return s
		}
	}
}

// next returns the next chunk's data, or nil at the end of the stream.
func (s *rawStream) next() []byte {
	s.t.Helper()
	b, err := s.chunk()
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

// chunk is next for any goroutine: errors are returned.
func (s *rawStream) chunk() ([]byte, error) {
	s.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := s.br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("reading a chunk size: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(line), 16, 32)
	if err != nil {
		return nil, fmt.Errorf("chunk size %q: %w", line, err)
	}
	if n == 0 {
		return nil, nil
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(s.br, b); err != nil {
		return nil, err
	}
	return b[:n], nil
}

// streamObject is what the tests read of an event object.
type streamObject struct {
	Stillalive float64  `json:"stillalive"`
	Error      string   `json:"error"`
	Publisher  int      `json:"publisher"`
	I          int      `json:"i"`
	Path       string   `json:"pubsub_path"`
	Topics     []string `json:"pubsub_topics"`
	Timestamp  float64  `json:"pubsub_timestamp"`
	Cursor     string   `json:"pubsub_cursor"`
}

// nextEvent returns the next event object, skipping pings; ok is false at
// the end of the stream. A cut-off ("error") is returned as it is.
func (s *rawStream) nextEvent() (o streamObject, ok bool) {
	s.t.Helper()
	o, ok, err := s.event()
	if err != nil {
		s.t.Fatal(err)
	}
	return o, ok
}

// event is nextEvent for any goroutine: errors are returned.
func (s *rawStream) event() (o streamObject, ok bool, err error) {
	for {
		if time.Now().After(s.deadline) {
			return o, false, fmt.Errorf("no event within 90 s of subscribing")
		}
		b, err := s.chunk()
		if err != nil || b == nil {
			return o, false, err
		}
		o = streamObject{}
		if err := json.Unmarshal(b, &o); err != nil {
			return o, false, fmt.Errorf("object %q: %w", b, err)
		}
		if o.Path == "" && o.Error == "" {
			continue // a stillalive
		}
		return o, true, nil
	}
}

// publish PUTs body to path and returns the status.
func putMessage(t *testing.T, addr, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// readAll reads events from s until the stream ends.
func readStream(s *rawStream) []streamObject {
	var out []streamObject
	for {
		o, ok := s.nextEvent()
		if !ok {
			return out
		}
		out = append(out, o)
	}
}

func indexes(objs []streamObject) []int {
	out := make([]int, len(objs))
	for k, o := range objs {
		out[k] = o.I
	}
	return out
}

func intRange(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func untilNow() string { return "?until=" + strconv.FormatInt(time.Now().Unix()+1, 10) }

func TestStreamsReplayAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, dir)
	for i := range 30 {
		if st := putMessage(t, n.pubsub, "/replay/a", fmt.Sprintf(`{"i":%d}`, i)); st != http.StatusAccepted {
			t.Fatalf("publish %d: %d", i, st)
		}
	}
	var first []streamObject
	topicstest.WaitFor(t, 60*time.Second, "30 events in the stream", func() bool {
		first = readStream(openRawStream(t, n.pubsub, "/replay"+untilNow(), "X-Fetch-Since: 0"))
		return len(first) >= 30
	})
	if got := indexes(first); !slices.Equal(got, intRange(0, 30)) {
		t.Fatalf("history %v, want 0..29 in order", got)
	}
	n.kill9()

	n = startNode(t, dir)
	for i := 30; i < 40; i++ {
		if st := putMessage(t, n.pubsub, "/replay/a", fmt.Sprintf(`{"i":%d}`, i)); st != http.StatusAccepted {
			t.Fatalf("publish %d after the restart: %d", i, st)
		}
	}
	waitStream := func(name string, hdr string, want func([]int) bool) []streamObject {
		var got []streamObject
		topicstest.WaitFor(t, 60*time.Second, name, func() bool {
			got = readStream(openRawStream(t, n.pubsub, "/replay"+untilNow(), hdr))
			return want(indexes(got))
		})
		return got
	}
	t.Run("cursor from before the restart", func(t *testing.T) {
		got := waitStream("the rest after item 9", "X-Fetch-Since-Cursor: "+first[9].Cursor, func(g []int) bool { return len(g) >= 30 })
		if !slices.Equal(indexes(got), intRange(10, 40)) {
			t.Fatalf("after the 10th cursor: %v, want 10..39", indexes(got))
		}
	})
	t.Run("timestamp from before the restart", func(t *testing.T) {
		since := strconv.FormatFloat(first[15].Timestamp, 'f', 6, 64)
		got := waitStream("since item 15", "X-Fetch-Since: "+since, func(g []int) bool { return len(g) > 0 && g[len(g)-1] == 39 })
		if g := indexes(got); len(g) < 25 || !slices.Equal(g, intRange(g[0], 40)) || g[0] > 15 {
			t.Fatalf("since item 15's timestamp: %v, want a run ending at 39 from 15 or before", g)
		}
		for _, o := range got {
			if o.Timestamp < first[15].Timestamp {
				t.Fatalf("item %d stamped %f, before %f", o.I, o.Timestamp, first[15].Timestamp)
			}
		}
	})
	t.Run("SSE Last-Event-ID", func(t *testing.T) {
		s := openRawStream(t, n.pubsub, "/replay"+untilNow(), "Accept: text/event-stream", "Last-Event-ID: "+first[19].Cursor)
		var got []int
		var data bytes.Buffer
		for b := s.next(); b != nil; b = s.next() {
			data.Write(b)
		}
		for _, ev := range strings.Split(data.String(), "\n\n") {
			var id, payload string
			for _, line := range strings.Split(ev, "\n") {
				if v, ok := strings.CutPrefix(line, "id: "); ok {
					id = v
				}
				if v, ok := strings.CutPrefix(line, "data: "); ok {
					payload = v
				}
			}
			if payload == "" {
				continue
			}
			var o streamObject
			if err := json.Unmarshal([]byte(payload), &o); err != nil {
				t.Fatalf("SSE data %q: %v", payload, err)
			}
			if o.Path == "" {
				continue
			}
			if id != o.Cursor {
				t.Fatalf("SSE id %q, object cursor %q", id, o.Cursor)
			}
			got = append(got, o.I)
		}
		if !slices.Equal(got, intRange(20, 40)) {
			t.Fatalf("SSE after the 20th: %v, want 20..39", got)
		}
	})
}

// TestStreamsSwitchOverWhilePublishing: a subscriber that starts from the
// beginning while four publishers keep publishing reads history and then
// live, every message exactly once and each publisher's in the order it
// sent them, on a node whose ring holds only 64 items (so the join is
// exercised, and a lagging reader is cut off and resumes by its cursor as
// clients do); a second one resuming from any of its cursors gets exactly
// what followed.
func TestStreamsSwitchOverWhilePublishing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("koistream:\n  streams:\n    ring_items: 64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, filepath.Join(dir, "data"), "--config", cfg)
	const publishers, each = 4, 150
	var wg sync.WaitGroup
	started := make(chan struct{})
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if i == each/3 && p == 0 {
					close(started)
				}
				if st := putMessage(t, n.pubsub, fmt.Sprintf("/sw/p%d", p), fmt.Sprintf(`{"publisher":%d,"i":%d}`, p, i)); st != http.StatusAccepted {
					t.Errorf("publish %d/%d: %d", p, i, st)
					return
				}
			}
		}()
	}
	<-started
	var got []streamObject
	cutOffs := 0
	hdr := "X-Fetch-Since: 0"
	for len(got) < publishers*each {
		s := openRawStream(t, n.pubsub, "/sw", hdr)
		for len(got) < publishers*each {
			o, ok := s.nextEvent()
			if !ok {
				t.Fatalf("the stream ended after %d events", len(got))
			}
			if o.Error != "" {
				cutOffs++
				hdr = "X-Fetch-Since-Cursor: " + o.Cursor
				break
			}
			got = append(got, o)
		}
	}
	wg.Wait()
	t.Logf("%d events, %d cut-offs on the way", len(got), cutOffs)
	checkPublisherOrder(t, got, publishers, each)

	half := got[len(got)/2-1]
	rest := readStream(openRawStream(t, n.pubsub, "/sw"+untilNow(), "X-Fetch-Since-Cursor: "+half.Cursor))
	if len(rest) != len(got)/2 {
		t.Fatalf("from the middle cursor: %d events, want %d", len(rest), len(got)/2)
	}
	seen := map[[2]int]bool{}
	for _, o := range got[len(got)/2:] {
		seen[[2]int{o.Publisher, o.I}] = true
	}
	for _, o := range rest {
		if !seen[[2]int{o.Publisher, o.I}] {
			t.Fatalf("resumed stream has %d/%d, which the first one showed before the cursor", o.Publisher, o.I)
		}
	}
}

// checkPublisherOrder fails unless got holds each publisher's messages
// 0..each-1 once each, in order.
func checkPublisherOrder(t *testing.T, got []streamObject, publishers, each int) {
	t.Helper()
	next := make([]int, publishers)
	for _, o := range got {
		if o.Publisher < 0 || o.Publisher >= publishers {
			t.Fatalf("event of publisher %d", o.Publisher)
		}
		if o.I != next[o.Publisher] {
			t.Fatalf("publisher %d: message %d where %d was due (gap, duplicate or reordering)", o.Publisher, o.I, next[o.Publisher])
		}
		next[o.Publisher]++
	}
	for p, n := range next {
		if n != each {
			t.Fatalf("publisher %d: %d messages, want %d", p, n, each)
		}
	}
}

// TestStreamsThousandSubscribers: 1,000 subscribers at once each get their
// stillalive on connect, are counted by HEAD, and receive every message
// published meanwhile, in order.
func TestStreamsThousandSubscribers(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir())
	const subs, msgs = 1000, 3
	streams := make([]*rawStream, subs)
	for i := range streams {
		streams[i] = openRawStream(t, n.pubsub, "/many")
		if b := streams[i].next(); !bytes.HasPrefix(b, []byte(`{"stillalive"`)) {
			t.Fatalf("subscriber %d: first object %q, want a stillalive", i, b)
		}
	}
	resp, err := http.Head("http://" + n.pubsub + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c, _ := strconv.Atoi(resp.Header.Get("X-Subscribers")); c < subs {
		t.Fatalf("X-Subscribers %q, want at least %d", resp.Header.Get("X-Subscribers"), subs)
	}
	for i := range msgs {
		if st := putMessage(t, n.pubsub, "/many/x", fmt.Sprintf(`{"i":%d}`, i)); st != http.StatusAccepted {
			t.Fatalf("publish %d: %d", i, st)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, subs)
	for k, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for want := range msgs {
				o, ok, err := s.event()
				if err != nil || !ok || o.I != want {
					errs <- fmt.Errorf("subscriber %d: event %+v (ok %v, %v), want i=%d", k, o, ok, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
