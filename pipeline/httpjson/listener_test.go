package httpjson_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline/httpjson"
)

// TestListenerAnswersEarlyErrorsInJSON: what net/http refuses before any
// handler runs is answered in JSON, and every other answer, a handler's
// plain-text error included, passes unchanged.
func TestListenerAnswersEarlyErrorsInJSON(t *testing.T) {
	t.Parallel()
	const maxHeaderBytes = 1024
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/plain" {
			w.Header().Set("Connection", "close")
			http.Error(w, "a handler's own text", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.MaxHeaderBytes = maxHeaderBytes
	srv.Listener = httpjson.Listener(srv.Listener, maxHeaderBytes)
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()

	tests := []struct {
		name       string
		req        string
		wantStatus int
		wantCode   string
		wantDetail string
	}{
		{"conflicting Content-Lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
			400, "malformed_request", "not valid HTTP/1.1: its request line or a header is malformed, or its Content-Length headers disagree"},
		{"negative Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "malformed_request", "not valid HTTP/1.1"},
		{"header line without a colon", "GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n", 400, "malformed_request", "not valid HTTP/1.1"},
		{"space in the path", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request", "not valid HTTP/1.1"},
		{"no Host header", "GET / HTTP/1.1\r\n\r\n", 400, "malformed_request", "not valid HTTP/1.1: missing required Host header"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n",
			431, "headers_too_large", "larger than 1024 bytes"},
		{"unsupported Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported_transfer_encoding", "Transfer-Encoding is not supported"},
		{"HTTP/3.0 over HTTP/1", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "unsupported_http_version", "send HTTP/1.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := rawExchange(t, addr, tc.req, nil)
			if a.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", a.status, tc.wantStatus, a.body)
			}
			code, detail := jsonError(t, a)
			if code != tc.wantCode || !strings.Contains(detail, tc.wantDetail) {
				t.Errorf("error %q detail %q, want %q saying %q", code, detail, tc.wantCode, tc.wantDetail)
			}
			if !a.close {
				t.Error("the answer does not say Connection: close")
			}
		})
	}

	t.Run("handler answers pass unchanged", func(t *testing.T) {
		t.Parallel()
		a := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", nil)
		if a.status != 200 || string(a.body) != "ok" {
			t.Errorf("status %d body %q, want 200 ok", a.status, a.body)
		}
		a = rawExchange(t, addr, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", nil)
		if a.status != 400 || string(a.body) != "a handler's own text\n" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
			t.Errorf("status %d Content-Type %q body %q, want the handler's plain 400", a.status, a.header.Get("Content-Type"), a.body)
		}
	})
}
