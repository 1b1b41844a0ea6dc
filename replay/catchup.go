package replay

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
)

// catchUpOut bounds the merged records a catch-up holds for its subscriber;
// catchUpPartition bounds the fetched records it holds per partition before
// it pauses fetching that partition. With ~1 KiB items, about 10 MiB per
// catch-up at most.
const (
	catchUpOut       = 2048
	catchUpPartition = 1024
)

// pending is one record a catch-up read: an item, or a record that moves
// the cursor only (a transaction marker, a record that is not an event).
type pending struct {
	part int32
	off  int64
	ts   time.Time // clamped: never before the partition's previous one
	item *Item
}

// catchUp reads the events topic from a cursor with its own client,
// merging partitions in timestamp order, until every partition has been
// read up to the hub's ring (the subscription then joins the ring).
//
// Partitions are merged by record timestamp, each clamped to be no earlier
// than its predecessor in the partition (producers stamp records, so a
// partition's timestamps may step back a little), ties by partition then
// offset: the same records always come out in the same order, so a
// replay's cursors are the same every time.
type catchUp struct {
	h      *Hub
	client *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	out      []pending
	outHead  int
	wait     chan struct{} // closed when out gets a record or the catch-up ends
	space    chan struct{} // capacity 1: the subscriber took records
	finished bool          // every partition is read up to the ring's base
	err      error
}

// startCatchUp starts reading from the cursor with a slot the caller took:
// the catch-up owns it from then on (it gives it back when its reader ends,
// also when it fails to start).
func startCatchUp(h *Hub, from Cursor) (*catchUp, error) {
	starts := make(map[int32]kgo.Offset, h.parts)
	for p := 0; p < h.parts; p++ {
		starts[int32(p)] = kgo.NewOffset().At(from.Next(int32(p)))
	}
	opts := append(topics.FetchOpts(),
		kgo.SeedBrokers(h.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{h.cfg.Topic: starts}),
		kgo.FetchMaxBytes(16<<20),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	client, err := kgo.NewClient(append(opts, h.cfg.KgoOpts...)...)
	if err != nil {
		h.releaseSlot()
		return nil, fmt.Errorf("replay: catch-up client: %w", err)
	}
	h.catchingUp.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	cu := &catchUp{h: h, client: client, cancel: cancel, done: make(chan struct{}), space: make(chan struct{}, 1)}
	go cu.run(ctx, from)
	return cu, nil
}

// stop ends the reader and closes its client. Safe to call more than once.
func (cu *catchUp) stop() {
	cu.cancel()
	<-cu.done
}

// ready: see Subscription.Ready.
func (cu *catchUp) ready() <-chan struct{} {
	cu.mu.Lock()
	defer cu.mu.Unlock()
	if cu.outHead < len(cu.out) || cu.finished || cu.err != nil {
		return closedChan
	}
	if cu.wait == nil {
		cu.wait = make(chan struct{})
	}
	return cu.wait
}

// pop takes the next merged record. ok is false when there is none now;
// finished then says the catch-up is complete.
func (cu *catchUp) pop() (p pending, ok, finished bool, err error) {
	cu.mu.Lock()
	defer cu.mu.Unlock()
	if cu.outHead < len(cu.out) {
		p = cu.out[cu.outHead]
		cu.out[cu.outHead] = pending{}
		cu.outHead++
		if cu.outHead == len(cu.out) {
			cu.out, cu.outHead = cu.out[:0], 0
			select {
			case cu.space <- struct{}{}:
			default:
			}
		}
		return p, true, false, nil
	}
	return pending{}, false, cu.finished, cu.err
}

// catchUpYield is how long a catch-up waits for its subscriber to take
// records before it gives its slot up: a subscriber that reads slowly (or
// not at all) must not hold one of the few catch-up slots, and with them
// every other replay, for as long as it likes. It resumes from its cursor
// once it has read what it holds and a slot is free.
const catchUpYield = 2 * time.Second

// push hands merged records to the subscriber, waiting while it holds
// catchUpOut of them. It returns false, without handing them, when ctx
// ended or the subscriber took nothing for catchUpYield.
func (cu *catchUp) push(ctx context.Context, ps []pending) bool {
	var yield *time.Timer
	defer func() {
		if yield != nil {
			yield.Stop()
		}
	}()
	for {
		cu.mu.Lock()
		if len(cu.out)-cu.outHead < catchUpOut {
			cu.out = append(cu.out, ps...)
			if cu.wait != nil {
				close(cu.wait)
				cu.wait = nil
			}
			cu.mu.Unlock()
			return true
		}
		cu.mu.Unlock()
		if yield == nil {
			yield = time.NewTimer(catchUpYield)
		}
		select {
		case <-cu.space:
		case <-yield.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// end records how the catch-up ended and wakes the subscriber.
func (cu *catchUp) end(err error) {
	cu.mu.Lock()
	if err != nil {
		cu.err = err
	} else {
		cu.finished = true
	}
	if cu.wait != nil {
		close(cu.wait)
		cu.wait = nil
	}
	cu.mu.Unlock()
}

// run reads and merges until every partition is read up to the ring's base.
func (cu *catchUp) run(ctx context.Context, from Cursor) {
	defer close(cu.done)
	defer func() {
		cu.client.Close()
		cu.h.catchingUp.Add(-1)
		cu.h.releaseSlot()
	}()
	h := cu.h
	queues := make([][]pending, h.parts)
	heads := make([]int, h.parts)
	readPos := make([]int64, h.parts) // next offset to read
	last := make([]time.Time, h.parts)
	paused := make([]bool, h.parts)
	for p := range readPos {
		readPos[p] = from.Next(int32(p))
	}
	base := make([]int64, h.parts)
	complete := func(p int) bool { return readPos[p] >= base[p] }
	var merged []pending
	for {
		h.mu.RLock()
		copy(base, h.base)
		h.mu.RUnlock()

		// Merge while every partition not yet read up to the ring has a
		// record waiting: only then is the earliest one known.
		merged = merged[:0]
		for len(merged) < catchUpOut {
			best := -1
			blocked := false
			for p := range queues {
				if heads[p] == len(queues[p]) {
					if !complete(p) {
						blocked = true
						break
					}
					continue
				}
				if best < 0 || earlier(queues[p][heads[p]], queues[best][heads[best]]) {
					best = p
				}
			}
			if blocked || best < 0 {
				break
			}
			merged = append(merged, queues[best][heads[best]])
			queues[best][heads[best]] = pending{}
			heads[best]++
			if heads[best] == len(queues[best]) {
				queues[best], heads[best] = queues[best][:0], 0
			}
		}
		if len(merged) > 0 && !cu.push(ctx, merged) {
			// Cancelled, or the subscriber is not reading: what was not
			// handed over is read again from its cursor next time.
			cu.end(ctx.Err())
			return
		}
		done := true
		for p := range queues {
			if !complete(p) || heads[p] < len(queues[p]) {
				done = false
			}
		}
		if done {
			cu.end(nil)
			return
		}
		if len(merged) == catchUpOut {
			continue // more may be mergeable without fetching
		}

		// Pause partitions read up to the ring (the ring has the rest) and
		// those holding plenty, so one far ahead in time does not fill
		// memory while another is fetched.
		var pause, resume []int32
		for p := range queues {
			full := complete(p) || len(queues[p])-heads[p] >= catchUpPartition
			if full && !paused[p] {
				pause, paused[p] = append(pause, int32(p)), true
			} else if !full && paused[p] {
				resume, paused[p] = append(resume, int32(p)), false
			}
		}
		if len(pause) > 0 {
			cu.client.PauseFetchPartitions(map[string][]int32{h.cfg.Topic: pause})
		}
		if len(resume) > 0 {
			cu.client.ResumeFetchPartitions(map[string][]int32{h.cfg.Topic: resume})
		}

		fetches := cu.client.PollRecords(ctx, 4096)
		if ctx.Err() != nil {
			cu.end(ctx.Err())
			return
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			if fetchErr == nil {
				fetchErr = fmt.Errorf("replay: catch-up reading %s/%d: %w", t, p, err)
			}
		})
		if fetchErr != nil {
			h.log.Warn("stream catch-up fetch", "err", fetchErr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			p := int(r.Partition)
			if p >= len(queues) || r.Offset < readPos[p] {
				return
			}
			readPos[p] = r.Offset + 1
			ts := r.Timestamp
			if ts.Before(last[p]) {
				ts = last[p]
			}
			last[p] = ts
			pe := pending{part: r.Partition, off: r.Offset, ts: ts}
			if !r.Attrs.IsControl() {
				if it, err := NewItem(r); err == nil {
					pe.item = it
				} else {
					h.skipped.Add(1)
				}
			}
			queues[p] = append(queues[p], pe)
		})
	}
}

// earlier orders merged records: clamped timestamp, then partition, then
// offset.
func earlier(a, b pending) bool {
	if !a.ts.Equal(b.ts) {
		return a.ts.Before(b.ts)
	}
	if a.part != b.part {
		return a.part < b.part
	}
	return a.off < b.off
}
