package topics_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/topicstest"
)

// These tests hold the TxnConsumer to its documented guarantees (see its doc
// comment and TxnHandler's) against the embedded broker: a poll's outputs
// and its input offsets commit together or not at all, a failed poll is
// aborted and handed again, records of aborted input transactions never
// reach the handler, and partitions move between members with every
// output committed exactly once and the member giving them up told so.

// echoHandler is a TxnHandler that produces, for every input record, one
// record to out whose value is the input's place ("partition/offset"), and
// keeps what it was handed and how each transaction ended. before, when
// set, runs at the start of each Handle with the call's number (from 1) and
// the places handed; a non-nil return fails the call after its outputs were
// produced and flushed to the broker, as a handler failing half-way.
type echoHandler struct {
	out    string
	before func(ctx context.Context, call int, got []spot) error

	mu        sync.Mutex
	calls     int
	offers    [][]spot     // the places each Handle was handed
	inTxn     []spot       // those of the transaction under way
	committed map[spot]int // places whose transaction committed
	ended     []bool       // how each transaction ended
	revoked   [][]int32    // each Revoked call
	history   []string     // "revoked <p>" and "handed <p>", in order
}

func newEcho(out string) *echoHandler {
	return &echoHandler{out: out, committed: map[spot]int{}}
}

func (h *echoHandler) Handle(ctx context.Context, txn *topics.Txn, batches []topics.Batch) error {
	var got []spot
	for _, b := range batches {
		for _, m := range b.Messages {
			pos, ok := topics.PositionFromContext(m.Context())
			if !ok {
				return errors.New("message without a position")
			}
			got = append(got, spot{pos.Partition, pos.Offset})
		}
	}
	h.mu.Lock()
	h.calls++
	call := h.calls
	h.offers = append(h.offers, got)
	h.inTxn = got
	for _, b := range batches {
		h.history = append(h.history, fmt.Sprint("handed ", b.Partition))
	}
	h.mu.Unlock()
	for _, s := range got {
		txn.Produce(&kgo.Record{Topic: h.out, Value: []byte(s.String())})
	}
	if h.before == nil {
		return nil
	}
	if err := txn.Flush(ctx); err != nil {
		return err
	}
	return h.before(ctx, call, got)
}

func (h *echoHandler) Ended(committed bool, _ error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = append(h.ended, committed)
	if committed {
		for _, s := range h.inTxn {
			h.committed[s]++
		}
	}
	h.inTxn = nil
}

func (h *echoHandler) Revoked(partitions []int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.revoked = append(h.revoked, slices.Clone(partitions))
	for _, p := range partitions {
		h.history = append(h.history, fmt.Sprint("revoked ", p))
	}
}

// committedCount returns how many places have been committed.
func (h *echoHandler) committedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.committed)
}

// revokedPartitions returns every partition Revoked reported, once.
func (h *echoHandler) revokedPartitions() []int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int32
	for _, ps := range h.revoked {
		out = append(out, ps...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// txnRun is one TxnConsumer running in the background.
type txnRun struct {
	c      *topics.TxnConsumer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startTxnConsumer runs a TxnConsumer of cfg with h until stop or the end
// of the test.
func startTxnConsumer(t *testing.T, cfg topics.TxnConsumerConfig, h topics.TxnHandler) *txnRun {
	t.Helper()
	c, err := topics.NewTxnConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &txnRun{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx, h) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return, which it does after ending
// the transaction under way and leaving the group.
func (r *txnRun) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30s of its context ending")
		}
	})
}

// txnConfig is a test consumer of topic in group under transactional ID id.
func txnConfig(addr, group, topic, id string) topics.TxnConsumerConfig {
	return topics.TxnConsumerConfig{
		Brokers:         []string{addr},
		Group:           group,
		Topic:           topic,
		TransactionalID: id,
		Logger:          slog.New(slog.DiscardHandler),
		KgoOpts:         topicstest.GroupOpts(),
	}
}

// produceTxn appends recs, each to the partition its Partition field names,
// in one transaction of a producer with transactional ID id, which it then
// commits or aborts. The records then hold the offsets they got.
func produceTxn(t *testing.T, addr, id string, commit bool, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin transaction: %v", err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce in a transaction: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

// records returns n records for each of the first partitions partitions of
// topic, valued "<tag>-<partition>-<i>".
func records(topic, tag string, partitions, n int) []*kgo.Record {
	var out []*kgo.Record
	for p := range int32(partitions) {
		for i := range n {
			out = append(out, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", tag, p, i)})
		}
	}
	return out
}

// spotsOfRecords returns the places of recs.
func spotsOfRecords(recs []*kgo.Record) []spot {
	out := make([]spot, len(recs))
	for i, r := range recs {
		out[i] = spot{r.Partition, r.Offset}
	}
	return out
}

// valueCounts returns how often each value is among recs.
func valueCounts(recs []*kgo.Record) map[string]int {
	out := map[string]int{}
	for _, r := range recs {
		out[string(r.Value)]++
	}
	return out
}

// wantOutputs fails the test unless out holds, as a read_committed reader
// sees it, the output of every place in want exactly once and nothing
// else.
func wantOutputs(t *testing.T, addr, out string, want []spot) {
	t.Helper()
	got := valueCounts(topicstest.ReadAll(t, addr, out))
	for _, s := range want {
		if n := got[s.String()]; n != 1 {
			t.Errorf("the output of input %s is in %s %d times, want once", s, out, n)
		}
		delete(got, s.String())
	}
	for v, n := range got {
		t.Errorf("%s holds %d records %q that no input should have caused", out, n, v)
	}
}

// TestTxnConsumerCommitsOutputsWithTheirOffsets: a handler that produces one
// output per input, over an input written in committed transactions (each
// ending with a marker that takes an offset), gets every output into the
// log once, as a read_committed reader sees it, and the group's committed
// offsets and Handled() reach the input's end offsets, markers included:
// a consumer that handled everything says so.
func TestTxnConsumerCommitsOutputsWithTheirOffsets(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const in, out, group, partitions = "commit-in", "commit-out", "commit-group", 2
	topicstest.CreateTopic(t, addr, in, partitions)
	topicstest.CreateTopic(t, addr, out, partitions)
	var inputs []spot
	for i := range 3 {
		recs := records(in, fmt.Sprint("txn", i), partitions, 5)
		produceTxn(t, addr, "commit-producer", true, recs...)
		inputs = append(inputs, spotsOfRecords(recs)...)
	}
	end := topicstest.EndOffsets(t, addr, in)
	for p, e := range ends(inputs) {
		if end[p] <= e {
			t.Fatalf("partition %d ends at %d, the last record's next offset is %d: the input has no transaction markers", p, end[p], e)
		}
	}

	h := newEcho(out)
	cfg := txnConfig(addr, group, in, "commit-consumer")
	cfg.MaxPollRecords = 4 // several transactions, markers inside polls
	r := startTxnConsumer(t, cfg, h)
	topicstest.WaitFor(t, 30*time.Second, "Handled() to reach the input's end offsets", func() bool {
		return maps.Equal(r.c.Handled(), end)
	})
	if got := topicstest.Committed(t, addr, group, in); !maps.Equal(got, end) {
		t.Errorf("committed offsets %v once Handled() reached the end, want the end offsets %v", got, end)
	}
	r.stop(t)

	wantOutputs(t, addr, out, inputs)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range inputs {
		if n := h.committed[s]; n != 1 {
			t.Errorf("input %s committed %d times, want once", s, n)
		}
	}
	if i := slices.Index(h.ended, false); i >= 0 {
		t.Errorf("transaction %d of %d aborted (%v), want every one committed", i+1, len(h.ended), h.ended)
	}
	if got := topicstest.Committed(t, addr, group, in); !maps.Equal(got, end) {
		t.Errorf("committed offsets %v after stopping, want %v", got, end)
	}
}

// TestTxnConsumerAbortsAFailedPoll: a handler that fails after its outputs
// reached the broker aborts the poll's transaction: nothing is committed
// or marked handled, a read_uncommitted reader sees the aborted outputs
// but a read_committed reader never does, the records are handed again,
// and once the handler succeeds each output is committed exactly once.
func TestTxnConsumerAbortsAFailedPoll(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const in, out, group, failures = "abort-in", "abort-out", "abort-group", 2
	topicstest.CreateTopic(t, addr, in, 2)
	topicstest.CreateTopic(t, addr, out, 1)
	inputs := produce(t, addr, in, 2, 4)

	lastFailure, checked := make(chan struct{}), make(chan struct{})
	errFail := errors.New("handler failed (test)")
	h := newEcho(out)
	h.before = func(_ context.Context, call int, _ []spot) error {
		if call > failures {
			return nil
		}
		if call == failures {
			// The outputs are on the broker, the transaction open.
			close(lastFailure)
			<-checked
		}
		return errFail
	}
	r := startTxnConsumer(t, txnConfig(addr, group, in, "abort-consumer"), h)
	select {
	case <-lastFailure:
	case <-time.After(30 * time.Second):
		t.Fatalf("the handler did not fail %d times within 30s", failures)
	}
	handled, committed := r.c.Handled(), topicstest.Committed(t, addr, group, in)
	flushed := valueCounts(topicstest.ReadAllUncommitted(t, addr, out))
	h.mu.Lock()
	offered := slices.Clone(h.offers)
	h.mu.Unlock()
	close(checked)
	if len(handled) != 0 || len(committed) != 0 {
		t.Errorf("while the poll keeps failing: Handled() = %v and committed %v, want nothing", handled, committed)
	}
	var failed []spot
	for _, o := range offered {
		failed = append(failed, o...)
	}
	for _, s := range offered[len(offered)-1] {
		if got, want := flushed[s.String()], count(failed, s); got != want {
			t.Errorf("before the last failing poll ended, read_uncommitted saw the output of %s %d times, want %d, once per failed poll that held it", s, got, want)
		}
	}

	topicstest.WaitFor(t, 30*time.Second, "every input committed", func() bool { return h.committedCount() == len(inputs) })
	end := topicstest.EndOffsets(t, addr, in)
	topicstest.WaitFor(t, 30*time.Second, "Handled() to reach the input's end offsets", func() bool {
		return maps.Equal(r.c.Handled(), end)
	})
	r.stop(t)

	wantOutputs(t, addr, out, inputs)
	aborted := valueCounts(topicstest.ReadAllUncommitted(t, addr, out))
	h.mu.Lock()
	defer h.mu.Unlock()
	var abortedOffers []spot
	for i, ok := range h.ended {
		if !ok {
			abortedOffers = append(abortedOffers, h.offers[i]...)
		}
	}
	if n := len(h.ended) - count(h.ended, true); n != failures {
		t.Errorf("transactions ended %v: %d aborted, want %d", h.ended, n, failures)
	}
	for _, s := range abortedOffers {
		if h.committed[s] != 1 {
			t.Errorf("input %s of an aborted poll committed %d times afterwards, want once", s, h.committed[s])
		}
	}
	for _, s := range inputs {
		want := 1 + count(abortedOffers, s)
		if got := aborted[s.String()]; got != want {
			t.Errorf("read_uncommitted sees the output of %s %d times, want %d (aborted copies and the committed one)", s, got, want)
		}
	}
	if got := topicstest.Committed(t, addr, group, in); !maps.Equal(got, end) {
		t.Errorf("committed offsets %v after success, want %v", got, end)
	}
}

// count returns how often v is in vs.
func count[T comparable](vs []T, v T) int {
	n := 0
	for _, x := range vs {
		if x == v {
			n++
		}
	}
	return n
}

// TestTxnConsumerSkipsAbortedInput: records of a transaction aborted in the
// input topic are never handed to the handler, whether they come before
// committed records or last; the consumer still counts their offsets, and
// the abort markers', as handled.
func TestTxnConsumerSkipsAbortedInput(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const in, out, group, partitions = "aborted-in", "aborted-out", "aborted-group", 2
	topicstest.CreateTopic(t, addr, in, partitions)
	topicstest.CreateTopic(t, addr, out, 1)
	produceTxn(t, addr, "aborted-producer", false, records(in, "aborted", partitions, 3)...)
	good := records(in, "committed", partitions, 3)
	produceTxn(t, addr, "aborted-producer", true, good...)
	produceTxn(t, addr, "aborted-producer", false, records(in, "aborted-last", partitions, 2)...)
	end := topicstest.EndOffsets(t, addr, in)

	h := newEcho(out)
	r := startTxnConsumer(t, txnConfig(addr, group, in, "aborted-consumer"), h)
	topicstest.WaitFor(t, 30*time.Second, "Handled() to reach the input's end offsets", func() bool {
		return maps.Equal(r.c.Handled(), end)
	})
	r.stop(t)

	want := spotsOfRecords(good)
	h.mu.Lock()
	var got []spot
	for _, o := range h.offers {
		got = append(got, o...)
	}
	h.mu.Unlock()
	slices.SortFunc(got, func(a, b spot) int {
		return cmp.Or(cmp.Compare(a.partition, b.partition), cmp.Compare(a.offset, b.offset))
	})
	if !slices.Equal(got, want) {
		t.Errorf("the handler was handed %v, want the committed records only, %v", got, want)
	}
	wantOutputs(t, addr, out, want)
	if got := topicstest.Committed(t, addr, group, in); !maps.Equal(got, end) {
		t.Errorf("committed offsets %v, want the input's end offsets %v", got, end)
	}
}

// TestTxnConsumerManualPartitions: records produced to a topic that
// ManualPartitions names go to the partition their Partition field names
// (a changelog's partition is its input's), and records to other topics are
// partitioned by key as Kafka's default partitioner does, whatever their
// Partition field says.
func TestTxnConsumerManualPartitions(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const in, manual, keyed, group, partitions = "manual-in", "manual-changelog", "manual-keyed", "manual-group", 3
	for _, topic := range []string{in, manual, keyed} {
		topicstest.CreateTopic(t, addr, topic, partitions)
	}
	inputs := produce(t, addr, in, partitions, 5)

	h := &routeHandler{manual: manual, keyed: keyed}
	cfg := txnConfig(addr, group, in, "manual-consumer")
	cfg.ManualPartitions = func(topic string) bool { return topic == manual }
	r := startTxnConsumer(t, cfg, h)
	end := topicstest.EndOffsets(t, addr, in)
	topicstest.WaitFor(t, 30*time.Second, "Handled() to reach the input's end offsets", func() bool {
		return maps.Equal(r.c.Handled(), end)
	})
	r.stop(t)

	changelog := topicstest.ReadAll(t, addr, manual)
	if len(changelog) != len(inputs) {
		t.Errorf("%s holds %d records, want %d, one per input", manual, len(changelog), len(inputs))
	}
	for _, rec := range changelog {
		if want := string(rec.Value[:strings.IndexByte(string(rec.Value), '/')]); fmt.Sprint(rec.Partition) != want {
			t.Errorf("record %s of input partition %s went to partition %d of %s, want %s", rec.Value, want, rec.Partition, manual, want)
		}
	}
	byKey := kgo.StickyKeyPartitioner(nil).ForTopic(keyed)
	spread := map[int32]bool{}
	recs := topicstest.ReadAll(t, addr, keyed)
	if len(recs) != len(inputs) {
		t.Errorf("%s holds %d records, want %d, one per input", keyed, len(recs), len(inputs))
	}
	for _, rec := range recs {
		spread[rec.Partition] = true
		if want := int32(byKey.Partition(rec, partitions)); rec.Partition != want {
			t.Errorf("record keyed %s went to partition %d of %s, want %d, its key's", rec.Key, rec.Partition, keyed, want)
		}
	}
	if len(spread) < 2 {
		t.Errorf("the keyed records all went to partitions %v: the test's keys do not tell key partitioning from a fixed partition", slices.Collect(maps.Keys(spread)))
	}
}

// routeHandler produces, for every input, a record to manual carrying the
// input's partition in its Partition field, and a keyed record to keyed
// whose Partition field names the last partition, which must be ignored.
type routeHandler struct{ manual, keyed string }

func (h *routeHandler) Handle(_ context.Context, txn *topics.Txn, batches []topics.Batch) error {
	for _, b := range batches {
		for _, m := range b.Messages {
			pos, _ := topics.PositionFromContext(m.Context())
			s := spot{pos.Partition, pos.Offset}.String()
			txn.Produce(&kgo.Record{Topic: h.manual, Partition: b.Partition, Value: []byte(s)})
			txn.Produce(&kgo.Record{Topic: h.keyed, Partition: 2, Key: []byte("key-" + s), Value: []byte(s)})
		}
	}
	return nil
}

func (*routeHandler) Ended(bool, error) {}
func (*routeHandler) Revoked([]int32)   {}

// TestTxnConsumerHandsPartitionsOver: two members of one group, with their
// own transactional IDs, split the input's partitions; when one stops in
// the middle of the stream (its handler under way), Revoked tells it every
// partition it gives up, the other takes them over, and every input's
// output is committed exactly once, by one member, with the group's offsets
// at the input's end.
func TestTxnConsumerHandsPartitionsOver(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const in, out, group, partitions = "handover-in", "handover-out", "handover-group", 4
	topicstest.CreateTopic(t, addr, in, partitions)
	topicstest.CreateTopic(t, addr, out, 1)

	// Each poll takes a while, so the stream is still flowing when b
	// stops: b's last poll is in its handler.
	slow := func(ctx context.Context, _ int, _ []spot) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
			return nil
		}
	}
	ha, hb := newEcho(out), newEcho(out)
	ha.before, hb.before = slow, slow
	cfgA, cfgB := txnConfig(addr, group, in, "handover-a"), txnConfig(addr, group, in, "handover-b")
	cfgA.MaxPollRecords, cfgB.MaxPollRecords = 3, 3
	a := startTxnConsumer(t, cfgA, ha)
	b := startTxnConsumer(t, cfgB, hb)
	owned := waitOwners(t, addr, group, 2)

	var inputs []spot
	inputs = append(inputs, produce(t, addr, in, partitions, 30)...)
	topicstest.WaitFor(t, 30*time.Second, "member b to commit some records", func() bool { return hb.committedCount() >= 6 })
	b.stop(t)
	bCommitted := hb.committedCount()
	if bCommitted >= len(inputs)/2 {
		t.Logf("member b committed %d of %d records before it stopped: the stream may have ended first", bCommitted, len(inputs))
	}
	// Records produced after b left must reach a too.
	more := records(in, "after", partitions, 5)
	topicstest.Produce(t, addr, more...)
	inputs = append(inputs, spotsOfRecords(more)...)
	end := topicstest.EndOffsets(t, addr, in)
	topicstest.WaitFor(t, 60*time.Second, "member a to handle every partition to its end", func() bool {
		return maps.Equal(a.c.Handled(), end)
	})
	a.stop(t)

	wantOutputs(t, addr, out, inputs)
	if got := topicstest.Committed(t, addr, group, in); !maps.Equal(got, end) {
		t.Errorf("committed offsets %v, want the input's end offsets %v", got, end)
	}
	ha.mu.Lock()
	hb.mu.Lock()
	defer ha.mu.Unlock()
	defer hb.mu.Unlock()
	for _, s := range inputs {
		if n := ha.committed[s] + hb.committed[s]; n != 1 {
			t.Errorf("input %s committed %d times by a and %d by b, want once in all", s, ha.committed[s], hb.committed[s])
		}
	}
	bParts := map[int32]bool{}
	for s := range hb.committed {
		bParts[s.partition] = true
	}
	if len(bParts) == 0 {
		t.Fatal("member b committed nothing: the test did not split the partitions")
	}
	took := false
	for s := range ha.committed {
		took = took || bParts[s.partition] && s.offset >= hb.firstAfter(s.partition)
	}
	if !took {
		t.Errorf("member a committed nothing of b's partitions %v after b's last commit there: no takeover", slices.Collect(maps.Keys(bParts)))
	}
	var revoked []int32
	for _, ps := range hb.revoked {
		revoked = append(revoked, ps...)
	}
	for p := range bParts {
		if !slices.Contains(revoked, p) {
			t.Errorf("member b gave up partition %d (owned %v) but Revoked reported only %v", p, owned, hb.revoked)
		}
	}
}

// firstAfter returns the offset after the last record of partition p that
// h committed. h.mu must be held.
func (h *echoHandler) firstAfter(p int32) int64 {
	var next int64
	for s := range h.committed {
		if s.partition == p {
			next = max(next, s.offset+1)
		}
	}
	return next
}

// waitOwners waits until group is stable with members members each owning
// partitions, and returns the assignment, by member ID.
func waitOwners(t *testing.T, addr, group string, members int) map[string][]int32 {
	t.Helper()
	adm := kadm.NewClient(topicstest.Client(t, addr))
	var owned map[string][]int32
	topicstest.WaitFor(t, 30*time.Second, fmt.Sprintf("%d members to own partitions of %s", members, group), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatalf("describe group: %v", err)
		}
		g := groups[group]
		owned = map[string][]int32{}
		for _, m := range g.Members {
			if ma, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range ma.Topics {
					owned[m.MemberID] = append(owned[m.MemberID], tp.Partitions...)
				}
			}
		}
		owning := 0
		for _, ps := range owned {
			if len(ps) > 0 {
				owning++
			}
		}
		return g.State == "Stable" && owning == members
	})
	return owned
}

// TestTxnConsumerReportsEveryRevoke: a member that gave a partition up is
// told so by Revoked before it is handed the partition's records again,
// also when it handled nothing between the rebalances that took the
// partition and gave it back. A handler keeping per-partition state (the
// segment runner's restored partitions and memo) relies on it: a revoke it
// is never told of leaves it trusting state that the partition's owner in
// between changed. Here member a idles through four rebalances: b joins (a
// gives one partition up), b leaves (a gets it back), c joins (a gives one
// up again, with no transaction ended since the first), c leaves.
func TestTxnConsumerReportsEveryRevoke(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const in, out, group, partitions = "revoke-in", "revoke-out", "revoke-group", 2
	topicstest.CreateTopic(t, addr, in, partitions)
	topicstest.CreateTopic(t, addr, out, 1)
	ownsAll := func() bool {
		for _, ps := range waitOwners(t, addr, group, 1) {
			if len(ps) == partitions {
				return true
			}
		}
		return false
	}

	ha := newEcho(out)
	a := startTxnConsumer(t, txnConfig(addr, group, in, "revoke-a"), ha)
	topicstest.WaitFor(t, 30*time.Second, "member a to own every partition", ownsAll)

	b := startTxnConsumer(t, txnConfig(addr, group, in, "revoke-b"), newEcho(out))
	waitOwners(t, addr, group, 2)
	topicstest.WaitFor(t, 30*time.Second, "member a to be told of its first revoke", func() bool {
		return len(ha.revokedPartitions()) > 0
	})
	b.stop(t)
	topicstest.WaitFor(t, 30*time.Second, "member a to own every partition again", ownsAll)
	ha.mu.Lock()
	mark := len(ha.history)
	ha.mu.Unlock()

	hc := newEcho(out)
	c := startTxnConsumer(t, txnConfig(addr, group, in, "revoke-c"), hc)
	waitOwners(t, addr, group, 2)
	// A record on every partition shows which one c took.
	first := produce(t, addr, in, partitions, 1)
	topicstest.WaitFor(t, 30*time.Second, "members a and c to commit a record each", func() bool {
		return hc.committedCount() > 0 && ha.committedCount() > 0
	})
	c.stop(t)
	topicstest.WaitFor(t, 30*time.Second, "member a to own every partition again", ownsAll)
	// And one more each, which a handles all.
	again := produce(t, addr, in, partitions, 1)
	end := topicstest.EndOffsets(t, addr, in)
	topicstest.WaitFor(t, 30*time.Second, "member a to handle every partition to its end", func() bool {
		return maps.Equal(a.c.Handled(), end)
	})
	a.stop(t)

	hc.mu.Lock()
	var taken []int32
	for s := range hc.committed {
		taken = append(taken, s.partition)
	}
	hc.mu.Unlock()
	if len(taken) == 0 {
		t.Fatal("member c committed nothing: the test did not move a partition")
	}
	ha.mu.Lock()
	defer ha.mu.Unlock()
	since := ha.history[mark:]
	for _, p := range taken {
		handed := slices.Index(since, fmt.Sprint("handed ", p))
		told := slices.Index(since, fmt.Sprint("revoked ", p))
		if told < 0 || handed >= 0 && handed < told {
			t.Errorf("member c owned partition %d in between, but member a was handed it again without being told it had lost it; a's history since c joined: %v", p, since)
		}
	}
	for _, s := range append(first, again...) {
		if n := ha.committed[s] + hc.committed[s]; n != 1 {
			t.Errorf("input %s committed %d times by a and %d by c, want once in all", s, ha.committed[s], hc.committed[s])
		}
	}
}
