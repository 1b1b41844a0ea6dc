package pipeline

import (
	"errors"
	"fmt"

	"github.com/koistream/koistream/projections"
)

// openProjections opens the projection store and attaches every projection
// the node keeps: the cache (served by the KOI-net fetch endpoints) and the
// graph (the KOI-net nodes and edges we know). A new projection is one more
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
		err = store.Attach(cache, graph)
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
