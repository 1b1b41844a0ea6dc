package projections_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/projections"
	eventstopic "github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/observed"
)

// The node the queues run on in these tests, and its peers.
const (
	qSelf = ridSensor
	qC    = ridCoordinator
	qG    = ridGosim
	qP    = ridPartial
)

// qTypes are the types qSelf provides events of.
var qTypes = []string{"orn:github.issue", "orn:github.repo", "orn:github.event"}

// qBase is the broker time of the record at offset 0.
var qBase = time.Date(2026, 8, 6, 12, 0, 0, 0, time.UTC)

// qr is one events record of a routing case: the event, the peer it came
// from ("" = local) and its explicit targets.
type qr struct {
	ev      string
	peer    string
	targets []string
	repeat  bool // marked as a repeat (events.HeaderRepeat)
}

// record returns r as the events record at offset off of partition p,
// keyed by its RID, with the headers a record of the events topic has
// for its peer and targets, stamped qBase + off seconds.
func (r qr) record(p int32, off int64) projections.Record {
	rid := strings.TrimPrefix(r.ev, `{"rid":"`)
	rid = rid[:strings.IndexByte(rid, '"')]
	var hs []kgo.RecordHeader
	if r.peer != "" {
		hs = append(hs, kgo.RecordHeader{Key: observed.HeaderPeer, Value: []byte(r.peer)})
	}
	if len(r.targets) > 0 {
		hs = append(hs, kgo.RecordHeader{Key: observed.HeaderTargets, Value: []byte(strings.Join(r.targets, ","))})
	}
	if r.repeat {
		hs = append(hs, kgo.RecordHeader{Key: eventstopic.HeaderRepeat, Value: []byte("true")})
	}
	return projections.Record{
		Topic: "koistream.events", Partition: p, Offset: off, Key: []byte(rid), Value: []byte(r.ev),
		Timestamp: qBase.Add(time.Duration(off) * time.Second), Headers: hs,
	}
}

// openQueues opens the store in dir with the cache, the graph and the
// queues attached, as a node runs them; the caller closes the store.
func openQueues(t testing.TB, dir string, cfg projections.QueuesConfig) (*projections.Store, *projections.Queues) {
	t.Helper()
	s, err := projections.OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := projections.NewCache(s)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	if cfg.Self == "" {
		cfg.Self = qSelf
	}
	if cfg.ProvidesEvent == nil {
		cfg.ProvidesEvent = qTypes
	}
	q, err := projections.NewQueues(s, cfg)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	if err := s.Attach(c, projections.NewGraph(s), q); err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, q
}

// applyQ applies recs as one batch and fails on anything the queues skip.
func applyQ(t testing.TB, s *projections.Store, recs ...projections.Record) {
	t.Helper()
	res, err := s.Apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	if sk := res.Skipped[2]; len(sk) != 0 {
		t.Fatalf("queues skipped %v", sk)
	}
}

func issueEv(n int) string {
	rid := fmt.Sprintf("orn:github.issue:o/r:%d", n)
	man := `{"rid":"` + rid + `","timestamp":"2026-08-06T12:00:00Z","sha256_hash":"00"}`
	return newEvent(rid, man, fmt.Sprintf(`{"n": %d, "x": null}`, n))
}

func repoEv() string {
	const rid = "orn:github.repo:o/r"
	return newEvent(rid, `{"rid":"`+rid+`","timestamp":"2026-08-06T12:00:00Z","sha256_hash":"00"}`, `{"full_name":"o/r"}`)
}

func commitEv() string {
	const rid = "orn:github.commit:o/r:abc"
	return newEvent(rid, `{"rid":"`+rid+`","timestamp":"2026-08-06T12:00:00Z","sha256_hash":"00"}`, `{"sha":"abc"}`)
}

func nodeEv(rid string) string {
	man := `{"rid":"` + rid + `","timestamp":"2026-08-06T12:00:00Z","sha256_hash":"00"}`
	return newEvent(rid, man, `{"base_url":"http://127.0.0.1:1/koi-net","node_type":"FULL","provides":{"event":[],"state":[]}}`)
}

// edgeEv returns a NEW event of the edge source → target.
func edgeEv(source, target, status string, types ...string) string {
	return edgeEvent("NEW", edgeRIDOf(source, target), edgeContents(source, target, "WEBHOOK", status, types...))
}

func edgeRIDOf(source, target string) string {
	return "orn:koi-net.edge:" + source[len("orn:koi-net.node:"):][:4] + "-" + target[len("orn:koi-net.node:"):][:4]
}

// queued returns every subscriber's queue as the event JSON of its
// entries, oldest first.
func queued(t *testing.T, q *projections.Queues) map[string][]string {
	t.Helper()
	subs, err := q.Subscribers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, sub := range subs {
		es, err := q.Pending(sub, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			out[sub] = append(out[sub], string(e.Event))
		}
		if d, err := q.Depth(sub); err != nil || d != len(es) {
			t.Errorf("Depth(%s) = %d, %v; %d pending", sub, d, err, len(es))
		}
	}
	return out
}

// TestQueuesRouting: each case's records, applied as one batch and as one
// batch per record, queue exactly the wanted records (by index) for each
// subscriber, in log order.
func TestQueuesRouting(t *testing.T) {
	t.Parallel()
	const issueT, nodeT, edgeT = "orn:github.issue", "orn:koi-net.node", "orn:koi-net.edge"
	for _, tc := range []struct {
		name         string
		recs         []qr
		advertisable func(string) bool
		want         map[string][]int
	}{
		{
			name: "subscribers by type, proposed and approved",
			recs: []qr{
				{ev: edgeEv(qSelf, qC, "PROPOSED", issueT), peer: qC},
				{ev: edgeEv(qSelf, qG, "APPROVED", "orn:github.repo", issueT), peer: qG},
				{ev: issueEv(1)},
				{ev: repoEv()},
			},
			want: map[string][]int{qC: {2}, qG: {2, 3}},
		},
		{
			name: "types we do not provide go to no one",
			recs: []qr{
				{ev: edgeEv(qSelf, qC, "APPROVED", "orn:github.commit", nodeT), peer: qC},
				{ev: commitEv()},
				{ev: nodeEv(qG), peer: qG},
			},
			want: map[string][]int{},
		},
		{
			name: "edges of other sources carry nothing of ours",
			recs: []qr{
				{ev: edgeEv(qC, qG, "APPROVED", issueT), peer: qC},
				{ev: issueEv(1)},
			},
			want: map[string][]int{},
		},
		{
			name: "no echo to the peer",
			recs: []qr{
				{ev: edgeEv(qSelf, qC, "APPROVED", issueT), peer: qC},
				{ev: edgeEv(qSelf, qG, "APPROVED", issueT), peer: qG},
				{ev: issueEv(1), peer: qC},
				{ev: issueEv(2), peer: qG},
			},
			want: map[string][]int{qC: {3}, qG: {2}},
		},
		{
			name: "a repeat goes to its targets only",
			recs: []qr{
				{ev: edgeEv(qSelf, qC, "APPROVED", nodeT), peer: qC},
				{ev: nodeEv(qSelf)}, // our profile, new: to node subscribers
				{ev: nodeEv(qSelf), targets: []string{qG}, repeat: true}, // again for G alone
				{ev: issueEv(1), targets: []string{qG}, repeat: true},    // not to C's issue edge either
			},
			want: map[string][]int{qC: {1}, qG: {2, 3}},
		},
		{
			name: "explicit targets, less the peer and ourselves",
			recs: []qr{
				{ev: nodeEv(qC), peer: qC, targets: []string{qP, qC, qSelf}},
				{ev: commitEv(), targets: []string{qG}},
			},
			want: map[string][]int{qP: {0}, qG: {1}},
		},
		{
			name: "local edge events to the other end",
			recs: []qr{
				{ev: edgeEv(qSelf, qC, "PROPOSED", issueT), peer: qC}, // a proposal from C: not back to C
				{ev: edgeEv(qSelf, qC, "APPROVED", issueT)},           // our approval: to C
				{ev: edgeEv(qG, qSelf, "PROPOSED", nodeT)},            // our proposal to G: to G
				{ev: edgeEv(qG, qC, "PROPOSED", nodeT)},               // not ours: to no one
				{ev: forgetEvent(edgeRIDOf(qG, qSelf))},               // our FORGET of it: to G, known from the graph or the batch
			},
			want: map[string][]int{qC: {1}, qG: {2, 4}},
		},
		{
			name: "local edge events involve me: to subscribers of edges",
			recs: []qr{
				{ev: edgeEv(qSelf, qP, "APPROVED", edgeT), peer: qP},
				{ev: edgeEv(qSelf, qC, "APPROVED", issueT)},
				{ev: edgeEv(qSelf, qC, "APPROVED", issueT), peer: qG}, // from a peer: not mine to send
			},
			want: map[string][]int{qC: {1}, qP: {1}},
		},
		{
			name: "own profile to node subscribers",
			recs: []qr{
				{ev: edgeEv(qSelf, qC, "APPROVED", nodeT), peer: qC},
				{ev: edgeEv(qSelf, qG, "PROPOSED", issueT), peer: qG},
				{ev: nodeEv(qSelf)},
				{ev: nodeEv(qP)},              // another node's profile: we do not provide nodes
				{ev: nodeEv(qSelf), peer: qP}, // ours from a peer does not involve me
			},
			want: map[string][]int{qC: {2}},
		},
		{
			name: "an edge approved and forgotten between events",
			recs: []qr{
				{ev: issueEv(1)},
				{ev: edgeEv(qSelf, qG, "PROPOSED", issueT), peer: qG},
				{ev: issueEv(2)},
				{ev: edgeEvent("UPDATE", edgeRIDOf(qSelf, qG), edgeContents(qSelf, qG, "POLL", "APPROVED", issueT))},
				{ev: issueEv(3)},
				{ev: forgetEvent(edgeRIDOf(qSelf, qG))},
				{ev: issueEv(4)},
			},
			want: map[string][]int{qG: {2, 3, 4, 5}},
		},
		{
			name: "RIDs that may not leave the node",
			recs: []qr{
				{ev: edgeEv(qSelf, qC, "APPROVED", issueT), peer: qC},
				{ev: issueEv(1)},
				{ev: strings.ReplaceAll(issueEv(2), "o/r:2", "o/r:02"), targets: []string{qG}},
			},
			advertisable: func(rid string) bool { return !strings.HasSuffix(rid, ":02") },
			want:         map[string][]int{qC: {1}},
		},
	} {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/split=%v", tc.name, split), func(t *testing.T) {
				t.Parallel()
				s, q := openQueues(t, t.TempDir(), projections.QueuesConfig{Advertisable: tc.advertisable})
				recs := make([]projections.Record, len(tc.recs))
				for i, r := range tc.recs {
					recs[i] = r.record(0, int64(i))
				}
				if split {
					for _, r := range recs {
						applyQ(t, s, r)
					}
				} else {
					applyQ(t, s, recs...)
				}
				want := map[string][]string{}
				for sub, idx := range tc.want {
					for _, i := range idx {
						want[sub] = append(want[sub], tc.recs[i].ev)
					}
				}
				got := queued(t, q)
				if !maps.EqualFunc(got, want, slices.Equal) {
					t.Errorf("queued\n got %q\nwant %q", got, want)
				}
			})
		}
	}
}

// queueKeys returns every subscriber's entry keys and events, in order.
func queueKeys(t *testing.T, q *projections.Queues) []string {
	t.Helper()
	subs, err := q.Subscribers()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sub := range subs {
		es, err := q.Pending(sub, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			out = append(out, fmt.Sprintf("%s %x %s", sub, e.Key, e.Event))
		}
	}
	return out
}

// TestQueuesDeterministic: the same records applied to another empty store,
// in other batches, give the same keys and values, also for records of
// several partitions whose broker times went back.
func TestQueuesDeterministic(t *testing.T) {
	t.Parallel()
	var recs []projections.Record
	recs = append(recs, qr{ev: edgeEv(qSelf, qC, "APPROVED", "orn:github.issue"), peer: qC}.record(0, 0))
	for i := 1; i < 30; i++ {
		r := qr{ev: issueEv(i)}.record(int32(i%3), int64(i))
		if i%4 == 0 {
			r.Timestamp = qBase // the clock went back
		}
		recs = append(recs, r)
	}
	var runs [][]string
	for _, batch := range []int{len(recs), 1, 7} {
		s, q := openQueues(t, t.TempDir(), projections.QueuesConfig{})
		for i := 0; i < len(recs); i += batch {
			applyQ(t, s, recs[i:min(i+batch, len(recs))]...)
		}
		runs = append(runs, queueKeys(t, q))
	}
	if len(runs[0]) != 29 {
		t.Fatalf("%d entries, want 29", len(runs[0]))
	}
	for i := 1; i < len(runs); i++ {
		if !slices.Equal(runs[i], runs[0]) {
			t.Errorf("run %d\n got %q\nwant %q", i, runs[i], runs[0])
		}
	}
}

// TestQueuesOrderWithinPartition: a record stamped earlier than the one
// before it on its partition is still queued after it, and Enqueued never
// goes back within a partition.
func TestQueuesOrderWithinPartition(t *testing.T) {
	t.Parallel()
	s, q := openQueues(t, t.TempDir(), projections.QueuesConfig{})
	applyQ(t, s, qr{ev: edgeEv(qSelf, qC, "APPROVED", "orn:github.issue"), peer: qC}.record(0, 0))
	r1, r2, r3 := qr{ev: issueEv(1)}.record(0, 1), qr{ev: issueEv(2)}.record(0, 2), qr{ev: issueEv(3)}.record(0, 3)
	r2.Timestamp = qBase.Add(-time.Hour)
	applyQ(t, s, r1)
	applyQ(t, s, r2, r3) // r2's clock is read back from the store
	es, err := q.Pending(qC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, string(e.Event))
	}
	if want := []string{issueEv(1), issueEv(2), issueEv(3)}; !slices.Equal(got, want) {
		t.Fatalf("order\n got %q\nwant %q", got, want)
	}
	if !es[1].Enqueued.Equal(es[0].Enqueued) || !es[0].Enqueued.Equal(r1.Timestamp) || !es[2].Enqueued.Equal(r3.Timestamp) {
		t.Errorf("enqueued %v %v %v, want %v %v %v", es[0].Enqueued, es[1].Enqueued, es[2].Enqueued, r1.Timestamp, r1.Timestamp, r3.Timestamp)
	}
}

// TestQueuesLimit: beyond the limit the oldest entries go, whether they
// were committed before or queued by the same batch, and are counted.
func TestQueuesLimit(t *testing.T) {
	t.Parallel()
	s, q := openQueues(t, t.TempDir(), projections.QueuesConfig{Limit: 3})
	applyQ(t, s, qr{ev: edgeEv(qSelf, qC, "APPROVED", "orn:github.issue"), peer: qC}.record(0, 0))
	applyQ(t, s, qr{ev: issueEv(1)}.record(0, 1), qr{ev: issueEv(2)}.record(0, 2))
	// Partition 1's records are older than partition 0's: they go first.
	old := []projections.Record{qr{ev: issueEv(3)}.record(1, 0), qr{ev: issueEv(4)}.record(1, 1), qr{ev: issueEv(5)}.record(1, 2)}
	for i := range old {
		old[i].Timestamp = qBase.Add(time.Duration(i-10) * time.Second)
	}
	applyQ(t, s, old...)
	got := queued(t, q)[qC]
	if want := []string{issueEv(5), issueEv(1), issueEv(2)}; !slices.Equal(got, want) {
		t.Errorf("kept\n got %q\nwant %q", got, want)
	}
	if n, err := q.Dropped(qC); err != nil || n != 2 {
		t.Errorf("Dropped = %d, %v; want 2", n, err)
	}
	applyQ(t, s, qr{ev: issueEv(6)}.record(0, 3), qr{ev: issueEv(7)}.record(0, 4), qr{ev: issueEv(8)}.record(0, 5), qr{ev: issueEv(9)}.record(0, 6))
	got = queued(t, q)[qC]
	if want := []string{issueEv(7), issueEv(8), issueEv(9)}; !slices.Equal(got, want) {
		t.Errorf("kept\n got %q\nwant %q", got, want)
	}
	if n, err := q.Dropped(qC); err != nil || n != 6 {
		t.Errorf("Dropped = %d, %v; want 6", n, err)
	}
}

func events(es []projections.QueueEntry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, string(e.Event))
	}
	return out
}

func keys(es []projections.QueueEntry) [][]byte {
	var out [][]byte
	for _, e := range es {
		out = append(out, e.Key)
	}
	return out
}

// TestQueuesPoll: a poll's page stays queued until the next poll, which
// acknowledges it; a page handed back (an answer not delivered) is
// returned again; entries queued meanwhile join the next page.
func TestQueuesPoll(t *testing.T) {
	t.Parallel()
	s, q := openQueues(t, t.TempDir(), projections.QueuesConfig{})
	recs := []projections.Record{qr{ev: edgeEv(qSelf, qP, "PROPOSED", "orn:github.issue"), peer: qP}.record(0, 0)}
	for i := 1; i <= 5; i++ {
		recs = append(recs, qr{ev: issueEv(i)}.record(0, int64(i)))
	}
	applyQ(t, s, recs...)
	want := func(ns ...int) []string {
		out := []string{}
		for _, n := range ns {
			out = append(out, issueEv(n))
		}
		return out
	}
	poll := func(limit int, wantEvents []string, wantDepth int) []projections.QueueEntry {
		t.Helper()
		es, err := q.Poll(qP, limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := events(es); !slices.Equal(got, wantEvents) {
			t.Fatalf("Poll(%d)\n got %q\nwant %q", limit, got, wantEvents)
		}
		if d, err := q.Depth(qP); err != nil || d != wantDepth {
			t.Fatalf("Depth after Poll(%d) = %d, %v; want %d", limit, d, err, wantDepth)
		}
		return es
	}
	first := poll(2, want(1, 2), 5)
	// No second poll yet: the page is still pending.
	if es, err := q.Pending(qP, 0); err != nil || !slices.Equal(events(es), want(1, 2, 3, 4, 5)) {
		t.Fatalf("Pending = %q, %v", events(es), err)
	}
	// The answer could not be delivered: handed back, the same page again.
	if err := q.Release(qP, keys(first)); err != nil {
		t.Fatal(err)
	}
	poll(2, want(1, 2), 5)
	// A second poll acknowledges the first page.
	poll(2, want(3, 4), 3)
	// Releasing a page that is no longer the recorded one changes nothing.
	if err := q.Release(qP, keys(first)); err != nil {
		t.Fatal(err)
	}
	applyQ(t, s, qr{ev: issueEv(6)}.record(0, 6))
	poll(0, want(5, 6), 2)
	poll(0, want(), 0)
	poll(0, want(), 0)
	// A node with no queue polls nothing and gets nothing.
	if es, err := q.Poll(qC, 0); err != nil || len(es) != 0 {
		t.Errorf("Poll(unknown) = %q, %v", events(es), err)
	}
}

// TestQueuesPollPageBound: a poll for all returns at most MaxPollPage.
func TestQueuesPollPageBound(t *testing.T) {
	t.Parallel()
	s, q := openQueues(t, t.TempDir(), projections.QueuesConfig{})
	recs := []projections.Record{qr{ev: edgeEv(qSelf, qP, "APPROVED", "orn:github.issue"), peer: qP}.record(0, 0)}
	n := projections.MaxPollPage + 5
	for i := 1; i <= n; i++ {
		recs = append(recs, qr{ev: issueEv(i)}.record(0, int64(i)))
	}
	applyQ(t, s, recs...)
	for _, want := range []int{projections.MaxPollPage, 5, 0} {
		es, err := q.Poll(qP, 0)
		if err != nil || len(es) != want {
			t.Fatalf("Poll = %d entries, %v; want %d", len(es), err, want)
		}
	}
}

// TestQueuesAckDepthAge: Ack deletes exactly the keys given, once; Depth
// and OldestAge follow.
func TestQueuesAckDepthAge(t *testing.T) {
	t.Parallel()
	now := qBase.Add(time.Minute)
	s, q := openQueues(t, t.TempDir(), projections.QueuesConfig{Now: func() time.Time { return now }})
	if a, err := q.OldestAge(qC); err != nil || a != 0 {
		t.Errorf("OldestAge(empty) = %v, %v", a, err)
	}
	recs := []projections.Record{qr{ev: edgeEv(qSelf, qC, "APPROVED", "orn:github.issue"), peer: qC}.record(0, 0)}
	for i := 1; i <= 4; i++ {
		recs = append(recs, qr{ev: issueEv(i)}.record(0, int64(i)))
	}
	applyQ(t, s, recs...)
	es, err := q.Pending(qC, 2)
	if err != nil || len(es) != 2 {
		t.Fatalf("Pending(2) = %d, %v", len(es), err)
	}
	if a, err := q.OldestAge(qC); err != nil || a != time.Minute-time.Second {
		t.Errorf("OldestAge = %v, %v; want 59s", a, err)
	}
	// The second entry, twice, and a key that was never queued.
	if err := q.Ack(qC, [][]byte{es[1].Key, es[1].Key, bytes.Repeat([]byte{1}, len(es[1].Key))}); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(qC, [][]byte{es[1].Key}); err != nil {
		t.Fatal(err)
	}
	if got := queued(t, q)[qC]; !slices.Equal(got, []string{issueEv(1), issueEv(3), issueEv(4)}) {
		t.Errorf("after Ack %q", got)
	}
	if err := q.Ack(qC, [][]byte{es[0].Key}); err != nil {
		t.Fatal(err)
	}
	if a, err := q.OldestAge(qC); err != nil || a != time.Minute-3*time.Second {
		t.Errorf("OldestAge = %v, %v; want 57s", a, err)
	}
	if d, err := q.Depth(qC); err != nil || d != 2 {
		t.Errorf("Depth = %d, %v; want 2", d, err)
	}
	if subs, err := q.Subscribers(); err != nil || !slices.Equal(subs, []string{qC}) {
		t.Errorf("Subscribers = %q, %v", subs, err)
	}
}

// TestQueuesNotify: a batch that queues something closes the channel
// Notify returned before it, once committed; the entries are readable then.
func TestQueuesNotify(t *testing.T) {
	t.Parallel()
	s, q := openQueues(t, t.TempDir(), projections.QueuesConfig{})
	ch := q.Notify()
	applyQ(t, s, qr{ev: issueEv(1)}.record(0, 0)) // no subscriber: nothing queued
	select {
	case <-ch:
		t.Fatal("notified of a batch that queued nothing")
	default:
	}
	applyQ(t, s, qr{ev: edgeEv(qSelf, qC, "APPROVED", "orn:github.issue"), peer: qC}.record(0, 1), qr{ev: issueEv(2)}.record(0, 2))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not notified")
	}
	if d, err := q.Depth(qC); err != nil || d != 1 {
		t.Errorf("Depth = %d, %v; want 1", d, err)
	}
}

// TestQueuesConfig: a config without a node RID is refused.
func TestQueuesConfig(t *testing.T) {
	t.Parallel()
	s, err := projections.OpenStore(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, cfg := range []projections.QueuesConfig{{}, {Self: "orn:github.issue:o/r:1"}, {Self: qSelf, Limit: -1}} {
		if _, err := projections.NewQueues(s, cfg); err == nil {
			t.Errorf("NewQueues(%+v) accepted", cfg)
		}
	}
}

// FuzzQueuesApply applies arbitrary records, with arbitrary peer and
// targets headers, to one store whose node has a subscriber: Apply never
// fails (a record it cannot read is skipped), every queue's Depth is what
// it holds, no queue is ours or names a zero byte, and what is queued is
// an applied record's value byte for byte. One store for all inputs, so
// that the fuzzer spends its time in Apply rather than opening stores.
func FuzzQueuesApply(f *testing.F) {
	f.Add(issueEv(1), "", "")
	f.Add(issueEv(2), qC, qP+","+qG)
	f.Add(edgeEv(qSelf, qG, "APPROVED", "orn:github.issue"), "", "")
	f.Add(forgetEvent(edgeRIDOf(qSelf, qC)), "", qSelf)
	f.Add(`{"rid":"orn:github.issue:o/r:1","event_type":"MAYBE"}`, "", qP)
	f.Add(`{"rid":`, "", "x\x00y")
	s, q := openQueues(f, f.TempDir(), projections.QueuesConfig{Limit: 200})
	edge := edgeEv(qSelf, qC, "APPROVED", "orn:github.issue", "orn:koi-net.edge")
	applied := map[string]bool{edge: true}
	var mu sync.Mutex
	offset := int64(0)
	applyQ(f, s, qr{ev: edge, peer: qC}.record(0, offset))
	f.Fuzz(func(t *testing.T, value, peer, targets string) {
		mu.Lock()
		defer mu.Unlock()
		offset++
		applied[value] = true
		r := projections.Record{Topic: "koistream.events", Offset: offset, Value: []byte(value), Timestamp: qBase}
		if peer != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: observed.HeaderPeer, Value: []byte(peer)})
		}
		if targets != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: observed.HeaderTargets, Value: []byte(targets)})
		}
		if _, err := s.Apply([]projections.Record{r}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		for sub, evs := range queued(t, q) {
			if sub == qSelf || strings.IndexByte(sub, 0) >= 0 {
				t.Errorf("queued for %q", sub)
			}
			for _, e := range evs {
				if !applied[e] {
					t.Errorf("queued %q, not an applied record's value", e)
				}
			}
		}
	})
}
