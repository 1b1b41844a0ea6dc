package pipeline

import (
	"errors"
	"fmt"
	"strings"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/stages/github"
)

// openProjections opens the projection store and attaches every projection
// the node keeps: the cache (served by the KOI-net fetch endpoints), the
// graph (the KOI-net nodes and edges we know) and the outbound queues (what
// each subscriber is owed). A new projection is one more
// entry here.
//
// A store built by another set of projections (one written before the graph
// existed, say) is rebuilt: deleted and replayed from the events topic by
// the runner, which is what `koistream rebuild` does by hand. A projection
// added to a store that already consumed part of the log would miss that
// part; refusing to start instead made every upgrade a manual step.
func (n *Node) openProjections() error {
	dir := ProjectionsDir(n.cfg.DataDir)
	for attempt := 0; ; attempt++ {
		store, err := projections.OpenStore(dir, n.log)
		if err != nil {
			return err
		}
		cache, err := projections.NewCache(store)
		if err != nil {
			store.Close()
			return err
		}
		graph := projections.NewGraph(store)
		queues, err := projections.NewQueues(store, projections.QueuesConfig{Self: n.id.RID, ProvidesEvent: GitHubTypes, Limit: n.cfg.KOI.QueueLimit, Advertisable: advertisable})
		if err != nil {
			store.Close()
			return err
		}
		err = store.Attach(cache, graph, queues)
		if errors.Is(err, projections.ErrStoreMismatch) && attempt == 0 {
			n.log.Warn("the projection store was built by another set of projections; rebuilding it from the log", "dir", dir, "err", err)
			if cerr := store.Close(); cerr != nil {
				return fmt.Errorf("close the projection store to rebuild it: %w", cerr)
			}
			if rerr := projections.Reset(dir); rerr != nil {
				return fmt.Errorf("rebuild the projection store: %w", rerr)
			}
			continue
		}
		if err != nil {
			store.Close()
			return err
		}
		n.store, n.cache, n.graph = store, cache, graph
		return nil
	}
}

// Graph returns the graph projection: the KOI-net nodes and edges the node
// knows.
func (n *Node) Graph() *projections.Graph { return n.graph }

// Queues returns the outbound queues projection: per subscriber, the events
// it is owed. Found among the store's projections, so the Node needs no
// field of its own for it.
func (n *Node) Queues() *projections.Queues {
	for _, p := range n.store.Projections() {
		if q, ok := p.(*projections.Queues); ok {
			return q
		}
	}
	return nil
}

// advertisable reports whether an event about rid may leave the node: any
// RID but a GitHub one that is not canonical (KOI-2.1.md 1e), as the
// KOI-net API serves them.
func advertisable(rid string) bool {
	return !strings.HasPrefix(rid, "orn:github.") || github.IsCanonicalRID(rid)
}
