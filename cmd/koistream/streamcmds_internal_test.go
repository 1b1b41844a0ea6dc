package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
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
