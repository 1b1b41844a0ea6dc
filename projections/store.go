package projections

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The store's own key tables. Every key of a store starts with a one-byte
// table tag and a zero byte; projections own the other tags (Tables).
var (
	// prefixOffset: o\0<topic>\0<partition u32> → next offset u64. The
	// layout is the one the cache used when it had the database to itself,
	// so an existing cache folder keeps its offsets.
	prefixOffset = []byte("o\x00")
	// prefixProjection: p\0<name> → empty, one per projection the store
	// holds (see Attach).
	prefixProjection = []byte("p\x00")
)

// storeTables are the tags the store keeps for itself.
var storeTables = []byte{prefixOffset[0], prefixProjection[0]}

// ErrStoreMismatch is wrapped by Attach's error when the store was built by
// a different set of projections than the one attached: only a rebuild
// ([Reset], or `koistream rebuild`) brings them in step.
var ErrStoreMismatch = errors.New("projection store holds other projections")

// Store is the Pebble database the projections of a node live in, with the
// table of the offsets they have consumed. Each projection keeps its own key
// tables in it; one [Runner] feeds them all, and every poll's effect on every
// projection is committed with the offsets after it in one atomic write, so
// the projections are always at the same point of the log. One database for
// all of them means one read of the events topic and one commit per poll,
// however many projections there are, and a rebuild recreates them all at
// once.
//
// A Store is safe for concurrent use. Apply calls are serialized; readers
// see whole batches only.
type Store struct {
	db  *pebble.DB
	dir string

	mu          sync.Mutex
	projections []Projection
	next        map[string]map[int32]int64 // topic → partition → next offset, as committed
	// version counts the batches Apply committed (see Version).
	version atomic.Uint64
}

// Version returns a number that changes whenever Apply commits a batch: two
// reads of the store between which Version did not change saw the same
// state, so an answer computed from the first may serve the second (the
// KOI-net API's /rids/fetch does). Safe for concurrent use.
func (s *Store) Version() uint64 { return s.version.Load() }

// OpenStore opens (creating if needed) the projection store in dir with
// [StoreOptions]. logger receives Pebble's messages; nil means
// slog.Default(). Attach the projections before applying anything.
func OpenStore(dir string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	db, err := pebble.Open(dir, StoreOptions(logger))
	if err != nil {
		return nil, fmt.Errorf("open projection store in %s: %w", dir, err)
	}
	return &Store{db: db, dir: dir, next: map[string]map[int32]int64{}}, nil
}

// Attach makes ps the projections the store feeds, in that order; call it
// once, before Apply or a Runner. An empty store records their names. A
// store that already holds state must have been built by exactly these
// projections, or Attach returns an error wrapping [ErrStoreMismatch]: a
// projection added to it would miss the part of the log already consumed,
// and a removed one would leave stale keys behind. A store written before
// stores recorded their projections held only the cache, and is taken as
// such. Tables of different projections must not overlap.
func (s *Store) Attach(ps ...Projection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.projections != nil {
		return errors.New("projection store: projections already attached")
	}
	if len(ps) == 0 {
		return errors.New("projection store: no projections to attach")
	}
	names := make([]string, 0, len(ps))
	owner := map[byte]string{}
	for _, t := range storeTables {
		owner[t] = "the store"
	}
	for _, p := range ps {
		if slices.Contains(names, p.Name()) {
			return fmt.Errorf("projection store: two projections named %q", p.Name())
		}
		names = append(names, p.Name())
		for _, t := range p.Tables() {
			if o, ok := owner[t]; ok {
				return fmt.Errorf("projection store: projection %s writes table %q, which is %s's", p.Name(), t, o)
			}
			owner[t] = p.Name()
		}
	}
	registered, err := s.registered()
	if err != nil {
		return err
	}
	held := registered
	if len(held) == 0 {
		consumed, err := s.anyOffsets()
		if err != nil {
			return err
		}
		if consumed {
			// Offsets but no names: a cache folder from before the store
			// recorded its projections, when the cache was the only one.
			held = []string{cacheName}
		}
	}
	want := slices.Sorted(slices.Values(names))
	if len(held) > 0 && !slices.Equal(held, want) {
		return fmt.Errorf("%w: %s holds [%s], this node runs [%s]; rebuild the projections from the log (koistream rebuild)",
			ErrStoreMismatch, s.dir, strings.Join(held, " "), strings.Join(want, " "))
	}
	if len(registered) == 0 {
		// Record who builds the store. Without a write-ahead log this
		// reaches disk with the first flush, before or with the first
		// batch applied after it, so a store never holds offsets without
		// its names (the legacy case above aside).
		b := s.db.NewBatch()
		defer b.Close()
		for _, n := range want {
			if err := b.Set(prefixed(prefixProjection, n), nil, nil); err != nil {
				return fmt.Errorf("projection store: record projection %s: %w", n, err)
			}
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return fmt.Errorf("projection store: record projections: %w", err)
		}
	}
	s.projections = slices.Clone(ps)
	return nil
}

// registered returns the names the store recorded, sorted.
func (s *Store) registered() ([]string, error) {
	var out []string
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefixProjection, UpperBound: upperBound(prefixProjection)})
	if err != nil {
		return nil, fmt.Errorf("projection store: list projections: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		out = append(out, string(it.Key()[len(prefixProjection):]))
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("projection store: list projections: %w", err)
	}
	return out, nil
}

// anyOffsets reports whether the store has consumed anything.
func (s *Store) anyOffsets() (bool, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefixOffset, UpperBound: upperBound(prefixOffset)})
	if err != nil {
		return false, fmt.Errorf("projection store: offsets: %w", err)
	}
	found := it.First()
	if err := it.Close(); err != nil {
		return false, fmt.Errorf("projection store: offsets: %w", err)
	}
	return found, nil
}

// Projections returns the attached projections, in Attach's order.
func (s *Store) Projections() []Projection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.projections)
}

// Applied is what [Store.Apply] did with one batch of records.
type Applied struct {
	// Records is how many of the records were new to the store and given
	// to the projections; the others were below the stored offsets.
	Records int
	// Skipped holds, per attached projection in Attach's order, the
	// records it could not apply (see [Projection]).
	Skipped [][]error
}

// Apply gives the records of recs that the store has not applied yet to
// every attached projection, in one batch, writes the offsets after them
// into the same batch and commits it: either all of it is in the store or
// none of it. A record is new if its offset is at or after the next offset
// of its partition, as stored or as advanced by the records before it in
// recs; the others were applied before and are dropped, so applying the
// same records twice, or an older batch after a newer one, changes nothing.
// recs should be in offset order within each partition (a record behind an
// earlier one of its partition counts as applied).
//
// If a projection's Apply returns an error, nothing of the batch is written
// and the error is returned wrapped. The commit does not wait for the disk:
// it reaches disk with its memtable (see [StoreOptions]), so a crash loses a
// suffix of batches with their offsets, never one without the other.
//
// The [Runner] calls Apply once per poll; call it directly only where no
// runner runs on the store (tests, tools).
func (s *Store) Apply(recs []Record) (Applied, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.projections) == 0 {
		return Applied{}, errors.New("projection store: apply before attach")
	}
	fresh, ends, err := s.unapplied(recs)
	if err != nil {
		return Applied{}, err
	}
	res := Applied{Records: len(fresh), Skipped: make([][]error, len(s.projections))}
	if len(fresh) == 0 {
		return res, nil
	}
	b := s.db.NewBatchWithSize(batchSizeHint(fresh))
	defer b.Close()
	for i, p := range s.projections {
		skipped, err := p.Apply(b, fresh)
		if err != nil {
			return Applied{}, fmt.Errorf("projection %s: apply %d records: %w", p.Name(), len(fresh), err)
		}
		res.Skipped[i] = skipped
	}
	for _, e := range ends {
		if e.moved {
			if err := setOffset(b, e.topic, e.part, e.next); err != nil {
				return Applied{}, err
			}
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return Applied{}, fmt.Errorf("projection store: commit batch of %d records: %w", len(fresh), err)
	}
	for _, e := range ends {
		if e.moved {
			s.next[e.topic][e.part] = e.next
		}
	}
	s.version.Add(1)
	return res, nil
}

// batchSizeHint guesses the bytes a batch of recs takes: the cache writes
// an event's manifest and contents as the bundle, the manifest again, and two
// keys, a few hundred bytes more than the record. Sized up front, the batch
// does not grow by doubling and copying what it holds: a poll of 1,000
// events of 3.7 kB allocated 4.4 MB instead of 8.5 MB (BenchmarkCacheApply).
func batchSizeHint(recs []Record) int {
	n := 0
	for _, r := range recs {
		n += len(r.Value) + 512
	}
	return n
}

// partitionEnd is where one partition stands while a batch is filtered.
type partitionEnd struct {
	topic string
	part  int32
	next  int64 // the next offset to apply
	moved bool  // whether a record of the batch advanced next
}

// unapplied returns the records of recs not applied yet, and per partition
// met the next offset after them. In the common case, all records new, it
// returns recs itself: no copy per poll.
func (s *Store) unapplied(recs []Record) ([]Record, []partitionEnd, error) {
	var (
		out  []Record
		ends []partitionEnd
		cur  = -1 // index in ends of the previous record's partition
	)
	for i, r := range recs {
		// Runs of one partition are the rule (the runner hands records
		// over partition by partition), so look at the last one first.
		if cur < 0 || ends[cur].part != r.Partition || ends[cur].topic != r.Topic {
			cur = -1
			for j := range ends {
				if ends[j].part == r.Partition && ends[j].topic == r.Topic {
					cur = j
					break
				}
			}
			if cur < 0 {
				next, err := s.nextOf(r.Topic)
				if err != nil {
					return nil, nil, err
				}
				ends = append(ends, partitionEnd{topic: r.Topic, part: r.Partition, next: next[r.Partition]})
				cur = len(ends) - 1
			}
		}
		e := &ends[cur]
		old := r.Offset < e.next
		if !old {
			e.next, e.moved = r.Offset+1, true
		}
		switch {
		case old && out == nil:
			out = append(make([]Record, 0, len(recs)-1), recs[:i]...)
		case !old && out != nil:
			out = append(out, r)
		}
	}
	if out == nil {
		return recs, ends, nil
	}
	return out, ends, nil
}

// nextOf returns the committed next offsets of topic, loading them on first
// use. s.mu must be held.
func (s *Store) nextOf(topic string) (map[int32]int64, error) {
	if n, ok := s.next[topic]; ok {
		return n, nil
	}
	n, err := s.Offsets(topic)
	if err != nil {
		return nil, err
	}
	s.next[topic] = n
	return n, nil
}

// Offsets returns, for topic, the next offset to consume per partition, as
// committed with the projections' state. Partitions never applied are
// absent.
func (s *Store) Offsets(topic string) (map[int32]int64, error) {
	lo := prefixed(prefixOffset, topic+"\x00")
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: upperBound(lo)})
	if err != nil {
		return nil, fmt.Errorf("projection store: offsets: %w", err)
	}
	out := map[int32]int64{}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()[len(lo):]
		v, err := it.ValueAndErr()
		if err != nil || len(k) != 4 || len(v) != 8 {
			it.Close()
			return nil, fmt.Errorf("projection store: corrupt offset entry %q: %v", it.Key(), err)
		}
		out[int32(binary.BigEndian.Uint32(k))] = int64(binary.BigEndian.Uint64(v))
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("projection store: offsets: %w", err)
	}
	return out, nil
}

func setOffset(b *pebble.Batch, topic string, p int32, next int64) error {
	op := b.SetDeferred(len(prefixOffset)+len(topic)+1+4, 8)
	n := copy(op.Key, prefixOffset)
	n += copy(op.Key[n:], topic)
	op.Key[n] = 0
	binary.BigEndian.PutUint32(op.Key[n+1:], uint32(p))
	binary.BigEndian.PutUint64(op.Value, uint64(next))
	if err := op.Finish(); err != nil {
		return fmt.Errorf("projection store: stage offset: %w", err)
	}
	return nil
}

// Metrics returns Pebble's metrics of the store's database: compactions,
// block cache hits, level sizes. Safe for concurrent use.
func (s *Store) Metrics() *pebble.Metrics { return s.db.Metrics() }

// Close writes the memtables to disk and closes the database. Without the
// flush a clean shutdown would lose the applied batches still in memory
// (the store has no write-ahead log), and the next start would apply them
// again. Nothing may use the store or its projections afterwards.
func (s *Store) Close() error {
	if err := s.db.Flush(); err != nil {
		s.db.Close()
		return fmt.Errorf("close projection store: flush: %w", err)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close projection store: %w", err)
	}
	return nil
}

// Reset deletes the projection store in dir, so that the next [OpenStore]
// starts empty and the next [Runner] rebuilds every projection from the
// beginning of the log. A missing dir is already reset. It refuses, leaving
// dir alone, when dir holds something other than a Pebble database (a
// mistyped path must not cost a folder) or when the store is open, in this
// process or another (a running node holds its lock).
//
// Only the log makes a rebuild possible: with an external cluster, reset only
// if the events topic still holds every record (koistream creates it with
// unlimited retention).
func Reset(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reset projections in %s: %w", dir, err)
	}
	if len(entries) > 0 {
		desc, err := pebble.Peek(dir, vfs.Default)
		if err != nil {
			return fmt.Errorf("reset projections in %s: %w", dir, err)
		}
		if !desc.Exists {
			return fmt.Errorf("reset projections in %s: not a projection store (no Pebble database there); nothing deleted", dir)
		}
		lock, err := pebble.LockDirectory(dir, vfs.Default)
		if err != nil {
			return fmt.Errorf("reset projections in %s: the store is in use (stop the node first): %w", dir, err)
		}
		defer lock.Close()
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("reset projections in %s: %w", dir, err)
	}
	return nil
}

func prefixed(p []byte, s string) []byte {
	k := make([]byte, 0, len(p)+len(s))
	return append(append(k, p...), s...)
}

// upperBound returns the smallest key greater than every key with prefix p.
func upperBound(p []byte) []byte {
	ub := bytes.Clone(p)
	for i := len(ub) - 1; i >= 0; i-- {
		if ub[i] < 0xff {
			ub[i]++
			return ub[:i+1]
		}
	}
	return nil
}
