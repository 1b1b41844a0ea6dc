package replay

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// SubscribeOptions say where a subscription starts and what it shows.
type SubscribeOptions struct {
	// Cursor, when set (non-nil), starts right after the position it
	// names (X-Fetch-Since-Cursor, Last-Event-ID).
	Cursor *Cursor
	// Since, when not zero and Cursor is nil, starts at the first offset
	// of each partition whose timestamp is at or after it (X-Fetch-Since),
	// the history merged across partitions in timestamp order.
	// With neither, the subscription starts live: at the end of the topic.
	Since time.Time
	// Until, when not zero, ends the subscription (TryNext returns io.EOF)
	// once every item stamped at or before it has been shown: at the first
	// later item, or a second after Until once it has read everything.
	Until time.Time
	// Filter selects the items shown; nil shows all. Items it rejects
	// still move the cursor.
	Filter *Filter
}

// closedChan is a channel that is always ready.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Subscription is one subscriber's view of the stream. It is not safe for
// concurrent use: one goroutine (the subscriber's writer) calls its
// methods, Close included.
type Subscription struct {
	h      *Hub
	filter *Filter
	until  time.Time

	cursor   Cursor
	live     bool   // reading the ring
	seq      uint64 // live: the ring sequence number to read next
	cu       *catchUp
	wantSlot bool  // a catch-up is due and waits for a free slot
	err      error // sticky: the subscription has ended

	// stopped marks the partitions that showed an item stamped after
	// Until: nothing more of them is shown and the cursor stays before
	// it. The subscription ends when all are stopped, or when it has read
	// everything the log held after Until (Hub.caughtUp).
	stopped  []bool
	nStopped int

	// untilWake and untilFor: see Ready.
	untilWake chan struct{}
	untilFor  chan struct{}

	closeOnce sync.Once
	closed    chan struct{}
}

// Subscribe starts a subscription. It fails when a cursor names more
// partitions than the topic has or lies past the end of the log
// (ErrCursorBeyondEnd), or when the timestamp lookup fails (ctx bounds
// it). It never waits for a catch-up slot: a subscription that needs one
// while all are taken shows nothing until one frees (its Ready says when),
// so its writer can send pings meanwhile.
func (h *Hub) Subscribe(ctx context.Context, opts SubscribeOptions) (*Subscription, error) {
	s := &Subscription{h: h, filter: opts.Filter, until: opts.Until, closed: make(chan struct{}), stopped: make([]bool, h.parts)}
	var start Cursor
	switch {
	case opts.Cursor != nil:
		if opts.Cursor.Partitions() > h.parts {
			return nil, fmt.Errorf("%w: the cursor names %d partitions, the topic has %d", ErrBadCursor, opts.Cursor.Partitions(), h.parts)
		}
		start = opts.Cursor.Clone()
		if err := h.checkNotBeyondEnd(ctx, start); err != nil {
			return nil, err
		}
	case !opts.Since.IsZero():
		c, err := h.offsetsAt(ctx, opts.Since)
		if err != nil {
			return nil, err
		}
		start = c
	default:
		h.mu.Lock()
		s.cursor, s.seq, s.live = NewCursor(h.next), h.endSeq, true
		h.mu.Unlock()
	}
	if !s.live {
		s.cursor = start
		if !s.tryJoin() {
			s.wantSlot = true
			if err := s.tryCatchUp(); err != nil {
				return nil, err
			}
		}
	}
	h.subscribers.Add(1)
	return s, nil
}

// checkNotBeyondEnd refuses a cursor past a partition's end: reading from
// there would silently skip the records that later fill the gap.
func (h *Hub) checkNotBeyondEnd(ctx context.Context, c Cursor) error {
	h.mu.RLock()
	ahead := false
	for p := range h.next {
		if c.Next(int32(p)) > h.next[p] {
			ahead = true
		}
	}
	h.mu.RUnlock()
	if !ahead {
		return nil
	}
	ends, err := listOffsets(ctx, h.adm.ListEndOffsets, h.cfg.Topic)
	if err != nil {
		return fmt.Errorf("replay: end offsets of %s: %w", h.cfg.Topic, err)
	}
	for p, end := range ends {
		if c.Next(int32(p)) > end {
			return fmt.Errorf("%w: partition %d at %d, its end is %d", ErrCursorBeyondEnd, p, c.Next(int32(p)), end)
		}
	}
	return nil
}

// offsetsAt returns the cursor at the first record of each partition
// stamped at or after t, never past the last stable offset: a record of a
// transaction still open there would otherwise be skipped once it commits.
func (h *Hub) offsetsAt(ctx context.Context, t time.Time) (Cursor, error) {
	at, err := listOffsets(ctx, func(ctx context.Context, ts ...string) (kadm.ListedOffsets, error) {
		return h.adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), ts...)
	}, h.cfg.Topic)
	if err != nil {
		return Cursor{}, fmt.Errorf("replay: offsets of %s at %s: %w", h.cfg.Topic, t.UTC().Format(time.RFC3339Nano), err)
	}
	stable, err := listOffsets(ctx, h.adm.ListCommittedOffsets, h.cfg.Topic)
	if err != nil {
		return Cursor{}, fmt.Errorf("replay: last stable offsets of %s: %w", h.cfg.Topic, err)
	}
	for p := range at {
		if p < len(stable) && (at[p] < 0 || at[p] > stable[p]) {
			at[p] = stable[p]
		}
	}
	return NewCursor(at), nil
}

// tryCatchUp starts the catch-up from the cursor when a slot is free;
// otherwise wantSlot stays set.
func (s *Subscription) tryCatchUp() error {
	if !s.h.takeSlot() {
		return nil
	}
	cu, err := startCatchUp(s.h, s.cursor) // it owns the slot from here
	if err != nil {
		return err
	}
	s.cu, s.wantSlot = cu, false
	return nil
}

// tryJoin moves the subscription onto the ring when its cursor allows.
func (s *Subscription) tryJoin() bool {
	h := s.h
	h.mu.RLock()
	defer h.mu.RUnlock()
	if !h.joinableLocked(s.cursor, s.stopped) {
		return false
	}
	s.seq, s.live = h.startSeq, true
	return true
}

// Ready returns a channel that is closed when TryNext may have something:
// an item, the end, or an error. It is already closed when TryNext has
// something now. Wait on it, then call TryNext until it returns nil, nil.
func (s *Subscription) Ready() <-chan struct{} {
	if s.err != nil {
		return closedChan
	}
	if s.wantSlot {
		return s.h.slotReady()
	}
	if s.cu != nil {
		return s.cu.ready()
	}
	h := s.h
	h.mu.RLock()
	if h.closed || s.seq != h.endSeq || s.seq < h.startSeq {
		h.mu.RUnlock()
		return closedChan
	}
	changed := h.changed
	var next []int64
	if !s.until.IsZero() {
		next = slices.Clone(h.next) // the position of this ring end and of changed
	}
	h.mu.RUnlock()
	if s.until.IsZero() {
		return changed
	}
	if deadline := s.until.Add(untilGrace); !time.Now().Before(deadline) {
		if h.caughtUp(context.Background(), deadline, next) {
			return closedChan // TryNext ends it
		}
		return changed // the hub is still reading what came before
	}
	// Wake at the deadline too: one goroutine per ring generation, gone
	// at the next item or the deadline, whichever comes first.
	if s.untilFor != changed {
		s.untilFor, s.untilWake = changed, make(chan struct{})
		wake, deadline := s.untilWake, time.Until(s.until.Add(untilGrace))
		go func() {
			t := time.NewTimer(max(deadline, 0))
			defer t.Stop()
			select {
			case <-changed:
			case <-t.C:
			case <-s.closed:
			}
			close(wake)
		}()
	}
	return s.untilWake
}

// TryNext returns the next item the filter selects, or nil, nil when there
// is none yet. It returns io.EOF when Until has passed, an error wrapping
// ErrFellBehind when the subscriber was cut off, ErrClosed after Close.
// The item must not be modified.
func (s *Subscription) TryNext() (*Item, error) {
	for s.err == nil {
		select {
		case <-s.closed:
			s.err = ErrClosed
			return nil, s.err
		default:
		}
		if s.h.isClosed() {
			s.endCatchUp()
			s.err = ErrClosed
			return nil, s.err
		}
		if s.wantSlot {
			if err := s.tryCatchUp(); err != nil {
				s.err = err
				return nil, err
			}
			if s.wantSlot {
				return nil, nil
			}
		}
		if s.cu != nil {
			it, more, err := s.nextCatchUp()
			if err != nil || it != nil || !more {
				return it, err
			}
			continue
		}
		return s.nextLive()
	}
	return nil, s.err
}

// pastUntil applies Until to an item of partition p stamped ts: it stops
// the partition at the first item stamped after Until and reports whether
// the item is not to be shown (nor its offset passed). end says that every
// partition has stopped.
func (s *Subscription) pastUntil(p int32, ts time.Time) (skip, end bool) {
	if s.until.IsZero() || int(p) >= len(s.stopped) {
		return false, false
	}
	if s.stopped[p] {
		return true, false
	}
	if !ts.After(s.until) {
		return false, false
	}
	s.stopped[p] = true
	s.nStopped++
	return true, s.nStopped == len(s.stopped)
}

// nextCatchUp returns the next item of the catch-up. more says to call
// again: the catch-up ended and the subscription moved on.
func (s *Subscription) nextCatchUp() (it *Item, more bool, err error) {
	for {
		p, ok, finished, err := s.cu.pop()
		if err != nil {
			s.endCatchUp()
			s.err = err
			return nil, false, err
		}
		if !ok {
			if !finished {
				return nil, false, nil
			}
			// Everything below the ring's base is shown (or the catch-up
			// gave its slot up for a subscriber that does not read): join
			// the ring, or read on from here once a slot is free.
			s.endCatchUp()
			if !s.tryJoin() {
				s.wantSlot = true
			}
			return nil, true, nil
		}
		if p.item == nil {
			if !s.until.IsZero() && int(p.part) < len(s.stopped) && s.stopped[p.part] {
				continue
			}
			s.cursor.Advance(p.part, p.off)
			continue
		}
		skip, end := s.pastUntil(p.part, p.item.Timestamp)
		if end {
			s.endCatchUp()
			s.err = io.EOF
			return nil, false, io.EOF
		}
		if skip {
			continue
		}
		s.cursor.Advance(p.part, p.off)
		if s.filter == nil || s.filter.Match(p.item) {
			return p.item, false, nil
		}
	}
}

func (s *Subscription) endCatchUp() {
	if s.cu == nil {
		return
	}
	s.cu.stop() // its reader gives the slot back as it ends
	s.cu = nil
}

// ringScan bounds the entries one TryNext reads under the hub's read lock,
// so that a subscriber skipping many entries does not hold off the reader.
const ringScan = 256

func (s *Subscription) nextLive() (*Item, error) {
	h := s.h
	for {
		h.mu.RLock()
		if h.closed {
			h.mu.RUnlock()
			s.err = ErrClosed
			return nil, s.err
		}
		if s.seq < h.startSeq {
			lost := h.startSeq - s.seq
			h.mu.RUnlock()
			h.cutOff.Add(1)
			s.err = fmt.Errorf("%w: %d items behind the oldest the hub keeps", ErrFellBehind, lost)
			return nil, s.err
		}
		if s.seq == h.endSeq {
			var next []int64
			if !s.until.IsZero() {
				next = slices.Clone(h.next) // the position of this ring end
			}
			h.mu.RUnlock()
			if h.atRingEnd != nil {
				h.atRingEnd()
			}
			// Past Until, the end of the ring is the end only once the hub
			// has read the whole log as it stood after Until: right after
			// a burst it may still be reading what was stamped before.
			if !s.until.IsZero() && h.caughtUp(context.Background(), s.until.Add(untilGrace), next) {
				s.err = io.EOF
				return nil, s.err
			}
			return nil, nil
		}
		n := uint64(len(h.ring))
		var found *Item
		for i := 0; i < ringScan && s.seq < h.endSeq; i++ {
			it := h.ring[s.seq%n].item
			if it.Offset < s.cursor.Next(it.Partition) {
				s.seq++
				continue // shown by the catch-up already
			}
			s.seq++
			if skip, end := s.pastUntil(it.Partition, it.Timestamp); end {
				h.mu.RUnlock()
				s.err = io.EOF
				return nil, s.err
			} else if skip {
				continue
			}
			s.cursor.Advance(it.Partition, it.Offset)
			if s.filter == nil || s.filter.Match(it) {
				found = it
				break
			}
		}
		h.mu.RUnlock()
		if found != nil {
			return found, nil
		}
	}
}

// Cursor returns the position right after the last item TryNext returned
// and every record it skipped before it.
func (s *Subscription) Cursor() Cursor { return s.cursor.Clone() }

// AppendCursor appends Cursor().AppendText to dst without copying the
// position.
func (s *Subscription) AppendCursor(dst []byte) []byte { return s.cursor.AppendText(dst) }

// CatchingUp reports whether the subscription still reads the topic
// itself (history) rather than the hub's ring (live).
func (s *Subscription) CatchingUp() bool { return s.cu != nil }

// Close ends the subscription and releases what it holds (its catch-up
// slot and Kafka client). More calls do nothing; TryNext then returns
// ErrClosed.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.h.subscribers.Add(-1)
		s.endCatchUp()
	})
}
