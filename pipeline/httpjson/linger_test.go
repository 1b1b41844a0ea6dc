package httpjson_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/httpjson"
)

// TestLingerBounds: after a refusal answered before the body was read,
// Linger reads the body to its end, or stops at its byte bound or its time
// bound; the client reads the answer in each case, while it still sends.
// Served alone and under a BodyGuard.
func TestLingerBounds(t *testing.T) {
	t.Parallel()
	const maxBytes, d = 1 << 20, 500 * time.Millisecond
	tests := []struct {
		name        string
		declared    int
		sent        int // then the client stalls
		wantDrained bool
		wantAtLeast time.Duration
		wantAtMost  time.Duration
	}{
		{"whole body", 768 << 10, 768 << 10, true, 0, 5 * time.Second},
		{"body over the byte bound", 8 << 20, 8 << 20, false, 0, 5 * time.Second},
		{"body stalls", 8 << 20, 10, false, d, d + 2*time.Second},
	}
	for _, guarded := range []bool{false, true} {
		for _, tc := range tests {
			name := tc.name + map[bool]string{false: " alone", true: " guarded"}[guarded]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				type result struct {
					drained bool
					took    time.Duration
				}
				results := make(chan result, 1)
				var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Connection", "close")
					httpjson.Error(w, http.StatusRequestEntityTooLarge, "payload_too_large", "too large")
					start := time.Now()
					drained := httpjson.Linger(w, r, maxBytes, d)
					results <- result{drained, time.Since(start)}
				})
				if guarded {
					h = (&httpjson.BodyGuard{Idle: time.Minute, Total: time.Minute}).Handler(h)
				}
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)

				c, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				go func() {
					head := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(tc.declared) + "\r\n\r\n"
					_, _ = c.Write(append([]byte(head), bytes.Repeat([]byte("x"), tc.sent)...))
				}()
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("answer cut short: %v", err)
				}
				code, _ := jsonError(t, answer{status: resp.StatusCode, header: resp.Header, body: b})
				if resp.StatusCode != http.StatusRequestEntityTooLarge || code != "payload_too_large" {
					t.Errorf("status %d error %q, want 413 payload_too_large", resp.StatusCode, code)
				}

				r := <-results
				if r.drained != tc.wantDrained {
					t.Errorf("Linger reports drained %v, want %v", r.drained, tc.wantDrained)
				}
				if r.took < tc.wantAtLeast || r.took > tc.wantAtMost {
					t.Errorf("Linger took %s, want %s to %s", r.took, tc.wantAtLeast, tc.wantAtMost)
				}
			})
		}
	}
}
