package koinet

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
	rawkoi "github.com/koistream/koistream/topics/koinet"
)

// negativeTTL is how long a node that could not be resolved is not asked
// about again: a peer retrying a refused request gets its unknown_node at
// once instead of waiting for the same failing fetches.
const negativeTTL = 10 * time.Second

// resolver finds the public keys of senders we do not know (KOI-2.1.md
// 1a): our cache, else /bundles/fetch of the sender's RID from a provider
// of node state (the first contact, then the graph's providers), the key
// checked against the RID's hash. What it fetches is appended to the log,
// so the node is cached from then on; verified keys are also remembered
// here.
type resolver struct {
	n *Network

	mu       sync.Mutex
	known    map[string]string      // verified keys by node RID (see cached)
	negative map[string]time.Time   // unresolvable until then
	pending  map[string]*resolution // resolutions under way
}

// resolution is one resolution under way; callers for the same RID wait
// for it.
type resolution struct {
	done chan struct{}
	pub  string
	ok   bool
}

func newResolver(n *Network) *resolver {
	return &resolver{n: n, known: map[string]string{}, negative: map[string]time.Time{}, pending: map[string]*resolution{}}
}

// maxKnown bounds the memo of verified keys; past it the memo starts
// over (the cache still answers).
const maxKnown = 100_000

// cached returns the public key of rid from the memo of keys verified
// before, else from the cache, without asking anyone. A key is returned
// only when it hashes to the RID. Since a 1.1+ node RID is the hash of its
// key, a verified key stays right for the RID forever: the memo spares the
// inbound path a cache read and a key parse per request, and a node we
// forgot is still recognised until restart, which trusts nothing its RID
// does not already prove.
func (r *resolver) cached(rid string) (string, bool) {
	r.mu.Lock()
	pub, ok := r.known[rid]
	r.mu.Unlock()
	if ok {
		return pub, true
	}
	if t, err := koi.RIDType(rid); err != nil || t != koi.TypeKoiNetNode {
		return "", false
	}
	b, ok, err := r.n.cfg.Cache.Bundle(rid)
	if err != nil {
		r.n.log.Error("koi-net key lookup failed", "rid", rid, "err", err)
	}
	if !ok {
		return "", false
	}
	pub, ok = profileKey(b)
	if !ok || koi.CheckNodeKey(rid, pub) != nil {
		return "", false
	}
	r.remember(rid, pub)
	return pub, true
}

// remember adds a verified key to the memo.
func (r *resolver) remember(rid, pub string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.known) >= maxKnown {
		clear(r.known)
	}
	r.known[rid] = pub
}

// profileKey returns the public_key of a node profile bundle's contents.
func profileKey(bundle []byte) (string, bool) {
	var b struct {
		Contents struct {
			PublicKey string `json:"public_key"`
		} `json:"contents"`
	}
	if json.Unmarshal(bundle, &b) != nil || b.Contents.PublicKey == "" {
		return "", false
	}
	return b.Contents.PublicKey, true
}

// resolve returns rid's key as Network.Resolve says.
func (r *resolver) resolve(ctx context.Context, rid string) (string, bool) {
	if rid == r.n.cfg.Self.RID {
		return r.n.cfg.Self.PublicKey, r.n.cfg.Self.PublicKey != ""
	}
	if pub, ok := r.cached(rid); ok {
		return pub, true
	}
	nr, err := koi.ParseNodeRID(rid)
	if err != nil || nr.Legacy() {
		return "", false // no key can match a 1.0 RID
	}
	r.mu.Lock()
	if until, ok := r.negative[rid]; ok {
		if r.n.cfg.Now().Before(until) {
			r.mu.Unlock()
			return "", false
		}
		delete(r.negative, rid)
	}
	res, waiting := r.pending[rid]
	if !waiting {
		if len(r.pending) >= maxPendingResolutions {
			// Anyone can name an unknown RID (the sender is looked up
			// before its signature is checked): a bounded number of
			// lookups run at once, the rest are unknown_node.
			r.mu.Unlock()
			return "", false
		}
		res = &resolution{done: make(chan struct{})}
		r.pending[rid] = res
	}
	r.mu.Unlock()
	if !waiting {
		// The fetch is not bound to the caller's context, so that a peer
		// that gives up does not spoil the answer for the next one; it is
		// bound by ResolveTimeout.
		go r.fetch(rid, res)
	}
	select {
	case <-res.done:
		return res.pub, res.ok
	case <-ctx.Done():
		return "", false
	}
}

// Bounds of the resolver, against peers (or anyone) naming RIDs at random.
const (
	// maxPendingResolutions bounds the lookups running at once.
	maxPendingResolutions = 8
	// maxNegative bounds the failures remembered.
	maxNegative = 10_000
)

// fetch resolves rid from the providers of node state and publishes the
// outcome to res.
func (r *resolver) fetch(rid string, res *resolution) {
	ctx, cancel := context.WithTimeout(context.Background(), r.n.cfg.ResolveTimeout)
	defer cancel()
	for _, p := range r.providers(rid) {
		pub, ok := r.fetchFrom(ctx, p, rid)
		if ok {
			res.pub, res.ok = pub, true
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	if res.ok {
		r.remember(rid, res.pub)
	}
	r.mu.Lock()
	if !res.ok {
		if len(r.negative) >= maxNegative {
			// Bounded like the lookups: forgetting every failure at
			// once only costs repeated lookups.
			clear(r.negative)
		}
		r.negative[rid] = r.n.cfg.Now().Add(negativeTTL)
	}
	delete(r.pending, rid)
	r.mu.Unlock()
	close(res.done)
}

// fetchFrom asks p for rid's bundle; a bundle whose key hashes to the RID
// is appended to the log with p as its sender.
func (r *resolver) fetchFrom(ctx context.Context, p Peer, rid string) (string, bool) {
	body, bundles, _, err := r.n.client.FetchBundles(ctx, p, []string{rid})
	if err != nil {
		r.n.log.Info("koi-net: resolving a sender failed at a provider", "rid", rid, "provider", p.URL, "err", err)
		return "", false
	}
	for _, b := range bundles {
		var w struct {
			Manifest struct {
				RID string `json:"rid"`
			} `json:"manifest"`
		}
		if json.Unmarshal(b, &w) != nil || w.Manifest.RID != rid {
			continue
		}
		pub, ok := profileKey(b)
		if !ok {
			continue
		}
		if err := koi.CheckNodeKey(rid, pub); err != nil {
			r.n.log.Warn("koi-net: a provider served a node profile whose key does not match its RID", "rid", rid, "provider", p.RID, "err", err)
			continue
		}
		if p.RID != "" {
			if err := r.n.appendInput(p.RID, rawkoi.ViaFetch, body); err != nil {
				r.n.log.Error("koi-net: keep a resolved node profile", "rid", rid, "err", err)
			}
		}
		return pub, true
	}
	return "", false
}

// providers returns the nodes to ask about rid: the first contact, then
// every FULL node of the graph providing node state, without us and rid.
func (r *resolver) providers(rid string) []Peer {
	var out []Peer
	if r.n.cfg.KOI.FirstContactURL != "" {
		out = append(out, r.n.firstContact())
	}
	nodes, err := r.n.cfg.Graph.NodesProviding(koi.TypeKoiNetNode, projections.ProvidesState)
	if err != nil {
		r.n.log.Error("koi-net: list node state providers", "err", err)
	}
	for _, node := range nodes {
		if node.RID == rid || node.RID == r.n.cfg.Self.RID || node.BaseURL == "" {
			continue
		}
		if slices.ContainsFunc(out, func(p Peer) bool { return p.RID == node.RID }) {
			continue
		}
		out = append(out, r.n.peer(node.RID, node.BaseURL))
	}
	return out
}
