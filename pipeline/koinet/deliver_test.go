package koinet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/koistream/koistream/pipeline/koinet"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/topicstest"
)

const (
	self    = "orn:koi-net.node:github-sensor+659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2"
	webhook = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
	poller  = "orn:koi-net.node:gopartial+471f91578b8e8a138ac296cc69669c4c77be9f27e39b2320d2f96ad478a968c6"
)

// store is a projection store with the queues of self, fed records as the
// runner would.
type store struct {
	t      *testing.T
	dir    string
	s      *projections.Store
	q      *projections.Queues
	offset int64
}

func openStore(t *testing.T, dir string, offset int64) *store {
	t.Helper()
	s, err := projections.OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := projections.NewCache(s)
	if err != nil {
		t.Fatal(err)
	}
	q, err := projections.NewQueues(s, projections.QueuesConfig{Self: self, ProvidesEvent: []string{"orn:github.issue"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Attach(c, projections.NewGraph(s), q); err != nil {
		t.Fatal(err)
	}
	return &store{t: t, dir: dir, s: s, q: q, offset: offset}
}

func (s *store) close() {
	s.t.Helper()
	if err := s.s.Close(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *store) add(peer, rid string, value []byte) {
	s.t.Helper()
	r := projections.Record{Topic: "koistream.events", Offset: s.offset, Key: []byte(rid), Value: value,
		Timestamp: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).Add(time.Duration(s.offset) * time.Millisecond)}
	if peer != "" {
		r.Headers = []kgo.RecordHeader{{Key: observed.HeaderPeer, Value: []byte(peer)}}
	}
	s.offset++
	if _, err := s.s.Apply([]projections.Record{r}); err != nil {
		s.t.Fatal(err)
	}
}

// subscribe adds the edge self → sub carrying issues, proposed by sub.
func (s *store) subscribe(sub, edgeType string) {
	s.t.Helper()
	rid := koi.EdgeRID(self, sub)
	contents := `{"source":"` + self + `","target":"` + sub + `","edge_type":"` + edgeType + `","status":"PROPOSED","rid_types":["orn:github.issue"]}`
	s.add(sub, rid, []byte(`{"rid":"`+rid+`","event_type":"NEW","manifest":{"rid":"`+rid+`","timestamp":"2026-11-28T12:00:00Z","sha256_hash":"00"},"contents":`+contents+`}`))
}

func issueRID(n int) string { return fmt.Sprintf("orn:github.issue:o/r:%d", n) }

func (s *store) issues(from, to int) {
	s.t.Helper()
	for n := from; n < to; n++ {
		rid := issueRID(n)
		s.add("", rid, []byte(`{"rid":"`+rid+`","event_type":"NEW","manifest":{"rid":"`+rid+`","timestamp":"2026-11-28T12:00:00Z","sha256_hash":"00"},"contents":{"n":`+fmt.Sprint(n)+`}}`))
	}
}

// peer is a webhook subscriber's /events/broadcast on loopback that
// refuses the first failFirst requests with 500.
type peer struct {
	srv *httptest.Server
	q   *projections.Queues

	mu        sync.Mutex
	failFirst int
	requests  int
	batches   [][]string // the RIDs of each accepted batch
	errs      []string
}

func newPeer(t *testing.T, q *projections.Queues, failFirst int) *peer {
	p := &peer{q: q, failFirst: failFirst}
	p.srv = httptest.NewServer(http.HandlerFunc(p.broadcast))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *peer) broadcast(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var payload struct {
		Events []struct {
			RID string `json:"rid"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	var rids []string
	for _, e := range payload.Events {
		rids = append(rids, e.RID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	// Nothing of this batch may be acknowledged before we answer 200:
	// the queue still starts with it.
	pending, err := p.q.Pending(webhook, len(rids))
	switch {
	case err != nil:
		p.errs = append(p.errs, err.Error())
	case len(pending) != len(rids):
		p.errs = append(p.errs, fmt.Sprintf("batch %q, but %d queued", rids, len(pending)))
	default:
		for i, e := range pending {
			if !bytes.Contains(e.Event, []byte(`"rid":"`+rids[i]+`"`)) {
				p.errs = append(p.errs, fmt.Sprintf("batch %q is not the head of the queue: %s", rids, e.Event))
			}
		}
	}
	if len(rids) == 0 || len(rids) > koinet.DefaultMaxBatch {
		p.errs = append(p.errs, fmt.Sprintf("batch of %d events", len(rids)))
	}
	if p.requests <= p.failFirst {
		http.Error(w, `{"detail":"down"}`, http.StatusInternalServerError)
		return
	}
	p.batches = append(p.batches, rids)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("null"))
}

// delivered returns the RIDs of the accepted batches in order.
func (p *peer) delivered() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, b := range p.batches {
		out = append(out, b...)
	}
	return out
}

// send is the Broadcast of the tests: one POST of an events_payload to
// the peer's URL; anything but 200 is an error.
func send(url string) func(ctx context.Context, sub string, events [][]byte) error {
	return func(ctx context.Context, sub string, events [][]byte) error {
		if sub != webhook {
			return fmt.Errorf("broadcast to %s", sub)
		}
		body := append([]byte(`{"type":"events_payload","events":[`), bytes.Join(events, []byte(","))...)
		body = append(body, "]}"...)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

// runDeliverer runs a deliverer on q until the returned stop is called.
func runDeliverer(t *testing.T, cfg koinet.DelivererConfig) (stop func()) {
	t.Helper()
	if cfg.Meter == nil {
		cfg.Meter = metricnoop.NewMeterProvider().Meter("test")
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 40*time.Millisecond
	cfg.Push = func(sub string) bool { return sub == webhook }
	d, err := koinet.NewDeliverer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func rids(from, to int) []string {
	var out []string
	for n := from; n < to; n++ {
		out = append(out, issueRID(n))
	}
	return out
}

// TestDeliverer: a webhook subscriber that refuses the first requests gets
// every queued event, in order, in batches of at most 6, each acknowledged
// only after it answered 200 and sent again, unchanged, until it did; a new
// deliverer on the reopened store continues where the first stopped, and
// the poll subscriber's queue is left alone.
func TestDeliverer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, dir, 0)
	s.subscribe(webhook, "WEBHOOK")
	s.subscribe(poller, "POLL")
	s.issues(0, 20)
	p := newPeer(t, s.q, 3)

	stop := runDeliverer(t, koinet.DelivererConfig{Queues: s.q, Broadcast: send(p.srv.URL)})
	topicstest.WaitFor(t, 30*time.Second, "20 events delivered", func() bool {
		d, err := s.q.Depth(webhook)
		return err == nil && d == 0
	})
	stop()
	if got := p.delivered(); !slices.Equal(got, rids(0, 20)) {
		t.Fatalf("delivered %q, want %q", got, rids(0, 20))
	}
	p.mu.Lock()
	if p.requests < 3+4 {
		t.Errorf("%d requests: the 3 refused batches were not sent again", p.requests)
	}
	p.mu.Unlock()
	s.close()

	// More events while no deliverer runs, a reopened store, a new
	// deliverer, and a subscriber that is down again for a while.
	s = openStore(t, dir, s.offset)
	defer s.close()
	s.issues(20, 33)
	p.mu.Lock()
	p.q, p.failFirst = s.q, p.requests+2
	p.mu.Unlock()
	stop = runDeliverer(t, koinet.DelivererConfig{Queues: s.q, Broadcast: send(p.srv.URL)})
	topicstest.WaitFor(t, 30*time.Second, "33 events delivered", func() bool {
		d, err := s.q.Depth(webhook)
		return err == nil && d == 0
	})
	// New events reach it without a restart.
	s.issues(33, 35)
	topicstest.WaitFor(t, 30*time.Second, "35 events delivered", func() bool {
		d, err := s.q.Depth(webhook)
		return err == nil && d == 0
	})
	stop()
	if got := p.delivered(); !slices.Equal(got, rids(0, 35)) {
		t.Errorf("delivered %q, want %q", got, rids(0, 35))
	}
	p.mu.Lock()
	for _, e := range p.errs {
		t.Error(e)
	}
	p.mu.Unlock()
	if d, err := s.q.Depth(poller); err != nil || d != 35 {
		t.Errorf("poll subscriber's depth %d, %v; want 35 (left for /events/poll)", d, err)
	}
}

// TestDelivererWaitsForABatch: events that arrive within MaxWait of the
// first go in one batch.
func TestDelivererWaitsForABatch(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), 0)
	defer s.close()
	s.subscribe(webhook, "WEBHOOK")
	p := newPeer(t, s.q, 0)
	stop := runDeliverer(t, koinet.DelivererConfig{Queues: s.q, Broadcast: send(p.srv.URL), MaxWait: 2 * time.Second})
	s.issues(0, 1)
	s.issues(1, 3)
	topicstest.WaitFor(t, 30*time.Second, "3 events delivered", func() bool {
		d, err := s.q.Depth(webhook)
		return err == nil && d == 0
	})
	stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	if want := [][]string{rids(0, 3)}; !slices.EqualFunc(p.batches, want, slices.Equal) {
		t.Errorf("batches %q, want %q", p.batches, want)
	}
}

// TestDelivererMetrics: depth and age per subscriber, deliveries and
// failures reach the meter.
func TestDelivererMetrics(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), 0)
	defer s.close()
	s.subscribe(webhook, "WEBHOOK")
	s.subscribe(poller, "POLL")
	s.issues(0, 8)
	p := newPeer(t, s.q, 1)
	reader := sdkmetric.NewManualReader()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test")
	stop := runDeliverer(t, koinet.DelivererConfig{Queues: s.q, Broadcast: send(p.srv.URL), Meter: meter})
	topicstest.WaitFor(t, 30*time.Second, "8 events delivered", func() bool {
		d, err := s.q.Depth(webhook)
		return err == nil && d == 0
	})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	stop()
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					sub, _ := dp.Attributes.Value("subscriber")
					got[m.Name+" "+sub.AsString()] += float64(dp.Value)
				}
			case metricdata.Gauge[int64]:
				for _, dp := range data.DataPoints {
					sub, _ := dp.Attributes.Value("subscriber")
					got[m.Name+" "+sub.AsString()] = float64(dp.Value)
				}
			case metricdata.Gauge[float64]:
				for _, dp := range data.DataPoints {
					sub, _ := dp.Attributes.Value("subscriber")
					got[m.Name+" "+sub.AsString()] = dp.Value
				}
			}
		}
	}
	for name, want := range map[string]float64{
		"koistream_koi_events_delivered " + webhook:  8,
		"koistream_koi_delivery_failures " + webhook: 1,
		"koistream_koi_queue_depth " + webhook:       0,
		"koistream_koi_queue_depth " + poller:        8,
		"koistream_koi_queue_dropped " + poller:      0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (reported: %v), want %v", name, v, ok, want)
		}
	}
	// The poller's oldest event was stamped 2026-11-28: long ago.
	if age := got["koistream_koi_queue_oldest_age_seconds "+poller]; age <= 0 {
		t.Errorf("oldest age of the poller's queue %v, want > 0", age)
	}
}

// TestDelivererConfig: incomplete configurations are refused.
func TestDelivererConfig(t *testing.T) {
	t.Parallel()
	s := openStore(t, t.TempDir(), 0)
	defer s.close()
	ok := koinet.DelivererConfig{Queues: s.q, Broadcast: send(""), Push: func(string) bool { return true }, Meter: metricnoop.NewMeterProvider().Meter("t")}
	for name, edit := range map[string]func(*koinet.DelivererConfig){
		"no queues":        func(c *koinet.DelivererConfig) { c.Queues = nil },
		"no broadcast":     func(c *koinet.DelivererConfig) { c.Broadcast = nil },
		"no push":          func(c *koinet.DelivererConfig) { c.Push = nil },
		"no meter":         func(c *koinet.DelivererConfig) { c.Meter = nil },
		"batch too large":  func(c *koinet.DelivererConfig) { c.MaxBatch = projections.MaxPollPage + 1 },
		"backoffs crossed": func(c *koinet.DelivererConfig) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond },
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			edit(&c)
			if _, err := koinet.NewDeliverer(c); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := koinet.NewDeliverer(ok); err != nil {
		t.Errorf("complete config refused: %v", err)
	}
}
