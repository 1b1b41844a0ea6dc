package koinet

import (
	"context"
	"fmt"

	rawkoi "github.com/koistream/koistream/topics/koinet"
)

// fetchChunk is how many RIDs one /bundles/fetch asks for during a
// catch-up: big enough to be few requests, small enough that one answer is
// a modest record.
const fetchChunk = 100

// catchUp fetches from p what it holds of types and we do not (PROTOCOL.md
// 7.2: after proposing an edge, /rids/fetch on the provider and fetch every
// unknown RID). The answers are appended to the log as fetch records with p
// as their sender, so they pass the stages like any input.
func (n *Network) catchUp(ctx context.Context, p Peer, types []string) error {
	rids, err := n.client.FetchRids(ctx, p, types)
	if err != nil {
		return fmt.Errorf("koinet: catch up with %s: %w", p.RID, err)
	}
	var missing []string
	for _, rid := range rids {
		if rid == n.cfg.Self.RID {
			continue
		}
		_, ok, err := n.cfg.Cache.Manifest(rid)
		if err != nil {
			return fmt.Errorf("koinet: catch up with %s: %w", p.RID, err)
		}
		if !ok {
			missing = append(missing, rid)
		}
	}
	return n.fetchInto(ctx, p, missing)
}

// fetchInto fetches the bundles of rids from p and appends each non-empty
// answer to the log, as received, as a fetch record with p as its sender.
func (n *Network) fetchInto(ctx context.Context, p Peer, rids []string) error {
	if p.RID == "" {
		return fmt.Errorf("koinet: %s has no RID to name as the sender of what it answers", p.URL)
	}
	for len(rids) > 0 {
		chunk := rids[:min(fetchChunk, len(rids))]
		rids = rids[len(chunk):]
		body, bundles, _, err := n.client.FetchBundles(ctx, p, chunk)
		if err != nil {
			return fmt.Errorf("koinet: fetch bundles from %s: %w", p.RID, err)
		}
		if len(bundles) == 0 {
			continue
		}
		if err := n.appendInput(p.RID, rawkoi.ViaFetch, body); err != nil {
			return fmt.Errorf("koinet: keep the bundles fetched from %s: %w", p.RID, err)
		}
	}
	return nil
}
