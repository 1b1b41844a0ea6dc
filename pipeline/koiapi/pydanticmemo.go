package koiapi

import (
	"crypto/sha256"
	"sync"

	"github.com/koistream/koistream/topics/koi"
)

// pydanticMemoEntries bounds the memo: 10,000 bundles of a few kilobytes,
// the working set of a node answering fetches of what it announced lately.
const pydanticMemoEntries = 10_000

// pydanticMemo remembers JSON values as pydantic prints them, by the sha256
// of their bytes as stored, so that a bundle served again is not printed
// again. When full it starts over: simpler than an LRU, and a miss only
// costs one printing. Safe for concurrent use; the zero value is ready.
type pydanticMemo struct {
	mu sync.Mutex
	m  map[[32]byte][]byte
}

// print returns v as koi.AppendPydanticJSON prints it.
func (p *pydanticMemo) print(v []byte) ([]byte, error) {
	key := sha256.Sum256(v)
	p.mu.Lock()
	out, ok := p.m[key]
	p.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := koi.AppendPydanticJSON(nil, v)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.m == nil || len(p.m) >= pydanticMemoEntries {
		p.m = make(map[[32]byte][]byte, 1024)
	}
	p.m[key] = out
	p.mu.Unlock()
	return out, nil
}
