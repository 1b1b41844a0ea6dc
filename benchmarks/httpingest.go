package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/stages"
)

const (
	// MaxHTTPRequests caps the requests of the http_ingest measurement.
	MaxHTTPRequests = 200_000
	// MaxHTTPDuration caps its duration: posting stops after it.
	MaxHTTPDuration = 15 * time.Second
)

// httpResult is what measureHTTPIngest measured.
type httpResult struct {
	elapsed   time.Duration
	requests  int // requests sent
	accepted  int // answered 202
	errors    int // transport errors and answers other than 202
	firstErr  string
	latencies []time.Duration // of the 202 answers, sorted
}

// measureHTTPIngest starts a fresh node on dir (see startNode) and posts
// signed webhooks to its /github/webhook from conns goroutines, one
// keep-alive connection each (a shared http.Transport with
// MaxIdleConnsPerHost = MaxConnsPerHost = conns): min(n, MaxHTTPRequests)
// requests, or fewer if MaxHTTPDuration runs out first. Each request is a
// corpus payload as generated (so its X-Hub-Signature-256 under
// BenchSecret verifies) with GitHub's headers and a fresh
// X-GitHub-Delivery. Every request's latency, from sending to having read
// the whole answer, is recorded; anything but 202 counts as an error. The
// node's stages run meanwhile, as in production.
//
// With ingestOnly the node runs no stages: what the webhook path alone can
// take on this machine, its ceiling, while otherwise the stages compete with
// it for the same cores.
func measureHTTPIngest(ctx context.Context, dir string, c *Corpus, n, conns int, ingestOnly bool) (httpResult, error) {
	var res httpResult
	var segments []stages.Segment
	if ingestOnly {
		segments = []stages.Segment{}
	}
	node, err := startNodeWith(ctx, dir, segments)
	if err != nil {
		return res, fmt.Errorf("http ingest: %w", err)
	}
	defer node.Shutdown(context.Background())
	return postWebhooks(ctx, webhookURL(node), c, min(n, MaxHTTPRequests), conns, MaxHTTPDuration)
}

// webhookURL is where node takes webhooks.
func webhookURL(node *pipeline.Node) string {
	return "http://" + node.Addr() + "/github/webhook"
}

// measureHTTPNull posts the same requests as measureHTTPIngest to a plain
// net/http server on loopback that reads each body and answers 202, doing
// nothing else: what HTTP itself costs on this machine, client included
// (the posting goroutines share the cores with the server), the ceiling no
// webhook handler can pass here.
func measureHTTPNull(ctx context.Context, c *Corpus, n, conns int) (httpResult, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return httpResult{}, fmt.Errorf("http null: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	})}
	go srv.Serve(l)
	defer srv.Close()
	return postWebhooks(ctx, "http://"+l.Addr().String()+"/github/webhook", c, min(n, MaxHTTPRequests), conns, MaxHTTPDuration)
}

// postWebhooks posts signed webhooks of c to url from conns connections:
// total requests, or fewer if maxDur runs out first.
func postWebhooks(ctx context.Context, url string, c *Corpus, total, conns int, maxDur time.Duration) (httpResult, error) {
	var res httpResult
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var (
		next     atomic.Int64
		mu       sync.Mutex
		wg       sync.WaitGroup
		perConn  = make([][]time.Duration, conns)
		errCount atomic.Int64
		sent     atomic.Int64
	)
	deadline := time.Now().Add(maxDur)
	start := time.Now()
	for w := range conns {
		perConn[w] = make([]time.Duration, 0, total/conns+1)
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				d := c.Original(i)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
				if err != nil {
					errCount.Add(1)
					continue
				}
				setWebhookHeaders(req.Header, d)
				sent.Add(1)
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errCount.Add(1)
					mu.Lock()
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat := time.Since(t)
				if resp.StatusCode != http.StatusAccepted {
					errCount.Add(1)
					mu.Lock()
					if res.firstErr == "" {
						res.firstErr = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
					}
					mu.Unlock()
					continue
				}
				perConn[w] = append(perConn[w], lat)
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	for _, l := range perConn {
		res.latencies = append(res.latencies, l...)
	}
	slices.Sort(res.latencies)
	res.requests = int(sent.Load())
	res.accepted = len(res.latencies)
	res.errors = int(errCount.Load())
	return res, nil
}
