package replay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/replay"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/topicstest"
)

const eventsTopic = "koistream.events"

// world is a broker with an events topic and a producer for it.
type world struct {
	t       *testing.T
	brokers []string
	client  *kgo.Client
	seq     int
	mu      sync.Mutex
}

func newWorld(t *testing.T, partitions int) *world {
	t.Helper()
	_, addr := topicstest.StartBroker(t, topicstest.NoSync(), topicstest.Partitions(partitions))
	brokers := []string{addr}
	if err := topics.EnsureTopics(context.Background(), brokers, []string{eventsTopic}, partitions); err != nil {
		t.Fatal(err)
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return &world{t: t, brokers: brokers, client: client}
}

// record returns an events record announcing a new published message on
// partition p, stamped ts (now when zero).
func (w *world) record(p int32, ts time.Time) *kgo.Record {
	w.mu.Lock()
	w.seq++
	n := w.seq
	w.mu.Unlock()
	rid := fmt.Sprintf("orn:pubsub.message:%06d/test", n)
	contents := []byte(fmt.Sprintf(`{"n":%d}`, n))
	man, err := koi.NewManifest(rid, contents, time.Unix(1795368000, 0))
	if err != nil {
		w.t.Fatal(err)
	}
	msg, err := events.NewMessage(koi.Event{RID: rid, EventType: koi.EventNew, Manifest: &man, Contents: contents}, observed.Observation{
		RID: rid, Op: observed.OpUpsert, Contents: contents, Routing: "evt.publish", Immutable: true,
		Source: "publish", SourceKey: fmt.Sprint(n), ReceivedAt: time.Unix(1795368000, 0), Path: "/test/n",
	})
	if err != nil {
		w.t.Fatal(err)
	}
	r := topics.RecordFromMessage(eventsTopic, msg)
	r.Partition, r.Timestamp = p, ts
	return r
}

// produce writes n records round-robin over parts partitions and returns
// their positions.
func (w *world) produce(n, parts int) []pos {
	w.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = w.record(int32(i%parts), time.Time{})
	}
	return w.produceRecords(recs)
}

func (w *world) produceRecords(recs []*kgo.Record) []pos {
	w.t.Helper()
	res := w.client.ProduceSync(context.Background(), recs...)
	if err := res.FirstErr(); err != nil {
		w.t.Fatal(err)
	}
	out := make([]pos, len(recs))
	for i, r := range recs { // in the order given: res is by partition
		out[i] = pos{r.Partition, r.Offset}
	}
	return out
}

type pos struct {
	p int32
	o int64
}

func startHub(t *testing.T, w *world, mod func(*replay.HubConfig)) *replay.Hub {
	t.Helper()
	cfg := replay.HubConfig{Brokers: w.brokers, Topic: eventsTopic}
	if mod != nil {
		mod(&cfg)
	}
	h, err := replay.StartHub(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// read takes n items from s (or until it ends), failing after 20 s.
func read(t *testing.T, s *replay.Subscription, n int) ([]*replay.Item, error) {
	t.Helper()
	var got []*replay.Item
	deadline := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case <-s.Ready():
		case <-deadline:
			t.Fatalf("read %d of %d items in 20 s", len(got), n)
		}
		for len(got) < n {
			it, err := s.TryNext()
			if err != nil {
				return got, err
			}
			if it == nil {
				break
			}
			got = append(got, it)
		}
	}
	return got, nil
}

func positions(items []*replay.Item) []pos {
	out := make([]pos, len(items))
	for i, it := range items {
		out[i] = pos{it.Partition, it.Offset}
	}
	return out
}

func sorted(ps []pos) []pos {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b pos) int {
		if a.p != b.p {
			return int(a.p - b.p)
		}
		return int(a.o - b.o)
	})
	return out
}

// checkExactlyOnce fails unless got holds each of want once, each
// partition's in offset order.
func checkExactlyOnce(t *testing.T, got, want []pos) {
	t.Helper()
	if g, w := sorted(got), sorted(want); !slices.Equal(g, w) {
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		var gi, wi any = "none", "none"
		if i < len(g) {
			gi = g[i]
		}
		if i < len(w) {
			wi = w[i]
		}
		t.Fatalf("got %d items, want %d; in (partition, offset) order the first difference is at %d: got %v, want %v", len(g), len(w), i, gi, wi)
	}
	last := map[int32]int64{}
	for _, g := range got {
		if o, ok := last[g.p]; ok && g.o <= o {
			t.Fatalf("partition %d: offset %d after %d", g.p, g.o, o)
		}
		last[g.p] = g.o
	}
}

func TestHubLive(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 4)
	w.produce(10, 4) // history a live subscriber does not see
	h := startHub(t, w, nil)
	s, err := h.Subscribe(context.Background(), replay.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.CatchingUp() {
		t.Fatal("a live subscription catches up")
	}
	want := w.produce(100, 4)
	got, err := read(t, s, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, positions(got), want)
	if it, err := s.TryNext(); it != nil || err != nil {
		t.Fatalf("after everything: %v, %v", it, err)
	}
	c := s.Cursor()
	ends, err := kadm.NewClient(w.client).ListEndOffsets(context.Background(), eventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if c.Next(o.Partition) != o.Offset {
			t.Errorf("cursor at %d on partition %d, want its end %d", c.Next(o.Partition), o.Partition, o.Offset)
		}
	})
	if st := h.Stats(); st.Subscribers != 1 || st.Items != 100 {
		t.Fatalf("stats %+v", st)
	}
}

// TestHubResumeFromCursor: a subscription from the start of the log reads
// history and then live records published while it reads, each once; a
// subscription from any cursor it handed out gets exactly the rest, on a
// hub started afresh too (as after a restart of the node).
func TestHubResumeFromCursor(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	first := w.produce(300, 3)
	h := startHub(t, w, func(c *replay.HubConfig) { c.RingItems = 64 })
	zero := replay.NewCursor(nil)
	s, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Cursor: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var more []pos
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // publishing during the switch-over
		defer wg.Done()
		for range 10 {
			more = append(more, w.produce(30, 3)...)
		}
	}()
	var got []*replay.Item
	var cursors []replay.Cursor
	for len(got) < 600 {
		items, err := read(t, s, 1)
		if errors.Is(err, replay.ErrFellBehind) {
			// The small ring turned over while this reader lagged (a race
			// build is slow): resume with the cursor, as clients do.
			c := s.Cursor()
			s.Close()
			if s, err = h.Subscribe(context.Background(), replay.SubscribeOptions{Cursor: &c}); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, items...)
		cursors = append(cursors, s.Cursor())
	}
	wg.Wait()
	checkExactlyOnce(t, positions(got), append(first, more...))

	// Resume from every 50th cursor, on a new hub.
	h2 := startHub(t, w, nil)
	for i := 49; i < len(got)-1; i += 50 {
		t.Run(fmt.Sprint("after item ", i), func(t *testing.T) {
			text := cursors[i].String()
			c, err := replay.ParseCursor(text)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := h2.Subscribe(context.Background(), replay.SubscribeOptions{Cursor: &c})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			rest, err := read(t, s2, len(got)-1-i)
			if err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, positions(rest), positions(got[i+1:]))
			if it, err := s2.TryNext(); it != nil || err != nil {
				t.Fatalf("after the rest: %v, %v", it, err)
			}
		})
	}
}

// TestHubSinceMergesByTime: history from a timestamp comes in timestamp
// order across partitions, from the first record stamped at or after it,
// and Until ends it.
func TestHubSinceMergesByTime(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 4)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var recs []*kgo.Record
	for i := range 80 {
		// Partition i%4 gets ever later stamps, interleaved with the others.
		recs = append(recs, w.record(int32(i%4), t0.Add(time.Duration(i)*time.Second)))
	}
	all := w.produceRecords(recs)
	h := startHub(t, w, nil)
	tests := []struct {
		name         string
		since, until time.Time
		want         []pos
	}{
		{"from the start", t0, time.Time{}, all},
		{"from the 21st", t0.Add(20 * time.Second), time.Time{}, all[20:]},
		{"between the 21st and the 40th", t0.Add(20 * time.Second), t0.Add(39 * time.Second), all[20:40]},
		{"between stamps", t0.Add(20*time.Second + 500*time.Millisecond), t0.Add(39*time.Second + 500*time.Millisecond), all[21:40]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Since: tt.since, Until: tt.until})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := read(t, s, len(tt.want))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(positions(got), tt.want) {
				t.Fatalf("got %v\nwant %v (time order)", positions(got), tt.want)
			}
			if tt.until.IsZero() {
				return
			}
			select {
			case <-s.Ready():
			case <-time.After(5 * time.Second):
				t.Fatal("not ready to end 5 s after Until")
			}
			if it, err := s.TryNext(); !errors.Is(err, io.EOF) {
				t.Fatalf("after Until: %v, %v; want io.EOF", it, err)
			}
		})
	}
}

// TestHubCutsOffSlowSubscribers: one that does not read while the ring
// turns over is cut off, and its cursor resumes it without a gap.
func TestHubCutsOffSlowSubscribers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	h := startHub(t, w, func(c *replay.HubConfig) { c.RingItems = 16 })
	s, err := h.Subscribe(context.Background(), replay.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := w.produce(10, 2)
	got, err := read(t, s, 3)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, w.produce(100, 2)...)
	topicstest.WaitFor(t, 10*time.Second, "the hub read everything", func() bool { return h.Stats().Items == 110 })
	_, err = read(t, s, 200)
	if !errors.Is(err, replay.ErrFellBehind) {
		t.Fatalf("slow subscriber: %v, want ErrFellBehind", err)
	}
	if h.Stats().CutOff != 1 {
		t.Fatalf("cut-offs %d, want 1", h.Stats().CutOff)
	}
	c := s.Cursor()
	s2, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Cursor: &c})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rest, err := read(t, s2, 107)
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, append(positions(got), positions(rest)...), want)
}

func TestHubRefusesForeignCursors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	w.produce(4, 2)
	h := startHub(t, w, nil)
	tests := []struct {
		name string
		c    replay.Cursor
		want error
	}{
		{"more partitions", replay.NewCursor([]int64{0, 0, 0}), replay.ErrBadCursor},
		{"past the end", replay.NewCursor([]int64{2, 3}), replay.ErrCursorBeyondEnd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Cursor: &tt.c})
			if !errors.Is(err, tt.want) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Subscribe: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestHubTransactions: records of committed transactions come once and
// aborted ones never, live and in history; markers move cursors.
func TestHubTransactions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	txn, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.TransactionalID("hub-test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	h := startHub(t, w, nil)
	live, err := h.Subscribe(context.Background(), replay.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	var committed []pos
	for round := range 6 {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		for i := range 5 {
			recs = append(recs, w.record(int32(i%2), time.Time{}))
		}
		res := txn.ProduceSync(context.Background(), recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		commit := round%3 != 1
		if err := txn.EndTransaction(context.Background(), kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		if commit {
			for _, r := range res {
				committed = append(committed, pos{r.Record.Partition, r.Record.Offset})
			}
		}
	}
	got, err := read(t, live, len(committed))
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, positions(got), committed)
	zero := replay.NewCursor(nil)
	hist, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Cursor: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer hist.Close()
	got, err = read(t, hist, len(committed))
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, positions(got), committed)
	if it, err := hist.TryNext(); it != nil || err != nil {
		t.Fatalf("after everything: %v, %v", it, err)
	}
}

// TestHubUntilWaitsForTheHub: a replay with an Until long past, started
// while the hub is still reading a burst, ends only after everything
// stamped before Until, not at the end of what the hub has read so far.
// The ring holds the whole burst, so the replay joins it at once and
// reaches its end while the hub is still reading (the benchmark of a
// million events found it ending there, with half of them).
func TestHubUntilWaitsForTheHub(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 8)
	// Small batches fetched one at a time keep the hub reading for a while
	// after the producer is done.
	small, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(2048), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	h := startHub(t, w, func(c *replay.HubConfig) {
		c.KgoOpts = []kgo.Opt{kgo.FetchMaxPartitionBytes(1), kgo.FetchMaxBytes(1)}
	})
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	const n = 20_000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = w.record(int32(i%8), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if err := small.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	all := positions(nil)
	for _, r := range recs {
		all = append(all, pos{r.Partition, r.Offset})
	}
	t.Logf("the hub had read %d of %d when the replay began", h.Stats().Items, n)
	s, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Since: t0, Until: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []*replay.Item
	deadline := time.After(120 * time.Second)
	for err == nil {
		select {
		case <-s.Ready():
		case <-deadline:
			t.Fatalf("no end after %d items in 60 s", len(got))
		}
		var it *replay.Item
		for it, err = s.TryNext(); it != nil; it, err = s.TryNext() {
			got = append(got, it)
		}
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("ended with %v, want io.EOF", err)
	}
	checkExactlyOnce(t, positions(got), all)
}

// TestHubUntilPerPartition: Until stops each partition at its first item
// stamped after it; an earlier-stamped item of another partition that the
// hub read later is still shown (found in review: the ring is in read
// order, not time order).
func TestHubUntilPerPartition(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	h := startHub(t, w, nil)
	until := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	s, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Until: until})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w.produceRecords([]*kgo.Record{w.record(0, until.Add(100*time.Millisecond))})
	topicstest.WaitFor(t, 10*time.Second, "the hub read partition 0", func() bool { return h.Stats().Items == 1 })
	early := w.produceRecords([]*kgo.Record{w.record(1, until.Add(-100*time.Millisecond))})
	got, err := read(t, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, positions(got), early)
	if c := s.Cursor(); c.Next(0) != 0 {
		t.Fatalf("the cursor passed partition 0's item stamped after Until: %d", c.Next(0))
	}
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready to end 10 s after Until")
	}
	if it, err := s.TryNext(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Until: %v, %v; want io.EOF", it, err)
	}
}

// TestHubSlots: TryNext never blocks waiting for a catch-up slot (found in
// review), and a catch-up whose subscriber stops reading gives its slot up,
// so another replay proceeds.
func TestHubSlots(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	want := w.produce(5000, 2)
	h := startHub(t, w, func(c *replay.HubConfig) { c.RingItems = 16; c.MaxCatchUps = 1 })
	zero := replay.NewCursor(nil)
	stalled, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Cursor: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := read(t, stalled, 1); err != nil { // then it reads no more
		t.Fatal(err)
	}
	other, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Cursor: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	start := time.Now()
	if it, err := other.TryNext(); it != nil || err != nil {
		t.Fatalf("while the only slot is taken: %v, %v; want nothing yet", it, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("TryNext waited %v for a slot", d)
	}
	got, err := read(t, other, len(want))
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, positions(got), want)
	// The stalled one resumes where it was once it reads again.
	rest, err := read(t, stalled, len(want)-1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != len(want)-1 {
		t.Fatalf("the stalled subscriber got %d more, want %d", len(rest), len(want)-1)
	}
}

// TestHubUntilWithCatchUp: a replay by time whose Until stops a partition
// during its catch-up (a record stamped later, such as the node's own
// profile written at start, ahead of older-stamped ones) still joins the
// ring and ends, with every earlier item of the other partitions (the
// 1M-event benchmark span catch-ups forever on this).
func TestHubUntilWithCatchUp(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	w.produceRecords([]*kgo.Record{w.record(0, time.Now())})
	h := startHub(t, w, func(c *replay.HubConfig) { c.RingItems = 16 })
	var recs []*kgo.Record
	for i := range 300 {
		recs = append(recs, w.record(int32(i%2), t0.Add(time.Duration(i)*time.Millisecond)))
	}
	all := w.produceRecords(recs)
	topicstest.WaitFor(t, 10*time.Second, "the hub read them", func() bool { return h.Stats().Items == 300 })
	s, err := h.Subscribe(context.Background(), replay.SubscribeOptions{Since: t0, Until: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []*replay.Item
	deadline := time.After(30 * time.Second)
	for err == nil {
		select {
		case <-s.Ready():
		case <-deadline:
			t.Fatalf("no end after %d items in 30 s", len(got))
		}
		var it *replay.Item
		for it, err = s.TryNext(); it != nil; it, err = s.TryNext() {
			got = append(got, it)
		}
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("ended with %v, want io.EOF", err)
	}
	var want []pos
	for _, p := range all {
		if p.p == 1 { // partition 0 stops at the later record ahead of its old ones
			want = append(want, p)
		}
	}
	checkExactlyOnce(t, positions(got), want)
}
