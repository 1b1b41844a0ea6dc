package projections

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	eventstopic "github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// The queues' key tables, all under the one tag 'q'. Subscriber RIDs hold
// no zero byte (route refuses them), so a zero byte ends the subscriber part.
var (
	prefixQueue = []byte("q\x00")
	// q\0e\0<subscriber>\0<position> → the event JSON, byte for byte as
	// the events record holds it. A position is queuePositionLen bytes:
	// enqueue time in ms (u64), partition (u32), offset (u64), big endian,
	// so a subscriber's entries sort oldest first.
	prefixQueueEntry = []byte("q\x00e\x00")
	// q\0n\0<subscriber> → depth (u64) and events dropped over the limit
	// (u64): one row per subscriber ever queued to, updated with every
	// change of its entries, so Depth is one read.
	prefixQueueStat = []byte("q\x00n\x00")
	// q\0c\0<partition u32> → the enqueue time in ms (u64) of the last
	// record of the partition that was queued: times never go back within
	// a partition, so the entries of one RID (one partition) keep their
	// order.
	prefixQueueClock = []byte("q\x00c\x00")
	// q\0l\0<subscriber> → the positions of the page the subscriber's last
	// Poll returned, concatenated: acknowledged by its next Poll.
	prefixQueuePage = []byte("q\x00l\x00")
)

// queuesName is the queues' Name.
const queuesName = "queues"

// queuePositionLen is the length of a queue entry's position, the
// [QueueEntry] Key.
const queuePositionLen = 8 + 4 + 8

// DefaultQueueLimit is the number of events a subscriber's queue holds at
// most when [QueuesConfig.Limit] is zero.
const DefaultQueueLimit = 100_000

// MaxPollPage is the most entries one [Queues.Poll] or [Queues.Pending]
// returns: what a poll holds in memory however long the queue is.
const MaxPollPage = 1000

// QueuesConfig configures [NewQueues].
type QueuesConfig struct {
	// Self is our node RID. Required.
	Self string
	// ProvidesEvent are the RID types we broadcast events of (our
	// profile's provides.event): every event of these types goes to every
	// subscriber whose edge carries its type.
	ProvidesEvent []string
	// Limit is the most events a subscriber's queue holds; beyond it the
	// oldest are dropped and counted ([Queues.Dropped]). Zero means
	// DefaultQueueLimit.
	Limit int
	// Now is the clock OldestAge measures with; nil means time.Now. Apply
	// never reads it.
	Now func() time.Time
	// Advertisable reports whether an event about rid may leave the node
	// (KOI-2.1.md 1e: only canonical orn:github.* RID strings do); events
	// it refuses are queued to no one. Nil admits every RID. It must be a
	// pure function of rid: the queues are rebuilt from the log with it.
	Advertisable func(rid string) bool
}

func (c *QueuesConfig) setDefaults() {
	if c.Limit == 0 {
		c.Limit = DefaultQueueLimit
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports whether the configuration is usable.
func (c QueuesConfig) Validate() error {
	if _, err := koi.ParseNodeRID(c.Self); err != nil {
		return fmt.Errorf("queues: self: %w", err)
	}
	if err := checkKeyPart("node RID", c.Self); err != nil {
		return fmt.Errorf("queues: self: %w", err)
	}
	if c.Limit < 0 {
		return fmt.Errorf("queues: limit %d is negative", c.Limit)
	}
	return nil
}

// QueueEntry is one event queued for a subscriber.
type QueueEntry struct {
	// Key identifies the entry within its subscriber's queue, for
	// [Queues.Ack]. Opaque; the caller's.
	Key []byte
	// Event is the KOI event JSON exactly as the events topic holds it
	// (koi.Event.AppendJSON); the caller's.
	Event []byte
	// Enqueued is when the event was queued: the events record's
	// timestamp, raised to the previous queued record's of its partition
	// when the broker's clock went back, to the millisecond.
	Enqueued time.Time
}

// Queues is the outbound queues projection: per subscriber (a node RID),
// the events it is owed, oldest first, kept until acknowledged. Which
// events a node is owed follows the reference's network stage (PROTOCOL.md
// 7 step 6), for each events record in log order:
//
//   - the nodes the record's observation names as targets
//     ([observed.HeaderTargets]: a handshake's answer, an edge proposal);
//   - if the event's RID type is one we provide (ProvidesEvent), or the
//     event is local (no [observed.HeaderPeer]) and "involves me" (it is
//     about our own node RID, or about an edge whose source or target we
//     are), every subscriber: the target of each edge whose source is
//     Self, PROPOSED or APPROVED (the reference sends on proposed edges
//     already), whose rid_types carry the event's type;
//   - if the event is local and about an edge whose source or target we
//     are, the edge's other end;
//
// less the peer the event came from (no echo) and Self. Edges are taken as
// the log has them at that record: an edge approved earlier in the same
// poll counts for the events after it.
//
// A queue holds at most Limit events; beyond that the oldest are dropped
// and counted. Entries leave a queue by [Queues.Ack] (webhook delivery,
// once the peer accepted a batch) or by [Queues.Poll] (a polling node's
// next poll acknowledges what its previous one returned).
//
// Durability: the store has no write-ahead log, so a crash loses a suffix
// of its writes, applied batches and acknowledgements alike, in the order
// they were made (Pebble flushes memtables in sequence order). An
// acknowledgement is therefore never kept while the batch that queued its
// entry is lost, and a lost batch takes its offsets with it, so the runner
// applies those records again and queues the same entries under the same
// keys: nothing is skipped, and what was delivered but whose
// acknowledgement was lost is delivered again (at least once). Rebuilding
// the store from the log ([Reset]) queues the retained log again, up to
// Limit per subscriber, since acknowledgements are not in the log.
//
// A Queues is safe for concurrent use: Apply under the [Projection]
// contract, the read methods from any goroutine, Ack and Poll serialized
// with the store's batches (they take its lock, so an acknowledgement
// never interleaves with a batch being staged and committed).
type Queues struct {
	store    *Store
	db       *pebble.DB
	cfg      QueuesConfig
	provides map[string]bool

	notifyMu sync.Mutex
	notify   chan struct{}
}

// NewQueues returns the queues projection kept in s; attach it with
// [Store.Attach], after the graph. It fails if cfg does not validate.
func NewQueues(s *Store, cfg QueuesConfig) (*Queues, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := &Queues{store: s, db: s.db, cfg: cfg, provides: map[string]bool{}, notify: make(chan struct{})}
	for _, t := range cfg.ProvidesEvent {
		q.provides[t] = true
	}
	return q, nil
}

// Name returns "queues".
func (q *Queues) Name() string { return queuesName }

// Tables returns the queues' one tag, 'q'.
func (q *Queues) Tables() []byte { return []byte{prefixQueue[0]} }

// Notify returns a channel that is closed once a batch that queued events
// has been committed (or discarded, when the store's Apply failed): a
// reader waiting for new entries selects on it, then reads and calls
// Notify again. Safe for concurrent use.
func (q *Queues) Notify() <-chan struct{} {
	q.notifyMu.Lock()
	defer q.notifyMu.Unlock()
	return q.notify
}

// signal wakes Notify's waiters once the batch being staged is through:
// the store holds its lock from Apply to the commit, so the goroutine
// gets it only afterwards, and readers woken then see the entries.
//
// The channel is swapped there too, after the commit, not here: a reader
// that called Notify between Apply and the commit, swapped early, got the
// new channel, read nothing (the entries were not committed yet) and
// waited on a channel only the next batch would close, up to the
// delivery's poll interval late (TestNotifyBetweenApplyAndCommit).
func (q *Queues) signal() {
	go func() {
		q.store.mu.Lock()
		q.store.mu.Unlock() //nolint:staticcheck // a barrier: wait for the batch's commit
		q.notifyMu.Lock()
		ch := q.notify
		q.notify = make(chan struct{})
		q.notifyMu.Unlock()
		close(ch)
	}()
}

// queueStat is a subscriber's stat row while a batch is staged.
type queueStat struct {
	depth, dropped uint64
	added          [][]byte // positions queued by this batch
}

// queueStaging is what Apply keeps while it walks one batch: the database
// does not see what the batch staged.
type queueStaging struct {
	q      *Queues
	edges  map[string]Edge  // Self's outgoing edges, as of the record at hand
	known  map[string]*Edge // every edge staged by the batch; nil = forgotten
	clocks map[int32]uint64 // last enqueue ms per partition
	stats  map[string]*queueStat
	moved  map[int32]bool // clocks to write
}

// Apply stages the queue entries of recs into b under the rules of
// [Queues]. Records that are not valid KOI events, and edge events whose
// contents are not a valid edge profile, are skipped and reported; they
// queue nothing. Apply fails only on a failed read or write of the store.
func (q *Queues) Apply(b *pebble.Batch, recs []Record) (skipped []error, err error) {
	st := &queueStaging{
		q: q, known: map[string]*Edge{}, clocks: map[int32]uint64{},
		stats: map[string]*queueStat{}, moved: map[int32]bool{},
	}
	// Loaded for every batch rather than kept across them: a batch the
	// store fails to commit must not leave its edges behind in memory.
	if st.edges, err = q.selfEdges(); err != nil {
		return nil, err
	}
	var pos []byte
	for _, r := range recs {
		targets, err := st.route(r)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				return skipped, fmt.Errorf("queues: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			skipped = append(skipped, fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
			continue
		}
		if len(targets) == 0 {
			continue
		}
		ms, err := st.clock(r.Partition, r.Timestamp)
		if err != nil {
			return skipped, err
		}
		pos = appendPosition(pos[:0], ms, r.Partition, r.Offset)
		for _, sub := range targets {
			if err := b.Set(entryKey(sub, pos), r.Value, nil); err != nil {
				return skipped, err
			}
			s, err := st.stat(sub)
			if err != nil {
				return skipped, err
			}
			s.depth++
			s.added = append(s.added, bytes.Clone(pos))
		}
	}
	if len(st.stats) == 0 {
		return skipped, nil
	}
	if err := st.finish(b); err != nil {
		return skipped, err
	}
	q.signal()
	return skipped, nil
}

// selfEdges returns the edges whose source is Self, as committed.
func (q *Queues) selfEdges() (map[string]Edge, error) {
	rids, err := scanSuffixes(q.db, joinKey(prefixGraphFrom, q.cfg.Self, ""))
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	out := make(map[string]Edge, len(rids))
	for _, rid := range rids {
		e, ok, err := getEdge(q.db, rid)
		if err != nil {
			return nil, fmt.Errorf("queues: %w", err)
		}
		if ok {
			out[rid] = e
		}
	}
	return out, nil
}

// route returns the subscribers record r is owed to, sorted, and updates
// the edge view with r when it is about an edge. Errors wrapping
// ErrBadEvent mean r is skipped.
func (st *queueStaging) route(r Record) ([]string, error) {
	var peer, explicit string
	repeat := false
	for _, h := range r.Headers {
		switch h.Key {
		case observed.HeaderPeer:
			peer = string(h.Value)
		case observed.HeaderTargets:
			explicit = string(h.Value)
		case eventstopic.HeaderRepeat:
			repeat = string(h.Value) == "true"
		}
	}
	if explicit == "" && !mayBeGraphRecord(r.Key) && !st.q.provides[ridTypeOfKey(r.Key)] {
		// Keyed by an RID of a type we do not provide and not about a
		// node or an edge: nothing routes it, so its value, kilobytes of
		// a foreign event, is not parsed.
		return nil, nil
	}
	ev, err := eventstopic.ParseValue(r.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	typ, err := koi.RIDType(ev.RID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if !ev.EventType.Valid() {
		return nil, fmt.Errorf("%w: unknown event type %q", ErrBadEvent, ev.EventType)
	}
	self := st.q.cfg.Self
	local := peer == ""
	involvesMe := local && ev.RID == self
	var other string // the other end of a local edge of ours
	if typ == koi.TypeKoiNetEdge {
		// The reference writes the cache (and rebuilds its graph) before
		// its network stage: the edge's own event already sees it.
		e, err := st.applyEdge(ev)
		if err != nil {
			return nil, err
		}
		if e != nil && local {
			switch self {
			case e.Source:
				involvesMe, other = true, e.Target
			case e.Target:
				involvesMe, other = true, e.Source
			}
		}
	}
	if st.q.cfg.Advertisable != nil && !st.q.cfg.Advertisable(ev.RID) {
		return nil, nil
	}
	var targets []string
	if explicit != "" {
		targets = append(targets, strings.Split(explicit, ",")...)
	}
	if (st.q.provides[typ] || involvesMe) && !repeat {
		// A repeat goes to its explicit targets only: the subscribers
		// had it when it was new.
		for _, e := range st.edges {
			if (e.Status == EdgeApproved || e.Status == EdgeProposed) && e.Carries(typ) {
				targets = append(targets, e.Target)
			}
		}
	}
	if other != "" {
		targets = append(targets, other)
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	return slices.DeleteFunc(targets, func(t string) bool {
		return t == "" || t == self || t == peer || strings.IndexByte(t, 0) >= 0
	}), nil
}

// applyEdge updates the edge view with the edge event ev and returns the
// edge it is about: the new version for NEW and UPDATE, the forgotten one
// for FORGET (nil when unknown).
func (st *queueStaging) applyEdge(ev eventstopic.Value) (*Edge, error) {
	if ev.EventType == koi.EventForget {
		prev, ok := st.known[ev.RID]
		if !ok {
			e, found, err := getEdge(st.q.db, ev.RID)
			if err != nil {
				return nil, err
			}
			if found {
				prev = &e
			}
		}
		st.known[ev.RID] = nil
		delete(st.edges, ev.RID)
		return prev, nil
	}
	if len(ev.Contents) == 0 {
		return nil, fmt.Errorf("%w: %s %s without contents", ErrBadEvent, ev.EventType, ev.RID)
	}
	e, err := parseEdge(ev.RID, ev.Contents)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	// Contents alias the record, which Apply must not keep.
	e.Contents = nil
	st.known[ev.RID] = &e
	if e.Source == st.q.cfg.Self {
		st.edges[ev.RID] = e
	} else {
		delete(st.edges, ev.RID)
	}
	return &e, nil
}

// clock returns the enqueue time in ms of a record of partition p stamped
// at: at, but never before the previous queued record of p.
func (st *queueStaging) clock(p int32, at time.Time) (uint64, error) {
	last, ok := st.clocks[p]
	if !ok {
		v, found, err := getValue(st.q.db, clockKey(p))
		if err != nil {
			return 0, fmt.Errorf("queues: %w", err)
		}
		if found {
			if len(v) != 8 {
				return 0, fmt.Errorf("queues: corrupt clock of partition %d", p)
			}
			last = binary.BigEndian.Uint64(v)
		}
	}
	ms := uint64(0)
	if !at.IsZero() && at.UnixMilli() > 0 {
		ms = uint64(at.UnixMilli())
	}
	ms = max(ms, last)
	st.clocks[p] = ms
	st.moved[p] = true
	return ms, nil
}

// stat returns the stat row of sub, loading it on first use.
func (st *queueStaging) stat(sub string) (*queueStat, error) {
	if s, ok := st.stats[sub]; ok {
		return s, nil
	}
	depth, dropped, err := readStat(st.q.db, sub)
	if err != nil {
		return nil, err
	}
	s := &queueStat{depth: depth, dropped: dropped}
	st.stats[sub] = s
	return s, nil
}

// finish drops what is over the limit and stages the stat rows and clocks.
func (st *queueStaging) finish(b *pebble.Batch) error {
	limit := uint64(st.q.cfg.Limit)
	for _, sub := range slices.Sorted(maps.Keys(st.stats)) {
		s := st.stats[sub]
		if s.depth > limit {
			n, err := st.dropOldest(b, sub, s, s.depth-limit)
			if err != nil {
				return err
			}
			s.depth -= n
			s.dropped += n
		}
		if err := b.Set(statKey(sub), statValue(s.depth, s.dropped), nil); err != nil {
			return err
		}
	}
	for p := range st.moved {
		v := binary.BigEndian.AppendUint64(nil, st.clocks[p])
		if err := b.Set(clockKey(p), v, nil); err != nil {
			return err
		}
	}
	return nil
}

// dropOldest stages the deletion of the n oldest entries of sub: those
// committed and those this batch queued, merged by position. It returns
// how many it deleted.
func (st *queueStaging) dropOldest(b *pebble.Batch, sub string, s *queueStat, n uint64) (uint64, error) {
	slices.SortFunc(s.added, bytes.Compare)
	lo := entryKey(sub, nil)
	it, err := st.q.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: upperBound(lo)})
	if err != nil {
		return 0, fmt.Errorf("queues: %w", err)
	}
	defer it.Close()
	var done uint64
	valid := it.First()
	added := s.added
	for done < n && (valid || len(added) > 0) {
		var pos []byte
		if valid && (len(added) == 0 || bytes.Compare(it.Key()[len(lo):], added[0]) <= 0) {
			// Copied: Next reuses the key's memory.
			pos = bytes.Clone(it.Key()[len(lo):])
			valid = it.Next()
		} else {
			pos, added = added[0], added[1:]
		}
		if err := b.Delete(entryKey(sub, pos), nil); err != nil {
			return done, err
		}
		done++
	}
	if err := it.Error(); err != nil {
		return done, fmt.Errorf("queues: %w", err)
	}
	return done, nil
}

// ridTypeOfKey returns the RID type of an events record's key (its RID),
// "" when it has none.
func ridTypeOfKey(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	t, err := koi.RIDType(string(key))
	if err != nil {
		return ""
	}
	return t
}

// appendPosition appends the position of a record queued at ms.
func appendPosition(dst []byte, ms uint64, p int32, off int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, ms)
	dst = binary.BigEndian.AppendUint32(dst, uint32(p))
	return binary.BigEndian.AppendUint64(dst, uint64(off))
}

// entryKey returns the key of sub's entry at pos; with a nil pos, the
// prefix of all of sub's entries.
func entryKey(sub string, pos []byte) []byte {
	k := make([]byte, 0, len(prefixQueueEntry)+len(sub)+1+len(pos))
	k = append(append(append(k, prefixQueueEntry...), sub...), 0)
	return append(k, pos...)
}

func statKey(sub string) []byte { return prefixed(prefixQueueStat, sub) }
func pageKey(sub string) []byte { return prefixed(prefixQueuePage, sub) }

func clockKey(p int32) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(prefixQueueClock), uint32(p))
}

func statValue(depth, dropped uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), depth), dropped)
}

// readStat reads sub's depth and drops from r; zero when it has no row.
func readStat(r pebble.Reader, sub string) (depth, dropped uint64, err error) {
	v, found, err := getValue(r, statKey(sub))
	if err != nil || !found {
		return 0, 0, err
	}
	if len(v) != 16 {
		return 0, 0, fmt.Errorf("queues: corrupt stat row of %s", sub)
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), nil
}

// validSub reports whether sub can name a queue.
func validSub(sub string) bool { return sub != "" && strings.IndexByte(sub, 0) < 0 }

// pageSize returns the number of entries a read of limit returns at most.
func pageSize(limit int) int {
	if limit <= 0 || limit > MaxPollPage {
		return MaxPollPage
	}
	return limit
}

// Pending returns the oldest entries queued for sub, at most limit of them
// (limit <= 0 or above MaxPollPage means MaxPollPage), oldest first,
// without acknowledging them. They reflect whole committed batches.
func (q *Queues) Pending(sub string, limit int) ([]QueueEntry, error) {
	if !validSub(sub) {
		return nil, nil
	}
	return q.read(q.db, sub, pageSize(limit), nil)
}

// read returns up to n entries of sub from r, oldest first, passing over
// the positions in skip.
func (q *Queues) read(r pebble.Reader, sub string, n int, skip map[string]bool) ([]QueueEntry, error) {
	lo := entryKey(sub, nil)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: upperBound(lo)})
	if err != nil {
		return nil, fmt.Errorf("queues: read %s: %w", sub, err)
	}
	var out []QueueEntry
	for valid := it.First(); valid && len(out) < n; valid = it.Next() {
		pos := it.Key()[len(lo):]
		if len(pos) != queuePositionLen {
			it.Close()
			return nil, fmt.Errorf("queues: corrupt entry key %q", it.Key())
		}
		if skip[string(pos)] {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("queues: read %s: %w", sub, err)
		}
		out = append(out, QueueEntry{
			Key:      bytes.Clone(pos),
			Event:    bytes.Clone(v),
			Enqueued: time.UnixMilli(int64(binary.BigEndian.Uint64(pos))).UTC(),
		})
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("queues: read %s: %w", sub, err)
	}
	return out, nil
}

// Ack deletes exactly the entries of sub with the given keys (from
// [QueueEntry.Key]); keys no longer queued (acknowledged before, dropped
// over the limit) are passed over. The deletion does not wait for the disk
// (see [Queues] on why a lost acknowledgement only repeats a delivery).
func (q *Queues) Ack(sub string, keys [][]byte) error {
	if !validSub(sub) || len(keys) == 0 {
		return nil
	}
	q.store.mu.Lock()
	defer q.store.mu.Unlock()
	b := q.db.NewBatch()
	defer b.Close()
	n, err := q.stageAck(b, sub, keys)
	if err != nil || n == 0 {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("queues: ack %d entries of %s: %w", n, sub, err)
	}
	return nil
}

// stageAck stages into b the deletion of the entries of sub at keys that
// exist, and the stat row after it; it returns how many it deleted. The
// store's lock must be held, so that nothing else changes the entries or
// the row meanwhile.
func (q *Queues) stageAck(b *pebble.Batch, sub string, keys [][]byte) (int, error) {
	seen := map[string]bool{}
	n := 0
	for _, k := range keys {
		if len(k) != queuePositionLen || seen[string(k)] {
			continue
		}
		seen[string(k)] = true
		key := entryKey(sub, k)
		_, found, err := getValue(q.db, key)
		if err != nil {
			return 0, fmt.Errorf("queues: ack: %w", err)
		}
		if !found {
			continue
		}
		if err := b.Delete(key, nil); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	depth, dropped, err := readStat(q.db, sub)
	if err != nil {
		return 0, err
	}
	depth -= min(depth, uint64(n))
	if err := b.Set(statKey(sub), statValue(depth, dropped), nil); err != nil {
		return 0, err
	}
	return n, nil
}

// Poll serves a polling node: it first acknowledges the entries sub's
// previous Poll returned, then returns the next page, at most limit
// entries (limit <= 0, "all" in KOI-net, or above MaxPollPage means
// MaxPollPage), oldest first, and records it for the next Poll to
// acknowledge. So what a poll returned stays queued until the node polls
// again: a node that never got the answer, and never polls again, loses
// nothing, and an answer the server could not deliver is handed back with
// [Queues.Release], after which the next poll returns the same page. KOI-net
// polls carry no acknowledgement, so an answer the server delivered but the
// poller lost anyway (it timed out after the server wrote it) is taken as
// received by its next poll. Acknowledgement and record are one write.
func (q *Queues) Poll(sub string, limit int) ([]QueueEntry, error) {
	if !validSub(sub) {
		return nil, nil
	}
	q.store.mu.Lock()
	defer q.store.mu.Unlock()
	prev, _, err := getValue(q.db, pageKey(sub))
	if err != nil {
		return nil, fmt.Errorf("queues: poll %s: %w", sub, err)
	}
	if len(prev)%queuePositionLen != 0 {
		return nil, fmt.Errorf("queues: corrupt poll page of %s", sub)
	}
	b := q.db.NewBatch()
	defer b.Close()
	var acked [][]byte
	skip := map[string]bool{}
	for i := 0; i < len(prev); i += queuePositionLen {
		k := prev[i : i+queuePositionLen]
		acked = append(acked, k)
		skip[string(k)] = true
	}
	if _, err := q.stageAck(b, sub, acked); err != nil {
		return nil, err
	}
	page, err := q.read(q.db, sub, pageSize(limit), skip)
	if err != nil {
		return nil, err
	}
	if len(page) > 0 {
		rec := make([]byte, 0, len(page)*queuePositionLen)
		for _, e := range page {
			rec = append(rec, e.Key...)
		}
		err = b.Set(pageKey(sub), rec, nil)
	} else if len(prev) > 0 {
		err = b.Delete(pageKey(sub), nil)
	}
	if err != nil {
		return nil, err
	}
	if !b.Empty() {
		if err := b.Commit(pebble.NoSync); err != nil {
			return nil, fmt.Errorf("queues: poll %s: %w", sub, err)
		}
	}
	return page, nil
}

// Release hands back a page that [Queues.Poll] returned but that could not
// be delivered (the poller went away before the answer was written): if
// the page recorded for sub is exactly keys, in order, it is forgotten, so
// the next Poll acknowledges nothing and returns those entries again. Any
// other keys (a later Poll recorded another page) change nothing.
func (q *Queues) Release(sub string, keys [][]byte) error {
	if !validSub(sub) || len(keys) == 0 {
		return nil
	}
	q.store.mu.Lock()
	defer q.store.mu.Unlock()
	prev, found, err := getValue(q.db, pageKey(sub))
	if err != nil || !found {
		return err
	}
	if !bytes.Equal(prev, bytes.Join(keys, nil)) {
		return nil
	}
	if err := q.db.Delete(pageKey(sub), pebble.NoSync); err != nil {
		return fmt.Errorf("queues: release the page of %s: %w", sub, err)
	}
	return nil
}

// Depth returns how many events are queued for sub.
func (q *Queues) Depth(sub string) (int, error) {
	if !validSub(sub) {
		return 0, nil
	}
	d, _, err := readStat(q.db, sub)
	return int(d), err
}

// Dropped returns how many events sub's queue dropped over the limit, in
// its whole life.
func (q *Queues) Dropped(sub string) (int, error) {
	if !validSub(sub) {
		return 0, nil
	}
	_, d, err := readStat(q.db, sub)
	return int(d), err
}

// OldestAge returns how long the oldest event queued for sub has been
// waiting, by the configured clock; zero when none is.
func (q *Queues) OldestAge(sub string) (time.Duration, error) {
	if !validSub(sub) {
		return 0, nil
	}
	lo := entryKey(sub, nil)
	it, err := q.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: upperBound(lo)})
	if err != nil {
		return 0, fmt.Errorf("queues: %w", err)
	}
	defer it.Close()
	if !it.First() {
		return 0, it.Error()
	}
	pos := it.Key()[len(lo):]
	if len(pos) != queuePositionLen {
		return 0, fmt.Errorf("queues: corrupt entry key %q", it.Key())
	}
	at := time.UnixMilli(int64(binary.BigEndian.Uint64(pos)))
	return max(q.cfg.Now().Sub(at), 0), nil
}

// Subscribers returns every node an event was ever queued for, sorted,
// whether or not its queue holds any now.
func (q *Queues) Subscribers() ([]string, error) {
	subs, err := scanSuffixes(q.db, prefixQueueStat)
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	return subs, nil
}
