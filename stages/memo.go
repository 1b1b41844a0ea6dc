package stages

import "sync"

// memo is a bounded in-memory copy of recently written stage state, kept in
// front of Pebble. A stage writes every state change to Pebble and to its
// memo, and is the only writer of its keys in this process, so a key found
// in the memo holds the value Pebble holds; a key not found says nothing and
// is looked up in Pebble. It exists because the lookups are on every
// record's path: a Pebble Get walks memtable skiplists and table indexes
// (several microseconds each, measured), a map lookup does not.
//
// Eviction is by generation: when the current map holds half the capacity it
// becomes the previous one and the one before is dropped, so at most size
// entries are held and recently used keys survive (a hit in the previous
// generation is copied forward). Safe for concurrent use.
type memo[V any] struct {
	mu        sync.Mutex
	half      int
	cur, prev map[string]V
}

// newMemo returns a memo holding at most size entries (at least 2).
func newMemo[V any](size int) *memo[V] {
	half := max(size/2, 1)
	return &memo[V]{half: half, cur: make(map[string]V, half)}
}

// get returns the value stored for key and whether there is one.
func (m *memo[V]) get(key []byte) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.cur[string(key)]; ok {
		return v, true
	}
	v, ok := m.prev[string(key)]
	if ok {
		m.putLocked(string(key), v)
	}
	return v, ok
}

// put records that key now holds v.
func (m *memo[V]) put(key []byte, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putLocked(string(key), v)
}

func (m *memo[V]) putLocked(key string, v V) {
	if _, ok := m.cur[key]; !ok && len(m.cur) >= m.half {
		m.prev, m.cur = m.cur, make(map[string]V, m.half)
	}
	m.cur[key] = v
}
