package httpjson_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/httpjson"
)

// guarded serves a handler that reads the whole body under guard and
// answers 200 with its length, or the BodyError. reading receives a value
// when a handler starts reading.
func guarded(t *testing.T, guard *httpjson.BodyGuard) (srv *httptest.Server, reading chan struct{}) {
	t.Helper()
	reading = make(chan struct{}, 16)
	srv = httptest.NewUnstartedServer(guard.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reading <- struct{}{}
		b, err := io.ReadAll(r.Body)
		if be, ok := errors.AsType[*httpjson.BodyError](err); ok {
			be.Answer(w)
			return
		}
		if err != nil {
			t.Errorf("read error is not a *BodyError: %v", err)
			return
		}
		_, _ = fmt.Fprintf(w, "%d", len(b))
	})))
	srv.Config.RegisterOnShutdown(guard.Stop)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, reading
}

func post(contentLength int, body string) string {
	return "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(contentLength) + "\r\n\r\n" + body
}

const chunkedHead = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

func halfClose(c net.Conn) { _ = c.(*net.TCPConn).CloseWrite() }

// TestBodyGuardBounds: a body that stalls, trickles past the total bound,
// is cut short or is malformed is answered with what happened in the
// client's terms, and in time; a complete body is read.
func TestBodyGuardBounds(t *testing.T) {
	t.Parallel()
	guard := &httpjson.BodyGuard{Idle: 300 * time.Millisecond, Total: 1500 * time.Millisecond, Grace: time.Second}
	srv, _ := guarded(t, guard)
	addr := srv.Listener.Addr().String()

	trickle := func(c net.Conn) {
		for range 40 {
			time.Sleep(100 * time.Millisecond)
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name       string
		req        string
		then       func(net.Conn)
		wantStatus int
		wantCode   string
		wantDetail string
		within     time.Duration
	}{
		{"complete", post(5, "hello"), nil, 200, "", "5", time.Second},
		{"complete chunked", chunkedHead + "5\r\nhello\r\n0\r\n\r\n", nil, 200, "", "5", time.Second},
		{"stalls", post(100, "0123456789"), nil, 408, "body_timeout",
			"no part of the request body arrived for 0.3s (10 of 100 bytes arrived)", 1200 * time.Millisecond},
		{"trickles past the total bound", post(100, ""), trickle, 408, "body_timeout",
			"the request body was not received completely within 1.5s", 2500 * time.Millisecond},
		{"cut short", post(100, "0123456789"), halfClose, 400, "incomplete_body",
			"the connection ended after 10 bytes of the body, before the 100 its Content-Length declares", time.Second},
		{"chunked cut short", chunkedHead + "5\r\nhello\r\n", halfClose, 400, "incomplete_body",
			"the connection ended before the last chunk of the body (5 bytes arrived)", time.Second},
		{"chunked malformed", chunkedHead + "zz\r\nhello\r\n", nil, 400, "malformed_body",
			"the chunked transfer encoding of the body is malformed after 0 bytes", time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			a := rawExchange(t, addr, tc.req, tc.then)
			if took := time.Since(start); took > tc.within {
				t.Errorf("answered after %s, want within %s", took, tc.within)
			}
			if a.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", a.status, tc.wantStatus, a.body)
			}
			if tc.wantCode == "" {
				if string(a.body) != tc.wantDetail {
					t.Errorf("body %q, want %q", a.body, tc.wantDetail)
				}
				return
			}
			code, detail := jsonError(t, a)
			if code != tc.wantCode || !strings.Contains(detail, tc.wantDetail) {
				t.Errorf("error %q detail %q, want %q saying %q", code, detail, tc.wantCode, tc.wantDetail)
			}
		})
	}
}

// TestBodyGuardShutdown: a server shutting down stops waiting for stalled
// bodies after the grace (503 with Retry-After), so Shutdown returns in
// about the grace rather than at its deadline, while a body that goes on
// arriving within the grace is read whole.
func TestBodyGuardShutdown(t *testing.T) {
	t.Parallel()
	guard := &httpjson.BodyGuard{Idle: time.Minute, Total: time.Minute, Grace: 500 * time.Millisecond}
	srv, reading := guarded(t, guard)
	addr := srv.Listener.Addr().String()

	type result struct {
		name string
		a    answer
		err  error
	}
	results := make(chan result, 3)
	// The stalled clients send a tenth of their body and wait for the
	// answer.
	for _, name := range []string{"stalled 1", "stalled 2"} {
		go func() {
			a, err := exchange(addr, post(100, "0123456789"), nil)
			results <- result{name, a, err}
		}()
	}
	<-reading
	<-reading
	go func() {
		a, err := exchange(addr, post(10, "01234"), func(c net.Conn) {
			time.Sleep(900 * time.Millisecond) // Shutdown starts at about 600ms
			_, _ = c.Write([]byte("56789"))
		})
		results <- result{"completes in the grace", a, err}
	}()
	<-reading
	time.Sleep(600 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Shutdown took %s with stalled uploads, want about the 0.5s grace", took)
	}
	for range 3 {
		r := <-results
		if r.err != nil {
			t.Fatalf("%s: %v", r.name, r.err)
		}
		if r.name == "completes in the grace" {
			if r.a.status != 200 || string(r.a.body) != "10" {
				t.Errorf("%s: status %d body %q, want 200 10", r.name, r.a.status, r.a.body)
			}
			continue
		}
		if r.a.status != http.StatusServiceUnavailable {
			t.Fatalf("%s: status = %d, want 503; body %q", r.name, r.a.status, r.a.body)
		}
		code, detail := jsonError(t, r.a)
		if code != "shutting_down" || !strings.Contains(detail, "the node is shutting down and stopped waiting for the rest of the request body (10 of 100 bytes arrived)") {
			t.Errorf("%s: error %q detail %q", r.name, code, detail)
		}
		if ra := r.a.header.Get("Retry-After"); ra != "1" {
			t.Errorf("%s: Retry-After = %q, want 1", r.name, ra)
		}
	}
}
