package benchmarks

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/koi"
)

// The KOI-net benchmarks measure the node's KOI-net API over loopback with
// signed envelopes from koiPeers concurrent peers, each with its own key,
// on the embedded broker with fsync on. Figures: benchmarks/RESULTS.md,
// section "KOI-net node". For example:
//
//	go test -run '^$' -bench 'KOI' -benchtime 2000x ./benchmarks/

// koiPeers is how many peers talk to the node at once: issue 11's 8, or
// KOISTREAM_BENCH_PEERS to see how a figure scales with concurrency.
var koiPeers = func() int {
	if n, err := strconv.Atoi(os.Getenv("KOISTREAM_BENCH_PEERS")); err == nil && n > 0 {
		return n
	}
	return 8
}()

// koiCached is how many RIDs the fetch benchmarks have cached.
const koiCached = 10_000

// koiBench is a node with koiPeers peers that introduced themselves.
type koiBench struct {
	node  *pipeline.Node
	dir   string
	base  string
	peers []*koiPeer
}

func startKOIBench(b *testing.B, dir string) *koiBench {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node, err := startNode(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	kb := &koiBench{node: node, dir: dir, base: "http://" + node.Addr() + "/koi-net"}
	for i := range koiPeers {
		p, err := newKOIPeer("peer" + strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		if err := p.handshake(kb.base, node.Identity().RID); err != nil {
			b.Fatal(err)
		}
		kb.peers = append(kb.peers, p)
	}
	if err := waitKnown(ctx, node, kb.peers); err != nil {
		b.Fatal(err)
	}
	return kb
}

func (kb *koiBench) close(b *testing.B) {
	if err := kb.node.Shutdown(context.Background()); err != nil {
		b.Error(err)
	}
}

// broadcastIssues sends n new issue events of repo from the peers, in
// batches of batch, koiPeers batches at a time, and waits until the node
// has drained them into its projections.
func (kb *koiBench) broadcastIssues(b *testing.B, repo string, n, batch int) (accepted time.Time) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, koiPeers)
	target := kb.node.Identity().RID
	now := time.Now()
	for _, p := range kb.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := int(next.Add(int64(batch))) - batch
				if from >= n {
					return
				}
				evs := make([][]byte, 0, batch)
				for i := from; i < min(from+batch, n); i++ {
					ev, err := issueEvent(repo, i, now)
					if err != nil {
						errc <- err
						return
					}
					evs = append(evs, ev)
				}
				if _, err := p.post(kb.base+"/events/broadcast", target, eventsPayload(evs)); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	accepted = time.Now()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := waitDrained(ctx, kb.node, 5*time.Millisecond, slog.New(slog.DiscardHandler), "koi broadcast"); err != nil {
		b.Fatal(err)
	}
	return accepted
}

// BenchmarkKOIBroadcast: /events/broadcast of 6-event batches from 8
// peers, until every event is served from the projections. One op is one
// event.
func BenchmarkKOIBroadcast(b *testing.B) {
	kb := startKOIBench(b, b.TempDir())
	defer kb.close(b)
	b.ResetTimer()
	start := time.Now()
	accepted := kb.broadcastIssues(b, "bench/broadcast", b.N, 6)
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/accepted.Sub(start).Seconds(), "accepted-events/s")
}

// fetchLoop runs b.N requests spread over the peers, each made by mk, and
// reports requests/s and latency quantiles.
func (kb *koiBench) fetchLoop(b *testing.B, path string, mk func(r *rand.Rand) []byte) {
	kb.fetchLoopWith(b, path, true, mk)
}

// fetchLoopWith is fetchLoop with signed (koi-net 2.x envelopes, sealed per
// request) or bare (koi-net 1.0) requests: the bare run beside the signed
// one is the baseline that prices signing and verifying.
func (kb *koiBench) fetchLoopWith(b *testing.B, path string, signed bool, mk func(r *rand.Rand) []byte) {
	b.Helper()
	var lat latencies
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, koiPeers)
	target := kb.node.Identity().RID
	b.ResetTimer()
	start := time.Now()
	for i, p := range kb.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for next.Add(1) <= int64(b.N) {
				payload := mk(r)
				t0 := time.Now()
				var err error
				if signed {
					_, err = p.post(kb.base+path, target, payload)
				} else {
					_, err = p.postBare(kb.base+path, payload)
				}
				if err != nil {
					errc <- err
					return
				}
				lat.add(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(lat.quantile(0.5), "p50-ms")
	b.ReportMetric(lat.quantile(0.99), "p99-ms")
}

// BenchmarkKOIBundlesFetch: /bundles/fetch of one cached RID per request,
// from 8 peers at once, over koiCached cached issues.
func BenchmarkKOIBundlesFetch(b *testing.B) {
	kb := startKOIBench(b, b.TempDir())
	defer kb.close(b)
	kb.broadcastIssues(b, "bench/fetch", koiCached, 100)
	kb.fetchLoop(b, "/bundles/fetch", func(r *rand.Rand) []byte {
		return []byte(`{"type":"fetch_bundles","rids":["orn:github.issue:bench/fetch:` + strconv.Itoa(r.IntN(koiCached)) + `"]}`)
	})
}

// BenchmarkKOIBundlesFetchUnsigned is BenchmarkKOIBundlesFetch with bare
// koi-net 1.0 requests and answers: the baseline that prices the envelopes.
func BenchmarkKOIBundlesFetchUnsigned(b *testing.B) {
	kb := startKOIBench(b, b.TempDir())
	defer kb.close(b)
	kb.broadcastIssues(b, "bench/fetch", koiCached, 100)
	kb.fetchLoopWith(b, "/bundles/fetch", false, func(r *rand.Rand) []byte {
		return []byte(`{"type":"fetch_bundles","rids":["orn:github.issue:bench/fetch:` + strconv.Itoa(r.IntN(koiCached)) + `"]}`)
	})
}

// BenchmarkKOIRidsFetch: /rids/fetch of every orn:github.issue RID
// (koiCached of them) per request, from 8 peers at once.
func BenchmarkKOIRidsFetch(b *testing.B) {
	kb := startKOIBench(b, b.TempDir())
	defer kb.close(b)
	kb.broadcastIssues(b, "bench/rids", koiCached, 100)
	kb.fetchLoop(b, "/rids/fetch", func(*rand.Rand) []byte {
		return []byte(`{"type":"fetch_rids","rid_types":["orn:github.issue"]}`)
	})
}

// BenchmarkKOIRestartServing: the time from Start to the first answered
// /bundles/fetch of a cached RID, with koiCached RIDs cached. One op is
// one restart.
func BenchmarkKOIRestartServing(b *testing.B) {
	dir := b.TempDir()
	kb := startKOIBench(b, dir)
	kb.broadcastIssues(b, "bench/restart", koiCached, 100)
	kb.close(b)
	p := kb.peers[0]
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		node, err := pipeline.Start(context.Background(), pipeline.Config{
			DataDir: dir, Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0",
			Streams: pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
			Logger:  slog.New(slog.DiscardHandler),
		})
		if err != nil {
			b.Fatal(err)
		}
		base := "http://" + node.Addr() + "/koi-net"
		for {
			body, err := p.post(base+"/bundles/fetch", node.Identity().RID, []byte(`{"type":"fetch_bundles","rids":["orn:github.issue:bench/restart:1"]}`))
			if err == nil && len(body) > 0 && !containsNotFound(body) {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("not serving a minute after start: %v %s", err, body)
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		if err := node.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-serve")
}

// containsNotFound reports whether a bundles_payload answer lists a RID as
// not found.
func containsNotFound(body []byte) bool {
	var p struct {
		Payload koi.BundlesPayload `json:"payload"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return true
	}
	return len(p.Payload.NotFound) > 0 || len(p.Payload.Bundles) == 0
}

// peakHeap samples the Go heap every 5 ms until stop is closed and returns
// the highest HeapInuse seen.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// koiPollPage is the page the poll benchmark asks for: the most a poll
// returns (projections.MaxPollPage).
const koiPollPage = 1000

// BenchmarkKOIPollDrain: a subscriber on a POLL edge drains koiCached
// queued events with signed /events/poll requests of koiPollPage events,
// until its queue is empty; once, whatever b.N.
// Reports events/s and the node's peak Go heap above what it held before
// the drain, which the page bounds, not the queue.
func BenchmarkKOIPollDrain(b *testing.B) {
	kb := startKOIBench(b, b.TempDir())
	defer kb.close(b)
	me := kb.node.Identity().RID
	p := kb.peers[0]
	edge := koi.EdgeRID(me, p.rid)
	contents := []byte(`{"@context":"orn:koi-net.context:koi-net.edge","source":"` + me + `","target":"` + p.rid +
		`","edge_type":"POLL","status":"PROPOSED","rid_types":["orn:github.issue"]}`)
	eb, err := koi.NewBundle(edge, contents, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.post(kb.base+"/events/broadcast", me, eventsPayload([][]byte{koi.NewBundleEvent(koi.EventNew, eb).AppendJSON(nil)})); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "the poll edge approved", func() bool {
		e, ok, err := kb.node.Graph().Edge(edge)
		return err == nil && ok && e.Status == "APPROVED"
	})
	// The issues come from the other peers: an event is not queued back
	// to the peer it came from.
	others := &koiBench{node: kb.node, base: kb.base, peers: kb.peers[1:]}
	others.broadcastIssues(b, "bench/poll", koiCached, 100)
	waitFor(b, "every issue queued", func() bool {
		d, err := kb.node.Queues().Depth(p.rid)
		return err == nil && d >= koiCached
	})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	peak := peakHeap(stop)
	payload := []byte(`{"type":"poll_events","limit":` + strconv.Itoa(koiPollPage) + `}`)
	b.ResetTimer()
	start := time.Now()
	got, polls := 0, 0
	for {
		body, err := p.post(kb.base+"/events/poll", me, payload)
		if err != nil {
			b.Fatal(err)
		}
		polls++
		var ans struct {
			Payload struct {
				Events []json.RawMessage `json:"events"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(body, &ans); err != nil {
			b.Fatal(err)
		}
		if len(ans.Payload.Events) == 0 {
			break
		}
		got += len(ans.Payload.Events)
	}
	el := time.Since(start)
	b.StopTimer()
	close(stop)
	if got < koiCached {
		b.Fatalf("drained %d events, want %d", got, koiCached)
	}
	b.ReportMetric(float64(got)/el.Seconds(), "events/s")
	b.ReportMetric(float64(polls), "polls")
	b.ReportMetric(float64(int64(<-peak)-int64(before.HeapInuse))/(1<<20), "peak-heap-MiB")
}

// waitFor polls cond every 10 ms for up to two minutes.
func waitFor(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
