package topics_test

import (
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

// These tests hold the BatchConsumer to its documented guarantees (see its
// doc comment and docs/ARCHITECTURE.md, "Delivery guarantees") against the
// embedded broker: a failed poll comes back unchanged and commits nothing,
// what was not handled when a consumer stops comes again to the next member
// of the group, and a rebalance waits for the poll in hand.

// spot is a record's place in the log.
type spot struct {
	partition int32
	offset    int64
}

func (s spot) String() string { return fmt.Sprintf("%d/%d", s.partition, s.offset) }

// spotsOf returns the places of every message of batches, in order.
func spotsOf(t *testing.T, batches []topics.Batch) []spot {
	t.Helper()
	var out []spot
	for _, b := range batches {
		for _, m := range b.Messages {
			pos, ok := topics.PositionFromContext(m.Context())
			if !ok {
				t.Errorf("message %s of partition %d has no position", m.UUID, b.Partition)
				continue
			}
			out = append(out, spot{pos.Partition, pos.Offset})
		}
	}
	return out
}

// produce appends n records to each of the first partitions partitions of
// topic and returns the places they got.
func produce(t *testing.T, addr, topic string, partitions, n int) []spot {
	t.Helper()
	var recs []*kgo.Record
	for p := range int32(partitions) {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	topicstest.Produce(t, addr, recs...)
	out := make([]spot, 0, len(recs))
	for _, r := range recs {
		out = append(out, spot{r.Partition, r.Offset})
	}
	return out
}

// run is one BatchConsumer running in the background.
type run struct {
	c      *topics.BatchConsumer
	cancel context.CancelFunc
	done   chan error
}

// startConsumer runs a BatchConsumer of cfg with handle until stop or the
// end of the test.
func startConsumer(t *testing.T, cfg topics.BatchConsumerConfig, handle topics.BatchHandler) *run {
	t.Helper()
	c, err := topics.NewBatchConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx, handle) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return, which it does after its
// closing commit.
func (r *run) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run returned %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context ending")
	}
}

// consumerConfig is a test consumer of topic in group. Background commits
// are an hour apart, so every commit the tests see was made on revoke or
// on close, the two commits the guarantees are about.
func consumerConfig(addr, group, topic string) topics.BatchConsumerConfig {
	return topics.BatchConsumerConfig{
		Brokers:        []string{addr},
		Group:          group,
		Topic:          topic,
		CommitInterval: time.Hour,
		Logger:         slog.New(slog.DiscardHandler),
		KgoOpts:        topicstest.GroupOpts(),
	}
}

// ends turns the places of produced records into the offset after the last
// one, per partition: what a group that handled them all has committed.
func ends(spots []spot) map[int32]int64 {
	out := map[int32]int64{}
	for _, s := range spots {
		out[s.partition] = max(out[s.partition], s.offset+1)
	}
	return out
}

// TestBatchConsumerOffersAFailedPollAgainUnchanged: when the handler fails,
// the same batches come back (same partitions, same records, same order),
// nothing is marked handled or committed meanwhile, and once the handler
// succeeds everything is committed.
func TestBatchConsumerOffersAFailedPollAgainUnchanged(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const topic, group, failures = "failing", "failing-group", 3
	topicstest.CreateTopic(t, addr, topic, 2)
	produced := produce(t, addr, topic, 2, 5)

	var (
		mu      sync.Mutex
		offers  [][]spot // what each failed call was handed
		handled = map[spot]int{}
		err     = errors.New("handler failed")
		// The last failing call waits for the test to look at the
		// consumer.
		lastFailure, checked = make(chan struct{}), make(chan struct{})
	)
	cfg := consumerConfig(addr, group, topic)
	// Background commits as often as kgo allows (100 ms): a consumer that
	// marked records before its handler succeeded would have committed them
	// by the third call, 100 + 200 ms of backoff after the first.
	cfg.CommitInterval = 100 * time.Millisecond
	r := startConsumer(t, cfg, func(_ context.Context, batches []topics.Batch) error {
		got := spotsOf(t, batches)
		mu.Lock()
		defer mu.Unlock()
		if len(offers) < failures {
			if len(offers) > 0 && !slices.Equal(got, offers[0]) {
				t.Errorf("offer %d after a failure was %v, want the failed poll %v again", len(offers)+1, got, offers[0])
			}
			offers = append(offers, got)
			if len(offers) == failures {
				// The test looks at the consumer before this call fails.
				close(lastFailure)
				<-checked
			}
			return err
		}
		for _, s := range got {
			handled[s]++
		}
		return nil
	})
	select {
	case <-lastFailure:
	case <-time.After(30 * time.Second):
		t.Fatalf("the handler did not fail %d times within 30s", failures)
	}
	// Still failing: nothing of the poll may be marked or committed.
	h, c := r.c.Handled(), topicstest.Committed(t, addr, group, topic)
	close(checked)
	if len(h) != 0 || len(c) != 0 {
		t.Errorf("while the poll keeps failing: Handled() = %v and committed %v, want nothing", h, c)
	}
	topicstest.WaitFor(t, 30*time.Second, "every record handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == len(produced)
	})
	r.stop(t)

	for _, s := range produced {
		if handled[s] != 1 {
			t.Errorf("record %s handled %d times after the failures, want once", s, handled[s])
		}
	}
	if got, want := topicstest.Committed(t, addr, group, topic), ends(produced); !maps.Equal(got, want) {
		t.Errorf("committed %v after success, want %v", got, want)
	}
}

// TestBatchConsumerRedeliversWhatItDidNotCommit: a consumer that stops
// while its handler is under way (the handler has done its work but not
// returned, as in a crash between handling and commit) commits the polls it
// finished and nothing of the one in hand; the next member of the group is
// handed that poll's records again, from its first record on, and loses
// none.
func TestBatchConsumerRedeliversWhatItDidNotCommit(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	tests := []struct {
		name     string
		finished int // polls the first consumer finishes before it stops
	}{
		{"stopped in its first poll", 0},
		{"stopped in its third poll", 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			topic, group := fmt.Sprintf("crash-%d", i), fmt.Sprintf("crash-group-%d", i)
			topicstest.CreateTopic(t, addr, topic, 1)
			produced := produce(t, addr, topic, 1, 10)

			var (
				mu       sync.Mutex
				handled  []spot // by polls that returned nil
				inFlight []spot // the poll in hand when the consumer stopped
				calls    int
				inPoll   = make(chan struct{})
			)
			cfg := consumerConfig(addr, group, topic)
			cfg.MaxPollRecords = 3
			first := startConsumer(t, cfg, func(ctx context.Context, batches []topics.Batch) error {
				got := spotsOf(t, batches)
				mu.Lock()
				calls++
				if calls <= tt.finished {
					handled = append(handled, got...)
					mu.Unlock()
					return nil
				}
				// The work is done; the consumer stops before the
				// handler returns.
				inFlight = got
				mu.Unlock()
				close(inPoll)
				<-ctx.Done()
				return ctx.Err()
			})
			select {
			case <-inPoll:
			case <-time.After(30 * time.Second):
				t.Fatal("the first consumer never reached the poll it stops in")
			}
			first.stop(t)

			mu.Lock()
			wantCommitted := ends(handled)
			inHand := slices.Clone(inFlight)
			mu.Unlock()
			if len(inHand) == 0 {
				t.Fatal("the poll in hand held no records")
			}
			if got := topicstest.Committed(t, addr, group, topic); !maps.Equal(got, wantCommitted) {
				t.Fatalf("committed %v after stopping mid-poll, want %v: what finished polls handled and nothing of the poll in hand", got, wantCommitted)
			}

			var (
				againMu sync.Mutex
				again   []spot
			)
			startConsumer(t, consumerConfig(addr, group, topic), func(_ context.Context, batches []topics.Batch) error {
				againMu.Lock()
				defer againMu.Unlock()
				again = append(again, spotsOf(t, batches)...)
				return nil
			})
			rest := produced[len(handled):]
			topicstest.WaitFor(t, 30*time.Second, "the uncommitted records handed to the next member", func() bool {
				againMu.Lock()
				defer againMu.Unlock()
				return len(again) >= len(rest)
			})
			againMu.Lock()
			defer againMu.Unlock()
			if !slices.Equal(again, rest) {
				t.Fatalf("the next member was handed %v, want every record after the finished polls, %v", again, rest)
			}
			if !slices.Equal(again[:len(inHand)], inHand) {
				t.Fatalf("the next member started with %v, want the poll in hand %v again", again[:len(inHand)], inHand)
			}
		})
	}
}

// TestBatchConsumerRebalanceWaitsForThePollInHand: a member that joins
// while another is handling a poll gets partitions only after that handler
// returned (kgo.BlockRebalanceOnPoll); the partitions that move are
// committed up to what the first member handled, so the new owner starts
// right after it: no record is handled by both members and none is lost.
func TestBatchConsumerRebalanceWaitsForThePollInHand(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const topic, group, partitions = "rebalance", "rebalance-group", 4
	topicstest.CreateTopic(t, addr, topic, partitions)
	produced := produce(t, addr, topic, partitions, 10)

	var (
		mu       sync.Mutex
		by       = map[spot][]string{} // record → members that handled it
		released bool                  // member a's blocked poll has returned
		inHand   []spot
		// Per partition b was handed: the offset of its first record there
		// and the end of what a had handled there at that moment.
		bStart, aEnd = map[int32]int64{}, map[int32]int64{}
	)
	record := func(member string, got []spot) {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range got {
			by[s] = append(by[s], member)
		}
	}
	inPoll, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a := startConsumer(t, consumerConfig(addr, group, topic), func(_ context.Context, batches []topics.Batch) error {
		got := spotsOf(t, batches)
		blocked := false
		once.Do(func() {
			blocked = true
			mu.Lock()
			inHand = got
			mu.Unlock()
			close(inPoll)
			<-release
		})
		if blocked {
			// Marked handled before the release is visible to b's check:
			// b may only be handed records once this returns.
			mu.Lock()
			released = true
			mu.Unlock()
		}
		record("a", got)
		return nil
	})
	select {
	case <-inPoll:
	case <-time.After(30 * time.Second):
		t.Fatal("member a was never handed a poll")
	}

	b := startConsumer(t, consumerConfig(addr, group, topic), func(_ context.Context, batches []topics.Batch) error {
		got := spotsOf(t, batches)
		// A partition moved to b was revoked from a first, so what a has
		// handled there is final by now.
		handledByA := a.c.Handled()
		mu.Lock()
		if !released {
			t.Errorf("member b handled %v while member a still held its poll", got)
		}
		for _, s := range got {
			if _, ok := bStart[s.partition]; !ok {
				bStart[s.partition], aEnd[s.partition] = s.offset, handledByA[s.partition]
			}
		}
		mu.Unlock()
		record("b", got)
		return nil
	})
	// b's join starts a rebalance that must wait for a's handler. Hold a
	// until the group has been seen rebalancing for a second without a
	// break, ten of the members' 100 ms heartbeat intervals: long enough
	// for b to have been given partitions and handed records had the
	// rebalance not waited (b's handler then fails the test).
	adm := kadm.NewClient(topicstest.Client(t, addr))
	var pendingSince time.Time
	topicstest.WaitFor(t, 30*time.Second, "the rebalance to wait for member a's poll", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatalf("describe group: %v", err)
		}
		switch state := groups[group].State; {
		case !strings.HasSuffix(state, "Rebalance"):
			pendingSince = time.Time{}
		case pendingSince.IsZero():
			pendingSince = time.Now()
		}
		mu.Lock()
		bHandled := len(bStart) > 0
		mu.Unlock()
		return bHandled || !pendingSince.IsZero() && time.Since(pendingSince) >= time.Second
	})
	close(release)

	// Once both members own partitions, more records go to every
	// partition, so each member has work after the rebalance.
	topicstest.WaitFor(t, 30*time.Second, "both members to own partitions", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatalf("describe group: %v", err)
		}
		g := groups[group]
		owning := 0
		for _, m := range g.Members {
			if ma, ok := m.Assigned.AsConsumer(); ok && len(ma.Topics) > 0 {
				owning++
			}
		}
		return g.State == "Stable" && owning == 2
	})
	produced = append(produced, produce(t, addr, topic, partitions, 5)...)
	topicstest.WaitFor(t, 30*time.Second, "every record handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(by) == len(produced)
	})
	// a first: b stops with nothing to rebalance onto it.
	a.stop(t)
	b.stop(t)

	mu.Lock()
	defer mu.Unlock()
	if len(inHand) == 0 {
		t.Fatal("member a's blocked poll held no records")
	}
	for _, s := range produced {
		if got := by[s]; len(got) != 1 {
			t.Errorf("record %s handled by %v, want exactly one member", s, got)
		}
	}
	if len(bStart) == 0 {
		t.Fatal("member b was never handed a record: the test did not rebalance")
	}
	// The case the test is for: a partition that moved to b had records in
	// the poll a held while b joined.
	moved := false
	for _, s := range inHand {
		_, ok := bStart[s.partition]
		moved = moved || ok
	}
	if !moved {
		t.Errorf("no partition b took (%v) was in the poll a held (%v): the test did not revoke a partition in flight", slices.Collect(maps.Keys(bStart)), inHand)
	}
	// The new owner of a moved partition starts where a's handling ended:
	// the revoke committed exactly what a had handled.
	for p, off := range bStart {
		if off != aEnd[p] {
			t.Errorf("member b started partition %d at offset %d, want %d, the end of what member a handled", p, off, aEnd[p])
		}
	}
	if got, want := topicstest.Committed(t, addr, group, topic), ends(produced); !maps.Equal(got, want) {
		t.Errorf("committed %v after both members stopped, want %v", got, want)
	}
}
