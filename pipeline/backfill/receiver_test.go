package backfill_test

import (
	"crypto/hmac"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
)

// receiver is a webhook endpoint that keeps the GUIDs of validly signed
// deliveries.
type receiver struct {
	url    string
	mu     sync.Mutex
	got    []string
	secret string
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if !hmac.Equal([]byte(req.Header.Get("X-Hub-Signature-256")), []byte(fakegithub.Sign(r.secret, body))) ||
			req.Header.Get("X-GitHub-Event") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, req.Header.Get("X-GitHub-Delivery"))
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *receiver) guids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func (r *receiver) has(g string) bool {
	for _, x := range r.guids() {
		if x == g {
			return true
		}
	}
	return false
}

func sprint(v any) string { return fmt.Sprint(v) }

func parseDur(s string) (time.Duration, error) { return time.ParseDuration(s) }
