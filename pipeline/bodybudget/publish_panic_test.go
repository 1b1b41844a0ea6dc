package bodybudget_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/bodybudget"
)

// TestPublishPanicStaysInTheRequest: a publish call that panics, run by a
// handler behind net/http, must not take the process down (net/http
// recovers a handler's panics; before Publish ran the call in its own
// goroutine, it was the handler's), and must give the bytes back.
func TestPublishPanicStaysInTheRequest(t *testing.T) {
	if os.Getenv("REVIEW2_CHILD") == "1" {
		b := bodybudget.New(100)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.TryAcquire(60)
			held := int64(60)
			defer func() { b.Release(held) }()
			if err := b.Publish(&held, time.Second, func() error { panic("publisher bug") }); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}))
		defer srv.Close()
		resp, err := http.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		time.Sleep(100 * time.Millisecond)
		if got := b.Held(); got != 0 {
			t.Fatalf("Held after a panicking publish = %d, want 0", got)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPublishPanicStaysInTheRequest$")
	cmd.Env = append(os.Environ(), "REVIEW2_CHILD=1")
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		t.Fatalf("the process died of a publish panic in one request (%v):\n%.600s", err, out)
	} else if err != nil {
		t.Fatal(err)
	}
}
