package backfill_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
)

// gatedTransport holds every request whose path contains hold until gate
// closes, telling entered when the first one arrives: a slow page of a
// pass, over real HTTP to the fake.
type gatedTransport struct {
	hold    string
	gate    chan struct{}
	entered chan struct{}
	once    sync.Once
}

func (g *gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, g.hold) {
		g.once.Do(func() { close(g.entered) })
		<-g.gate
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A Fetch (a KOI-net dereference, bounded by its 3 s) that must queue
// behind a pass's request on the same token gives up when its context
// ends, not when the pass's request is answered: requests stay serial per
// token, but waiting for one's turn obeys the context.
func TestFetchQueuedBehindAPassObeysItsContext(t *testing.T) {
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, fakegithub.Options{}, smallRepo)
			g := &gatedTransport{hold: "/issues", gate: make(chan struct{}), entered: make(chan struct{})}
			f := e.fetcher(func(cfg *backfill.Config) { cfg.HTTPClient = &http.Client{Transport: g} })
			passDone := make(chan error, 1)
			go func() { passDone <- f.Pass(context.Background()) }()
			select {
			case <-g.entered: // the pass's issues request holds the token
			case err := <-passDone:
				t.Fatalf("Pass ended before its issues request: %v", err)
			}
			ctx, cancel := c.ctx()
			defer cancel()
			res := make(chan error, 1)
			go func() {
				_, err := f.Fetch(ctx, "orn:github.repo:octo/hello")
				res <- err
			}()
			select {
			case err := <-res:
				if !errors.Is(err, c.want) {
					t.Errorf("Fetch = %v, want %v", err, c.want)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Fetch still waits for the pass's request long after its context ended")
				defer func() { <-res }()
			}
			close(g.gate)
			if err := <-passDone; err != nil {
				t.Errorf("Pass: %v", err)
			}
		})
	}
}
