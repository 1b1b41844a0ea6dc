package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The stream benchmarks measure the stream listener over loopback, on a
// node with the embedded broker and fsync on. Figures: benchmarks/RESULTS.md,
// section "Streams and replay". For example:
//
//	go test -run '^$' -bench 'Streams' -benchtime 1x ./benchmarks/
//
// KOISTREAM_BENCH_SUBSCRIBERS, KOISTREAM_BENCH_PUBLISHERS,
// KOISTREAM_BENCH_MESSAGES, KOISTREAM_BENCH_IDLE and
// KOISTREAM_BENCH_REPLAY change the sizes below.

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

var (
	streamSubscribers = envInt("KOISTREAM_BENCH_SUBSCRIBERS", 100)
	streamPublishers  = envInt("KOISTREAM_BENCH_PUBLISHERS", 64)
	streamMessages    = envInt("KOISTREAM_BENCH_MESSAGES", 50_000)
	idleSubscribers   = envInt("KOISTREAM_BENCH_IDLE", 10_000)
	replayEvents      = envInt("KOISTREAM_BENCH_REPLAY", 1_000_000)
)

// BenchmarkStreamsPublishDeliver: streamPublishers publishers PUT small
// JSON objects (keep-alive, each waiting for its 202) to 64 paths while
// streamSubscribers subscribers follow "/bench". Each iteration publishes
// streamMessages messages and ends when every subscriber has received all
// of them. msg/s is messages published and delivered to every subscriber
// per second; latency is from the start of the PUT to the subscriber
// reading it, on the first ten subscribers, every message.
func BenchmarkStreamsPublishDeliver(b *testing.B) {
	node, err := startNode(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer node.Shutdown(context.Background())
	addr := node.PubsubAddr()
	var lat latencies
	var msgsPerSec []float64
	for b.Loop() {
		subs := make([]*streamConn, streamSubscribers)
		for i := range subs {
			if subs[i], err = openStream(addr, "/bench"); err != nil {
				b.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(subs)+streamPublishers)
		for i, s := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.close()
				for got := 0; got < streamMessages; {
					obj, err := s.next()
					if err != nil {
						errs <- fmt.Errorf("subscriber %d after %d: %w", i, got, err)
						return
					}
					if isPing(obj) {
						continue
					}
					got++
					if i < 10 {
						if t := sentAt(obj); t > 0 {
							lat.add(time.Duration(time.Now().UnixNano() - t))
						}
					}
				}
			}()
		}
		start := time.Now()
		var next atomic.Int64
		var pwg sync.WaitGroup
		for p := range streamPublishers {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: time.Minute}
				for {
					n := next.Add(1)
					if n > int64(streamMessages) {
						return
					}
					body := fmt.Sprintf(`{"t":%d,"n":%d,"publisher":%d}`, time.Now().UnixNano(), n, p)
					req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/bench/p%d", addr, n%64), strings.NewReader(body))
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						errs <- fmt.Errorf("publish: %s", resp.Status)
						return
					}
				}
			}()
		}
		pwg.Wait()
		published := time.Since(start)
		wg.Wait()
		elapsed := time.Since(start)
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		msgsPerSec = append(msgsPerSec, float64(streamMessages)/elapsed.Seconds())
		b.Logf("%d messages to %d subscribers: published in %v, delivered to all in %v", streamMessages, len(subs), published.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	}
	b.ReportMetric(median(msgsPerSec), "msg/s")
	b.ReportMetric(median(msgsPerSec)*float64(streamSubscribers), "deliveries/s")
	b.ReportMetric(lat.quantile(0.50), "p50_ms")
	b.ReportMetric(lat.quantile(0.99), "p99_ms")
}

// sentAt reads the "t" member the publishers put first, or 0.
func sentAt(obj []byte) int64 {
	rest, ok := bytes.CutPrefix(obj, []byte(`{"t":`))
	if !ok {
		return 0
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0
	}
	t, _ := strconv.ParseInt(string(rest[:end]), 10, 64)
	return t
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return nearestRank(slices.Sorted(slices.Values(xs)), 0.5)
}

// BenchmarkStreamsReplay stores replayEvents events (about 420 bytes of
// value each) in the node's events topic, then each iteration replays all
// of them to one client by time (X-Fetch-Since: the second storing began,
// path /bench/replay) up to the second after the last (until). events/s is the replay's; first_ms the time
// from sending the request to reading the first event.
func BenchmarkStreamsReplay(b *testing.B) {
	node, err := startNode(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer node.Shutdown(context.Background())
	t0 := time.Now()
	if err := storeEvents(context.Background(), node.KafkaAddrs(), node.Topics().Events, replayEvents); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d events in %v", replayEvents, time.Since(t0).Round(time.Millisecond))
	since := strconv.FormatInt(t0.Unix(), 10) // the second storing began: all of them, maybe the node's own events before
	until := strconv.FormatInt(time.Now().Unix()+1, 10)
	var rates, firsts []float64
	for b.Loop() {
		start := time.Now()
		s, err := openStream(node.PubsubAddr(), "/bench/replay?until="+until, "X-Fetch-Since: "+since)
		if err != nil {
			b.Fatal(err)
		}
		var first time.Duration
		var last []byte
		n := 0
		for {
			obj, err := s.next()
			if err == errStreamEnd {
				break
			}
			if err != nil {
				b.Fatalf("after %d events: %v", n, err)
			}
			if isPing(obj) {
				continue
			}
			if bytes.HasPrefix(obj, []byte(`{"error"`)) {
				b.Fatalf("after %d events the stream ended with %s", n, obj)
			}
			if n == 0 {
				first = time.Since(start)
			}
			n++
			last = append(last[:0], obj...)
		}
		elapsed := time.Since(start)
		s.close()
		if n != replayEvents {
			b.Fatalf("replayed %d events, want %d; the last: %s", n, replayEvents, last)
		}
		rates = append(rates, float64(n)/elapsed.Seconds())
		firsts = append(firsts, float64(first)/float64(time.Millisecond))
		b.Logf("replayed %d events in %v, first after %v", n, elapsed.Round(time.Millisecond), first.Round(time.Microsecond))
	}
	b.ReportMetric(median(rates), "events/s")
	b.ReportMetric(median(firsts), "first_ms")
}

// BenchmarkStreamsIdleSubscribers holds idleSubscribers subscriptions open
// from a child process (this machine allows 20,000 open files a process;
// subscriber and server ends in one process would not fit) and reports the
// node's memory per idle subscriber: Go heap and stacks, and RSS, after
// minus before, divided by the count. Every subscriber must have had its
// first stillalive and the node must count them all.
func BenchmarkStreamsIdleSubscribers(b *testing.B) {
	node, err := startNode(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer node.Shutdown(context.Background())
	// The baseline, side by side: the least a Go server can hold an idle
	// stream with, one goroutine per connection that read the request
	// and sent one chunk, with no HTTP server, no subscription and no
	// timer.
	minimal, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer minimal.Close()
	go serveMinimalStreams(minimal)
	for b.Loop() {
		ours := holdIdle(b, node.PubsubAddr(), func() int {
			resp, err := http.Head("http://" + node.PubsubAddr() + "/")
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			n, _ := strconv.Atoi(resp.Header.Get("X-Subscribers"))
			return n
		})
		// The node notices the helper's connections are gone at its next
		// ping; the baseline needs those descriptors (20,000 a process).
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			resp, err := http.Head("http://" + node.PubsubAddr() + "/")
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if n, _ := strconv.Atoi(resp.Header.Get("X-Subscribers")); n == 0 {
				break
			}
		}
		base := holdIdle(b, minimal.Addr().String(), nil)
		b.ReportMetric(float64(ours.counted), "subscribers")
		b.ReportMetric(ours.goPer, "go_bytes/subscriber")
		b.ReportMetric(ours.rssPer, "rss_bytes/subscriber")
		b.ReportMetric(base.goPer, "baseline_go_bytes/conn")
		b.ReportMetric(base.rssPer, "baseline_rss_bytes/conn")
		if base.goPer > 0 {
			b.ReportMetric(ours.goPer/base.goPer, "go_ratio")
		}
		if ours.counted < idleSubscribers {
			b.Fatalf("HEAD counts %d subscribers, want at least %d", ours.counted, idleSubscribers)
		}
	}
}

// idleFigures are one holdIdle's measurements, per connection.
type idleFigures struct {
	goPer, rssPer float64
	counted       int
}

// holdIdle has a child process hold idleSubscribers streams open on addr
// and measures this process's memory before and while they are held;
// count, when set, is asked how many the server counts meanwhile.
func holdIdle(b *testing.B, addr string, count func() int) idleFigures {
	heap0, rss0 := goMemory(), rssBytes()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldStreams$", "-test.v")
	cmd.Env = append(os.Environ(), "KOISTREAM_HOLD_ADDR="+addr, "KOISTREAM_HOLD_N="+strconv.Itoa(idleSubscribers))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	held := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "held ") {
				held <- nil
			}
			if strings.HasPrefix(sc.Text(), "hold failed") {
				held <- fmt.Errorf("%s", sc.Text())
			}
		}
		held <- fmt.Errorf("helper exited before holding its subscriptions")
	}()
	start := time.Now()
	if err := <-held; err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	var f idleFigures
	if count != nil {
		f.counted = count()
	}
	heap1, rss1 := goMemory(), rssBytes()
	f.goPer = float64(heap1-heap0) / float64(idleSubscribers)
	f.rssPer = float64(rss1-rss0) / float64(idleSubscribers)
	b.Logf("%s: %d streams held in %v; Go heap+stacks %+d MiB, RSS %+d MiB", addr, idleSubscribers, took.Round(time.Millisecond), (heap1-heap0)>>20, (rss1-rss0)>>20)
	return f
}

// serveMinimalStreams is the idle benchmark's baseline server.
func serveMinimalStreams(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of descriptors for a moment: try again
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer conn.Close()
			br := bufio.NewReader(conn)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" {
					break
				}
			}
			ping := `{"stillalive": 1795368274.011798}` + "\n"
			fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(ping), ping)
			var one [1]byte
			conn.Read(one[:]) // until the client goes
		}()
	}
}

// goMemory is the Go heap in use plus goroutine stacks, after a GC.
func goMemory() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// rssBytes is the process's resident set from /proc/self/status, or 0.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestHoldStreams is BenchmarkStreamsIdleSubscribers' child process, not a
// test: with KOISTREAM_HOLD_ADDR set it opens KOISTREAM_HOLD_N stream
// subscriptions there, reads each one's first stillalive, prints "held N"
// and keeps them open until its stdin closes.
func TestHoldStreams(t *testing.T) {
	addr := os.Getenv("KOISTREAM_HOLD_ADDR")
	if addr == "" {
		t.Skip("the idle-subscribers benchmark's helper process")
	}
	n, _ := strconv.Atoi(os.Getenv("KOISTREAM_HOLD_N"))
	conns := make([]*streamConn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 128) // the listener's backlog is 4,096 here
	var failed atomic.Pointer[error]
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := openStream(addr, "/idle/"+strconv.Itoa(i%100))
			if err == nil {
				var obj []byte
				obj, err = s.next()
				if err == nil && !isPing(obj) {
					err = fmt.Errorf("first object %q is not a stillalive", obj)
				}
			}
			if err != nil {
				failed.CompareAndSwap(nil, &err)
				return
			}
			conns[i] = s
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		fmt.Printf("hold failed: %v\n", *err)
		return
	}
	fmt.Printf("held %d\n", n)
	io.Copy(io.Discard, os.Stdin)
	for _, s := range conns {
		s.close()
	}
}
