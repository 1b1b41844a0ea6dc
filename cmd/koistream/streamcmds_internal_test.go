package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// runIn runs a koistream command line in this process with stdin and
// returns its exit code, stdout and stderr. It maps errors to exit codes
// as run does (run has no stdin of its own to give).
func runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	_, err := root.ExecuteC()
	code := exitOK
	if err != nil {
		if e, ok := errors.AsType[*exitError](err); ok {
			if e.err != nil {
				fmt.Fprintln(&stderr, e.err)
			}
			code = e.code
		} else {
			fmt.Fprintf(&stderr, "Error: %v\n", err)
			code = exitUsage
		}
	}
	return code, stdout.String(), stderr.String()
}

// standIn is a stand-in for the node's stream listener, for these unit
// tests only: it speaks the listener's protocol as specified (PUT answers
// 202 {"id","path","timestamp"}; GET streams the canned replies, one per
// request in turn) and records every request. The tests through the real
// node are in the main_test package.
type standIn struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	replies  []cannedReply // GET replies, one per GET in turn; the last repeats
	putFail  int           // answer the PUT with this index (0-based) 400
}

// recorded is one request the stand-in got.
type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// cannedReply is what one GET gets: a status, and lines written one chunk
// each; cut drops the connection after the lines, unterminated; hold
// keeps the stream open after them, as a live stream is, until the client
// goes.
type cannedReply struct {
	status    int
	lines     []string
	cut, hold bool
}

func newStandIn(t *testing.T, replies ...cannedReply) *standIn {
	t.Helper()
	s := &standIn{replies: replies, putFail: -1}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.requests)
	gets, puts := 0, 0
	for _, q := range s.requests {
		switch q.Method {
		case http.MethodGet:
			gets++
		case http.MethodPut:
			puts++
		}
	}
	s.requests = append(s.requests, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), body})
	fail := s.putFail
	s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		if puts == fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"not a JSON object","detail":"the body must be {...}"}`)
			return
		}
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"bad json","detail":"x"}`)
			return
		}
		w.Header().Set("X-Timestamp", "1795368272.5")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"id":"id-%d","path":%q,"timestamp":1795368272.5}`+"\n", n, r.URL.Path)
	case http.MethodGet:
		if len(s.replies) == 0 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		rep := s.replies[min(gets, len(s.replies)-1)]
		if rep.status != 0 && rep.status != http.StatusOK {
			w.WriteHeader(rep.status)
			for _, l := range rep.lines {
				io.WriteString(w, l)
			}
			return
		}
		w.Header().Set("Content-Type", streamMediaType)
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		for _, l := range rep.lines {
			io.WriteString(w, l+"\n")
			fl.Flush()
		}
		if rep.cut {
			// Drop the connection without the final chunk: a lost
			// connection, not the end of a replay.
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		if rep.hold {
			<-r.Context().Done() // a live stream that stays open
		}
	}
}

func (s *standIn) recorded() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.requests...)
}

func (s *standIn) addr() string { return strings.TrimPrefix(s.URL, "http://") }

// ev is a canned event line as the listener sends it.
func ev(n int, ts float64) string {
	return fmt.Sprintf(`{"n": %d, "pubsub_path": "/git/demo/commit", "pubsub_topics": ["git", "demo", "commit"], "pubsub_timestamp": %v, "pubsub_cursor": "c%d"}`, n, ts, n)
}

const ping = `{"stillalive": 1795368274.011798}`

// lookalike is an event whose own members look like a ping and a cut-off:
// it carries a pubsub_path, so it is printed like any other.
const lookalike = `{"error": {"code": 1}, "stillalive": true, "detail": 2, "pubsub_path": "/x", "pubsub_topics": ["x"], "pubsub_timestamp": 1795368273.5, "pubsub_cursor": "c25"}`

// TestReplayArguments: the forms of --since and --until, and every usage
// mistake, which exits 2 with the usage line and sends nothing.
func TestReplayArguments(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		args      []string
		code      int
		since     string // X-Fetch-Since sent
		cursor    string // X-Fetch-Since-Cursor sent
		query     string // the query sent
		errSubstr string
	}{
		{"epoch seconds", []string{"--since", "1795368272"}, 0, "1795368272", "", "until=2026-11-28T20%3A00%3A00Z", ""},
		{"epoch fraction", []string{"--since", "1795368272.25", "--until", "1795368300.5"}, 0, "1795368272.25", "", "until=2026-11-22T17%3A25%3A00.5Z", ""},
		{"RFC 3339 with zone", []string{"--since", "2026-11-28T12:00:00.5+02:00"}, 0, "1795860000.5", "", "until=2026-11-28T20%3A00%3A00Z", ""},
		{"epoch zero", []string{"--since", "0", "--until", "2026-11-28T13:00:00Z", "--key", "evt.push.*", "--path", "/git/demo"}, 0, "0", "", "key=evt.push.%2A&until=2026-11-28T13%3A00%3A00Z", ""},
		{"cursor", []string{"--cursor", "AbC-_1"}, 0, "", "AbC-_1", "until=2026-11-28T20%3A00%3A00Z", ""},
		{"both", []string{"--since", "0", "--cursor", "x"}, 2, "", "", "", "if any flags in the group [since cursor] are set none of the others can be"},
		{"neither", nil, 2, "", "", "", "at least one of the flags in the group [since cursor] is required"},
		{"since not a time", []string{"--since", "yesterday"}, 2, "", "", "", `--since "yesterday" is neither an RFC 3339 time`},
		{"negative epoch", []string{"--since", "-5"}, 2, "", "", "", "is neither"},
		{"epoch with exponent", []string{"--since", "1e9"}, 2, "", "", "", "is neither"},
		{"empty fraction", []string{"--since", "12."}, 2, "", "", "", "is neither"},
		{"huge epoch", []string{"--since", "99999999999999999999"}, 2, "", "", "", "out of range"},
		{"until before since", []string{"--since", "1795368272", "--until", "1795368271"}, 2, "", "", "", "is before --since"},
		{"bad until", []string{"--since", "0", "--until", "soon"}, 2, "", "", "", `--until "soon"`},
		{"path without slash", []string{"--since", "0", "--path", "git"}, 2, "", "", "", `--path must start with "/"`},
		{"path with dot-dot", []string{"--since", "0", "--path", "/a/../b"}, 2, "", "", "", "is not a topic"},
		{"pubsub with a path", []string{"--since", "0", "--pubsub", "http://h:1/x"}, 2, "", "", "", "the stream path is --path"},
		{"pubsub no port", []string{"--since", "0", "--pubsub", "localhost"}, 2, "", "", "", "must be host:port or a URL"},
		{"stray argument", []string{"--since", "0", "now"}, 2, "", "", "", `unknown command "now"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newStandIn(t, cannedReply{lines: []string{}})
			args := append([]string{"replay", "--pubsub", srv.addr()}, c.args...)
			// A fixed "now" is the default --until: the query is exact.
			hasUntil := false
			for _, a := range c.args {
				hasUntil = hasUntil || a == "--until"
			}
			if !hasUntil && c.code == 0 {
				args = append(args, "--until", "2026-11-28T20:00:00Z")
			}
			code, out, errOut := runIn(t, "", args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, c.code, out, errOut)
			}
			reqs := srv.recorded()
			if c.code != 0 {
				if len(reqs) != 0 {
					t.Errorf("a usage mistake sent %d requests", len(reqs))
				}
				if !strings.Contains(errOut, c.errSubstr) {
					t.Errorf("stderr lacks %q:\n%s", c.errSubstr, errOut)
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if got := r.Header.Get("X-Fetch-Since"); got != c.since {
				t.Errorf("X-Fetch-Since %q, want %q", got, c.since)
			}
			if got := r.Header.Get("X-Fetch-Since-Cursor"); got != c.cursor {
				t.Errorf("X-Fetch-Since-Cursor %q, want %q", got, c.cursor)
			}
			if r.RawQuery != c.query {
				t.Errorf("query %q, want %q", r.RawQuery, c.query)
			}
			if got := r.Header.Get("Accept"); got != streamMediaType {
				t.Errorf("Accept %q", got)
			}
		})
	}
}

// TestReplayDefaultUntilIsNow: without --until, the replay ends at the
// moment the command started.
func TestReplayDefaultUntilIsNow(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, cannedReply{lines: []string{}})
	before := time.Now()
	if code, _, errOut := runIn(t, "", "replay", "--pubsub", srv.addr(), "--since", "0"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	after := time.Now()
	q, _ := url.ParseQuery(srv.recorded()[0].RawQuery)
	until, err := time.Parse(time.RFC3339Nano, q.Get("until"))
	if err != nil || until.Before(before.Truncate(time.Nanosecond)) || until.After(after) {
		t.Fatalf("until %q (%v), want between %v and %v", q.Get("until"), err, before, after)
	}
}

// TestReplayPrintsEventsAndResumes: events are printed as received, one a
// line, pings skipped; a cut-off resumes with the cursor the node gave and
// a dropped connection with the last cursor printed, so nothing is missed
// or doubled; a clean end of the stream ends the command with 0.
func TestReplayPrintsEventsAndResumes(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t,
		cannedReply{lines: []string{ping, ev(1, 1795368272.5), ping, ev(2, 1795368273), lookalike, `{"error": "fell behind", "detail": "the reader was too slow", "pubsub_cursor": "c25"}`}},
		cannedReply{lines: []string{ev(3, 1795368274)}, cut: true},
		cannedReply{lines: []string{ev(4, 1795368275), ping}},
	)
	code, out, errOut := runIn(t, "", "replay", "--pubsub", "http://"+srv.addr(), "--since", "1795368272", "--until", "1795368280", "--path", "/git/demo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := ev(1, 1795368272.5) + "\n" + ev(2, 1795368273) + "\n" + lookalike + "\n" + ev(3, 1795368274) + "\n" + ev(4, 1795368275) + "\n"
	if out != want {
		t.Errorf("stdout\n%s\nwant\n%s", out, want)
	}
	reqs := srv.recorded()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, w := range []struct{ since, cursor string }{{"1795368272", ""}, {"", "c25"}, {"", "c3"}} {
		r := reqs[i]
		if r.Path != "/git/demo" || r.Header.Get("X-Fetch-Since") != w.since || r.Header.Get("X-Fetch-Since-Cursor") != w.cursor {
			t.Errorf("request %d: %s since %q cursor %q, want /git/demo since %q cursor %q", i, r.Path, r.Header.Get("X-Fetch-Since"), r.Header.Get("X-Fetch-Since-Cursor"), w.since, w.cursor)
		}
		if r.RawQuery != "until=2026-11-22T17%3A24%3A40Z" {
			t.Errorf("request %d query %q", i, r.RawQuery)
		}
	}
}

// TestReplayFailures: a refusal (4xx) or a stream that is not JSON ends
// replay with exit 1 and the node's reason, and is not retried.
func TestReplayFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		reply cannedReply
		want  string
	}{
		{"refused", cannedReply{status: http.StatusBadRequest, lines: []string{`{"error":"bad key","detail":"evt..x is not a routing key pattern"}`}}, "the node refused the request (400 Bad Request): bad key: evt..x is not a routing key pattern"},
		{"not JSON", cannedReply{lines: []string{"hello"}}, "the stream sent something else than a JSON object"},
		{"not an object", cannedReply{lines: []string{"[1]"}}, "something else than a JSON object"},
		{"cut off without a cursor", cannedReply{lines: []string{`{"error":"fell behind"}`}}, "gave no cursor to resume from"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newStandIn(t, c.reply)
			code, out, errOut := runIn(t, "", "replay", "--pubsub", srv.addr(), "--since", "0")
			if code != exitFailure || out != "" {
				t.Fatalf("exit %d stdout %q, want 1 and nothing", code, out)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, errOut)
			}
			if n := len(srv.recorded()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestTailReconnectsWithTheLastCursor: tail prints events as they come;
// when the connection drops it reconnects from the last cursor it printed
// (the first retry at once, as asfpy's backoff starts with 0); until the
// first event it asks for the history since it started, and it ends
// cleanly when its context ends.
func TestTailReconnectsWithTheLastCursor(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t,
		cannedReply{lines: []string{ping}, cut: true},
		cannedReply{lines: []string{ev(1, 1), ping, ev(2, 2)}, cut: true},
		cannedReply{lines: []string{`{"error":"fell behind","pubsub_cursor":"c2"}`}},
		cannedReply{lines: []string{ev(3, 3)}, hold: true},
	)
	c, err := newStreamClient(srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	out := &lockedBuffer{}
	var errOut lockedBuffer
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- runTail(ctx, c, streamQuery{path: "/", key: "evt.#"}, out, &errOut) }()
	want := ev(1, 1) + "\n" + ev(2, 2) + "\n" + ev(3, 3) + "\n"
	for out.String() != want {
		select {
		case err := <-done:
			t.Fatalf("tail ended early: %v\n%s", err, errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("stdout %q, want %q\nstderr %s", out.String(), want, errOut.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail ended with %v", err)
	}
	reqs := srv.recorded()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i := range 2 {
		since, err := parseTimeFlag("since", reqs[i].Header.Get("X-Fetch-Since"))
		if err != nil || since.Before(start) || since.After(time.Now()) {
			t.Errorf("request %d before any event: since %q (%v), want the start time", i, reqs[i].Header.Get("X-Fetch-Since"), err)
		}
	}
	for i, cur := range []string{"", "", "c2", "c2"} {
		if got := reqs[i].Header.Get("X-Fetch-Since-Cursor"); got != cur {
			t.Errorf("request %d cursor %q, want %q", i, got, cur)
		}
		if reqs[i].RawQuery != "key=evt.%23" {
			t.Errorf("request %d query %q", i, reqs[i].RawQuery)
		}
	}
}

// TestTailRefused: a refused subscription ends tail with exit 1 and the
// node's reason, with no retry.
func TestTailRefused(t *testing.T) {
	t.Parallel()
	srv := newStandIn(t, cannedReply{status: http.StatusBadRequest, lines: []string{`{"error":"bad path","detail":"no"}`}})
	code, _, errOut := runIn(t, "", "tail", "--pubsub", srv.addr())
	if code != exitFailure || !strings.Contains(errOut, "bad path: no") {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if n := len(srv.recorded()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPublish: publish sends stdin as it is and prints the answer; stdin
// that is not one JSON object is a usage mistake (exit 2, nothing sent);
// a refusal exits 1 with the node's body.
func TestPublish(t *testing.T) {
	t.Parallel()
	big := `{"big": "` + strings.Repeat("x", 3<<20) + `"}`
	cases := []struct {
		name    string
		args    []string
		stdin   string
		putFail bool
		code    int
		want    string // in stdout for 0, in stderr otherwise
	}{
		{"multi-line object", []string{"--path", "/a/b"}, "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n", false, 0, `{"id":"id-0","path":"/a/b","timestamp":1795368272.5}` + "\n"},
		{"large object", []string{"--path", "/a"}, big, false, 0, `"path":"/a"`},
		{"refused", []string{"--path", "/a"}, `{"a":1}`, true, 1, `400 Bad Request: {"error":"not a JSON object","detail":"the body must be {...}"}`},
		{"array", []string{"--path", "/a"}, `[1]`, false, 2, "not a JSON object"},
		{"empty", []string{"--path", "/a"}, "  \n", false, 2, "empty"},
		{"two objects", []string{"--path", "/a"}, `{"a":1} {"b":2}`, false, 2, "more than one JSON value"},
		{"truncated", []string{"--path", "/a"}, `{"a":`, false, 2, "not valid JSON"},
		{"no path", nil, `{}`, false, 2, "--path is required"},
		{"bad path", []string{"--path", "/a,b"}, `{}`, false, 2, "','"},
		{"repo-dir without git-hook", []string{"--path", "/a", "--repo-dir", "."}, `{}`, false, 2, "--repo-dir goes with --git-hook"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newStandIn(t)
			if c.putFail {
				srv.putFail = 0
			}
			code, out, errOut := runIn(t, c.stdin, append([]string{"publish", "--pubsub", srv.addr()}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, c.code, out, errOut)
			}
			reqs := srv.recorded()
			switch c.code {
			case 0:
				if c.name == "multi-line object" && out != c.want || !strings.Contains(out, c.want) {
					t.Errorf("stdout %.200q, want %.200q", out, c.want)
				}
				if len(reqs) != 1 || string(reqs[0].Body) != c.stdin || reqs[0].Method != http.MethodPut {
					t.Errorf("sent %d requests, want one PUT of stdin as it is", len(reqs))
				}
			default:
				if !strings.Contains(errOut, c.want) {
					t.Errorf("stderr lacks %q:\n%s", c.want, errOut)
				}
				if c.code == 2 && len(reqs) != 0 {
					t.Errorf("a usage mistake sent %d requests", len(reqs))
				}
			}
		})
	}
}

// TestReplayProgress: the bar spans since..until in milliseconds (or the
// first event..until with --cursor), follows each event's timestamp,
// counts events in its description, and stays within its span.
func TestReplayProgress(t *testing.T) {
	t.Parallel()
	until := time.Unix(1795368300, 0)
	cases := []struct {
		name    string
		since   time.Time
		stamps  []float64
		max     int64
		current int64
	}{
		{"since", time.Unix(1795368200, 0), []float64{1795368210, 1795368250.5}, 100_000, 50_500},
		{"cursor starts at the first event", time.Time{}, []float64{1795368280, 1795368290}, 20_000, 10_000},
		{"stamps outside the span", time.Unix(1795368200, 0), []float64{1795368100, 1795368400}, 100_000, 100_000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var buf lockedBuffer
			p := newReplayProgress(&buf, c.since, until)
			for _, ts := range c.stamps {
				p.event(ts)
			}
			st := p.bar.State()
			if st.Max != c.max || st.CurrentNum != c.current {
				t.Errorf("bar at %d of %d, want %d of %d", st.CurrentNum, st.Max, c.current, c.max)
			}
			if want := fmt.Sprintf("%d events", len(c.stamps)); st.Description != want {
				t.Errorf("description %q, want %q", st.Description, want)
			}
			p.finish(true)
		})
	}
	var nilBar *replayProgress
	nilBar.event(1) // a replay without a terminal has no bar
	nilBar.finish(false)
}
