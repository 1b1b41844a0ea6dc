package stages

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/topics"
)

// StateStore keeps the state of one segment's stages: the local Pebble
// materialisation of one changelog topic per stage placement (a space),
// partitioned like the segment's input. It implements the transactional
// half of [State]: writes wait in a per-partition overlay until the
// segment's transaction commits (Commit writes them to Pebble) or aborts
// (Abort drops them); the segment writes Changes to the changelog topics in
// that transaction.
//
// Pebble keys: 's' space 0x00 partition(4, big endian) key for state, and
// 'c' space 0x00 partition for the changelog offset the partition's state
// is materialised up to (its checkpoint). Pebble writes are not fsynced:
// the changelog is the durable copy, and a checkpoint lost in a crash only
// makes the next restore read a little more of it.
//
// Committed values are also kept in a bounded memo per partition, because
// the lookups are on every record's path: a Pebble Get walks memtable
// skiplists and table indexes (several microseconds each, measured), a map
// lookup does not.
//
// Safe for concurrent use; each partition's writes must come from one
// goroutine at a time, as the segment runner processes partitions.
type StateStore struct {
	db *pebble.DB

	mu     sync.Mutex
	spaces map[string]bool
	parts  map[int32]*partState
}

// stateMemo is how many committed entries a StateStore holds in memory per
// partition (about 150 bytes each): with the default 8 partitions and two
// stateful segments, about 130k entries, a little more than the 98k dedupe's
// and ridify's memos held together before state was partitioned. At 16k per
// partition the bench's peak RSS was 1.18 times the build before (774 MB
// against 655, medians of 3 at 100k deliveries).
const stateMemo = 1 << 13

// partState is one input partition's uncommitted writes and memo.
type partState struct {
	mu      sync.Mutex
	pending map[string]pendingWrite // by Pebble key
	memo    *memo[[]byte]
	// undo holds, while a savepoint is open, what each Set replaced, so
	// that a failed attempt at one message can be taken back.
	undo  []undoEntry
	saved bool
}

type undoEntry struct {
	key  string
	prev pendingWrite
	had  bool
}

type pendingWrite struct {
	space string
	key   []byte // the stage's key, without the Pebble prefix
	value []byte
}

// Change is one uncommitted state write: the changelog record it becomes.
type Change struct {
	// Space names the changelog topic.
	Space string
	// Key and Value are the record's key and value.
	Key, Value []byte
}

// NewStateStore returns a store over db, which it does not own: the caller
// closes db after the store's last use.
func NewStateStore(db *pebble.DB) *StateStore {
	return &StateStore{db: db, spaces: map[string]bool{}, parts: map[int32]*partState{}}
}

// Space returns the [State] whose changelog topic is named space. Spaces
// must be distinct per stage placement.
func (s *StateStore) Space(space string) State {
	s.mu.Lock()
	s.spaces[space] = true
	s.mu.Unlock()
	return &spaceState{store: s, space: space}
}

// Spaces returns the names of the spaces handed out by Space.
func (s *StateStore) Spaces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.spaces))
	for sp := range s.spaces {
		out = append(out, sp)
	}
	return out
}

func (s *StateStore) part(p int32) *partState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.parts[p]
	if !ok {
		ps = &partState{pending: map[string]pendingWrite{}, memo: newMemo[[]byte](stateMemo)}
		s.parts[p] = ps
	}
	return ps
}

// Changes returns partition p's uncommitted writes, the last value of each
// key once.
func (s *StateStore) Changes(p int32) []Change {
	ps := s.part(p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]Change, 0, len(ps.pending))
	for _, w := range ps.pending {
		out = append(out, Change{Space: w.space, Key: w.key, Value: w.value})
	}
	return out
}

// Commit writes partition p's uncommitted writes to Pebble, with the
// checkpoint of each space given (the changelog offset after the records
// that carried them), in one batch. Call it once the transaction that wrote
// them to the changelog has committed.
func (s *StateStore) Commit(p int32, checkpoints map[string]int64) error {
	ps := s.part(p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.pending) == 0 && len(checkpoints) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	for k, w := range ps.pending {
		if err := b.Set([]byte(k), w.value, nil); err != nil {
			return fmt.Errorf("stage state: commit: %w", err)
		}
	}
	for space, off := range checkpoints {
		if err := b.Set(checkpointKey(space, p), binary.BigEndian.AppendUint64(nil, uint64(off)), nil); err != nil {
			return fmt.Errorf("stage state: commit: %w", err)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("stage state: commit partition %d: %w", p, err)
	}
	for k, w := range ps.pending {
		ps.memo.put([]byte(k), w.value)
	}
	clear(ps.pending)
	return nil
}

// Abort drops the uncommitted writes of every partition.
func (s *StateStore) Abort() {
	s.mu.Lock()
	parts := make([]*partState, 0, len(s.parts))
	for _, ps := range s.parts {
		parts = append(parts, ps)
	}
	s.mu.Unlock()
	for _, ps := range parts {
		ps.mu.Lock()
		clear(ps.pending)
		ps.mu.Unlock()
	}
}

// Forget drops what the store holds in memory for partitions: their new
// owner may change their state, so the next Get must not trust the memo.
// The Pebble copy stays as the checkpoint a later restore continues from.
func (s *StateStore) Forget(partitions []int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range partitions {
		delete(s.parts, p)
	}
}

// Checkpoint returns the changelog offset up to which partition p of space
// is materialised in Pebble: where a restore continues reading. 0 when the
// partition was never materialised here.
func (s *StateStore) Checkpoint(space string, p int32) (int64, error) {
	v, closer, err := s.db.Get(checkpointKey(space, p))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stage state: checkpoint of %s/%d: %w", space, p, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("stage state: checkpoint of %s/%d: %d bytes, want 8", space, p, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// Restore materialises changelog records of partition p of space in Pebble,
// in one batch with the new checkpoint next (the offset after the last
// record read). A record with a nil value deletes its key, as a compacted
// topic's tombstone. Records are applied in order, so the last value of a
// key wins.
func (s *StateStore) Restore(space string, p int32, recs []Change, next int64) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, r := range recs {
		k := stateKey(space, p, r.Key)
		var err error
		if r.Value == nil {
			err = b.Delete(k, nil)
		} else {
			err = b.Set(k, r.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("stage state: restore %s/%d: %w", space, p, err)
		}
	}
	if err := b.Set(checkpointKey(space, p), binary.BigEndian.AppendUint64(nil, uint64(next)), nil); err != nil {
		return fmt.Errorf("stage state: restore %s/%d: %w", space, p, err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("stage state: restore %s/%d: %w", space, p, err)
	}
	s.Forget([]int32{p})
	return nil
}

func stateKey(space string, p int32, key []byte) []byte {
	b := make([]byte, 0, 1+len(space)+1+4+len(key))
	b = append(b, 's')
	b = append(b, space...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(p))
	return append(b, key...)
}

func checkpointKey(space string, p int32) []byte {
	b := make([]byte, 0, 1+len(space)+1+4)
	b = append(b, 'c')
	b = append(b, space...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(p))
}

// spaceState is the State of one space.
type spaceState struct {
	store *StateStore
	space string
}

func partitionOf(ctx context.Context) (int32, error) {
	pos, ok := topics.PositionFromContext(ctx)
	if !ok {
		return 0, Permanent(errors.New("stage state: no log position for the message"))
	}
	return pos.Partition, nil
}

func (st *spaceState) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	p, err := partitionOf(ctx)
	if err != nil {
		return nil, false, err
	}
	k := stateKey(st.space, p, key)
	ps := st.store.part(p)
	ps.mu.Lock()
	if w, ok := ps.pending[string(k)]; ok {
		ps.mu.Unlock()
		return w.value, true, nil
	}
	ps.mu.Unlock()
	if v, ok := ps.memo.get(k); ok {
		return v, true, nil
	}
	v, closer, err := st.store.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("stage state: read %s: %w", st.space, err)
	}
	v = append([]byte(nil), v...)
	closer.Close()
	ps.memo.put(k, v)
	return v, true, nil
}

func (st *spaceState) Set(ctx context.Context, key, value []byte) error {
	p, err := partitionOf(ctx)
	if err != nil {
		return err
	}
	k := stateKey(st.space, p, key)
	ps := st.store.part(p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.saved {
		prev, had := ps.pending[string(k)]
		ps.undo = append(ps.undo, undoEntry{key: string(k), prev: prev, had: had})
	}
	ps.pending[string(k)] = pendingWrite{
		space: st.space,
		key:   append([]byte(nil), key...),
		// Never nil, even for an empty value: a nil value becomes a
		// tombstone in the changelog, which a restore reads as a
		// deletion, while the key is set here.
		value: append([]byte{}, value...),
	}
	return nil
}

// Drop deletes the local copy of partition p of space, state and
// checkpoint, so that the next restore reads its changelog from the start.
func (s *StateStore) Drop(space string, p int32) error {
	start := stateKey(space, p, nil)
	end := stateKey(space, p+1, nil)
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(start, end, nil); err != nil {
		return fmt.Errorf("stage state: drop %s/%d: %w", space, p, err)
	}
	if err := b.Delete(checkpointKey(space, p), nil); err != nil {
		return fmt.Errorf("stage state: drop %s/%d: %w", space, p, err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("stage state: drop %s/%d: %w", space, p, err)
	}
	s.Forget([]int32{p})
	return nil
}

// Savepoint marks partition p's uncommitted writes as they are now, so that
// Rollback can take back the writes made after it: the segment takes one
// before each message, because the retry middleware runs a failed message
// through the chain again, and each attempt must see the state as it was
// before the message, not its own earlier attempt's writes. Release ends
// the savepoint. One savepoint per partition is open at a time; the
// partition's goroutine owns it.
func (s *StateStore) Savepoint(p int32) {
	ps := s.part(p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.saved = true
	ps.undo = ps.undo[:0]
}

// Rollback takes back partition p's writes since its Savepoint and keeps
// the savepoint open.
func (s *StateStore) Rollback(p int32) {
	ps := s.part(p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for i := len(ps.undo) - 1; i >= 0; i-- {
		u := ps.undo[i]
		if u.had {
			ps.pending[u.key] = u.prev
		} else {
			delete(ps.pending, u.key)
		}
	}
	ps.undo = ps.undo[:0]
}

// Release ends partition p's savepoint, keeping its writes.
func (s *StateStore) Release(p int32) {
	ps := s.part(p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.saved = false
	clear(ps.undo)
	ps.undo = ps.undo[:0]
}
