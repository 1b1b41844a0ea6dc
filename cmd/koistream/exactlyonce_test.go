package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"math/rand/v2"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/topicstest"
)

// TestKillNineCyclesExactlyOnce kills one node with kill -9 again and again
// (mid-burst, as a burst ends, while the stages catch up, after they caught
// up) and restarts it on the same data folder, under bursts of concurrent
// signed deliveries: new ones whose repositories, issues and pull requests
// change with every delivery (NEW, then UPDATE; deleted issues FORGET and
// come back NEW), and redeliveries of earlier ones, which dedupe must drop.
// Deliveries not answered 202 are sent again in the next burst, as GitHub
// retries them.
//
// It then reads all of koistream.events read_committed and requires
// exactly-once announcements: each (RID, manifest sha256_hash) pair once,
// each acknowledged delivery's event RID once and as NEW, no RID NEW while
// announced (nor UPDATE or FORGET while not, nor a timestamp that does not
// move forward), and the cache holding every acknowledged delivery and the
// last event of every RID. At-least-once stages fail it: a crash between
// publishing and committing makes them announce the same events again, and
// KOI-net subscribers of the events topic would see every one twice.
func TestKillNineCyclesExactlyOnce(t *testing.T) {
	t.Parallel()
	cycles, perBurst, maxCatchUp := 8, 120, 400*time.Millisecond
	if raceEnabled {
		cycles, perBurst, maxCatchUp = 4, 60, 800*time.Millisecond
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	w := newWorkload(t, seed)
	dir := t.TempDir()

	// When in a cycle the node is killed, in turn.
	moments := []struct {
		name     string
		midBurst bool          // after a random number of the burst's 202s
		maxDelay time.Duration // else this long at most after the burst's last answer
		settled  bool          // or once the stages have consumed everything
	}{
		{"mid-burst", true, 0, false},
		{"as the burst ends", false, 20 * time.Millisecond, false},
		{"while the stages catch up", false, maxCatchUp, false},
		{"after the stages caught up", false, 0, true},
	}
	n := startNode(t, dir)
	for c := range cycles {
		m := moments[c%len(moments)]
		ds := w.burst(perBurst)
		victim, addr := n, n.http
		var once sync.Once
		kill := func() { once.Do(victim.kill9) }
		killAt := 1 + rng.IntN(len(ds)-1)
		var acks atomic.Int64
		w.send(ds, 8, func(int) string { return addr }, func(a int) {
			acks.Add(1)
			if m.midBurst && a == killAt {
				kill()
			}
		})
		switch {
		case m.settled:
			topicstest.WaitFor(t, 60*time.Second, "the stages to consume their input topics", func() bool {
				return settled(t, victim.kafka)
			})
		case !m.midBurst:
			time.Sleep(time.Duration(rng.Int64N(int64(m.maxDelay))))
		}
		kill()
		t.Logf("cycle %d: kill -9 %s, %d of %d deliveries answered 202", c, m.name, acks.Load(), len(ds))
		n = startNode(t, dir)
	}

	w.sendUntilAcked(t, 60*time.Second, func(int) string { return n.http })
	topicstest.WaitFor(t, 90*time.Second, "the stages to consume their input topics", func() bool { return settled(t, n.kafka) })
	l := parseEvents(t, readCommitted(t, n.kafka, "koistream.events"))
	checkExactlyOnce(t, n.kafka, w, l, map[string]string{"the node": n.http})
	n.stop()
}

// TestPartitionMovesBetweenInstances runs three "koistream serve" instances
// on one "koistream broker" and streams deliveries (new ones with changing
// entities, redeliveries) to them round-robin while, mid-stream, one
// instance stops with SIGTERM, a fourth starts, another is killed with
// kill -9 and comes back on its data folder: the stage partitions move
// between instances each time. It requires the exactly-once properties of
// TestKillNineCyclesExactlyOnce over the read_committed events topic, and
// that the caches of the surviving instances hold the same bundles.
//
// A partition that moves meets the new owner's stage state: if that state
// is the instance's own and not restored from the log, dedupe lets
// redeliveries through and ridify announces known RIDs as NEW again, which
// is how a scaled-out or rolling-restarted deployment would fail.
func TestPartitionMovesBetweenInstances(t *testing.T) {
	t.Parallel()
	const partitions = 3
	chunk := 120
	if raceEnabled {
		chunk = 60
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	w := newWorkload(t, seed)

	b := startBroker(t, t.TempDir(), partitions)
	serve := func(dir string) *node {
		return startNodeWith(t, []string{"serve", "--brokers", b.kafka, "--data-dir", dir, "--listen", "127.0.0.1:0",
			"--log-format", "json", "--partitions", strconv.Itoa(partitions)},
			[]string{"GITHUB_WEBHOOK_SECRET=" + testSecret})
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()}
	var mu sync.Mutex
	var live []*node
	names := map[*node]string{} // for the subtests of their caches
	for i, d := range dirs[:3] {
		n := serve(d)
		live = append(live, n)
		names[n] = "instance " + strconv.Itoa(i+1)
	}
	first := slices.Clone(live)
	target := func(i int) string {
		mu.Lock()
		defer mu.Unlock()
		if len(live) == 0 {
			return ""
		}
		return live[i%len(live)].http
	}
	add := func(n *node) {
		mu.Lock()
		defer mu.Unlock()
		live = append(live, n)
	}
	remove := func(n *node) {
		mu.Lock()
		defer mu.Unlock()
		live = slices.DeleteFunc(live, func(x *node) bool { return x == n })
	}

	type step struct {
		name string
		do   func()
	}
	steps := []step{
		{"SIGTERM instance 3", func() { first[2].stop(); remove(first[2]) }},
		{"start instance 4", func() { n := serve(dirs[3]); names[n] = "instance 4"; add(n) }},
		{"kill -9 instance 2", func() {
			time.Sleep(time.Duration(rng.Int64N(int64(200 * time.Millisecond))))
			first[1].kill9()
			remove(first[1])
		}},
		{"restart instance 2 on its data folder", func() { n := serve(dirs[1]); names[n] = "instance 2, restarted"; add(n) }},
	}
	start := time.Now()
	for _, s := range append(steps, step{"the stream ends", func() {}}) {
		base := w.ackedCount()
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.send(w.burst(chunk), 8, target, nil)
		}()
		topicstest.WaitFor(t, 60*time.Second, "half a chunk of deliveries answered", func() bool {
			select {
			case <-done:
				return true
			default:
				return w.ackedCount() >= base+chunk/2
			}
		})
		s.do()
		<-done
		t.Logf("%s at %s: %d deliveries answered 202 so far", s.name, time.Since(start).Round(time.Millisecond), w.ackedCount())
	}

	w.sendUntilAcked(t, 60*time.Second, target)
	// A killed member keeps its partitions until its session times out
	// (45 s, franz-go's default).
	topicstest.WaitFor(t, 120*time.Second, "the stages to consume their input topics", func() bool { return settled(t, b.kafka) })
	t.Logf("stages settled at %s", time.Since(start).Round(time.Millisecond))
	l := parseEvents(t, readCommitted(t, b.kafka, "koistream.events"))
	caches := map[string]string{}
	for _, n := range live {
		caches[names[n]] = n.http
	}
	checkExactlyOnce(t, b.kafka, w, l, caches)

	t.Run("surviving caches hold the same bundles", func(t *testing.T) {
		// Compare the GitHub RIDs, which come from the log. Each instance
		// also lists its own node profile, orn:koi-net.node:<name>+<hash of
		// its own key>: its identity, not the log's, so those RIDs differ
		// between instances by design and are left out.
		githubOnly := func(m map[string]string) map[string]string {
			maps.DeleteFunc(m, func(rid, _ string) bool { return strings.HasPrefix(rid, "orn:koi-net.node:") })
			return m
		}
		want := githubOnly(snapshot(t, live[0].http))
		for _, n := range live[1:] {
			got := githubOnly(snapshot(t, n.http))
			if reflect.DeepEqual(got, want) {
				continue
			}
			var differ []string
			for rid := range want {
				if got[rid] != want[rid] {
					differ = append(differ, rid)
				}
			}
			for rid := range got {
				if _, ok := want[rid]; !ok {
					differ = append(differ, rid)
				}
			}
			slices.Sort(differ)
			t.Errorf("%s holds %d bundles, %s %d; %d RIDs differ, e.g. %q", names[n], len(got), names[live[0]], len(want), len(differ), differ[:min(len(differ), 3)])
		}
	})
	for _, n := range live {
		n.stop()
	}
}

// startBroker runs "koistream broker" on dataDir with a free Kafka port and
// returns it once it has logged "broker serving"; its kafka field is the
// address that line gives.
func startBroker(t *testing.T, dataDir string, partitions int) *node {
	t.Helper()
	cmd := exec.Command(binary, "broker", "--data-dir", dataDir, "--kafka-listen", "127.0.0.1:0", "--partitions", strconv.Itoa(partitions))
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	n := &node{t: t, cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			n.logs.Write(append(append([]byte(nil), line...), '\n'))
			if addr := brokerServing(line); addr != "" {
				select {
				case ready <- addr:
				default:
				}
			}
		}
	}()
	go func() {
		n.waitErr = cmd.Wait()
		pw.Close()
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			t.Logf("broker logs:\n%s", n.logs.String())
		}
	})
	select {
	case n.kafka = <-ready:
	case <-n.exited:
		t.Fatalf("koistream broker exited before logging \"broker serving\" (%v): is the command there?", n.waitErr)
	case <-time.After(60 * time.Second):
		t.Fatalf("koistream broker did not log \"broker serving\" in 60s")
	}
	return n
}

var textKafkaAttr = regexp.MustCompile(`(?:^|\s)kafka="?\[?([^\s"\]]+)`)

// brokerServing returns the kafka attribute of a "broker serving" log line,
// JSON or text, or "" for any other line.
func brokerServing(line []byte) string {
	var rec map[string]any
	if json.Unmarshal(line, &rec) == nil {
		if rec["msg"] != "broker serving" {
			return ""
		}
		switch v := rec["kafka"].(type) {
		case string:
			return v
		case []any:
			if len(v) > 0 {
				s, _ := v[0].(string)
				return s
			}
		}
		return ""
	}
	if !bytes.Contains(line, []byte(`msg="broker serving"`)) {
		return ""
	}
	if m := textKafkaAttr.FindSubmatch(line); m != nil {
		return string(m[1])
	}
	return ""
}

// TestBrokerServingLogLine: the address of "koistream broker" is read from
// its "broker serving" line in either log format, and no other line.
func TestBrokerServingLogLine(t *testing.T) {
	t.Parallel()
	tests := []struct{ line, want string }{
		{`{"time":"t","level":"INFO","msg":"broker serving","kafka":"127.0.0.1:40123"}`, "127.0.0.1:40123"},
		{`{"time":"t","level":"INFO","msg":"broker serving","kafka":["127.0.0.1:40123"]}`, "127.0.0.1:40123"},
		{`time=t level=INFO msg="broker serving" kafka=127.0.0.1:40123 data_dir=/d`, "127.0.0.1:40123"},
		{`time=t level=INFO msg="broker serving" kafka=[127.0.0.1:40123]`, "127.0.0.1:40123"},
		{`time=t level=INFO msg="broker serving" kafka="127.0.0.1:40123"`, "127.0.0.1:40123"},
		{`{"time":"t","level":"INFO","msg":"koistream serving","kafka":["127.0.0.1:40123"]}`, ""},
		{`time=t level=INFO msg="topics ready" kafka=127.0.0.1:40123`, ""},
	}
	for _, tt := range tests {
		if got := brokerServing([]byte(tt.line)); got != tt.want {
			t.Errorf("brokerServing(%s) = %q, want %q", tt.line, got, tt.want)
		}
	}
}
