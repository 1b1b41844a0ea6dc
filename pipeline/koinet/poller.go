package koinet

import (
	"context"
	"slices"
	"time"

	"github.com/koistream/koistream/projections"
	rawkoi "github.com/koistream/koistream/topics/koinet"
)

// maxPollRounds bounds how many pages one poll of one peer drains before
// the poller moves on to the next peer.
const maxPollRounds = 1000

// pollLoop is a PARTIAL node's poller (PROTOCOL.md 7.1): every
// PollingInterval it polls every FULL neighbour (an edge either way), or
// the first contact when it has none, and keeps polling each while it
// answers events.
func (n *Network) pollLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.KOI.PollingInterval)
	defer t.Stop()
	for {
		for _, p := range n.pollTargets() {
			n.drain(ctx, p)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollTargets returns the peers to poll: our FULL neighbours with a
// base_url, else the first contact.
func (n *Network) pollTargets() []Peer {
	var out []Peer
	self := n.cfg.Self.RID
	from, err1 := n.cfg.Graph.EdgesFrom(self)
	to, err2 := n.cfg.Graph.EdgesTo(self)
	if err1 != nil || err2 != nil {
		n.log.Error("koi-net: list neighbours to poll", "err", firstErr(err1, err2))
	}
	var rids []string
	for _, e := range from {
		rids = append(rids, e.Target)
	}
	for _, e := range to {
		rids = append(rids, e.Source)
	}
	slices.Sort(rids)
	for _, rid := range slices.Compact(rids) {
		node, ok, err := n.cfg.Graph.Node(rid)
		if err != nil || !ok || node.NodeType != projections.NodeFull || node.BaseURL == "" || rid == self {
			continue
		}
		out = append(out, n.peer(rid, node.BaseURL))
	}
	if len(out) == 0 && n.cfg.KOI.FirstContactURL != "" {
		out = append(out, n.firstContact())
	}
	return out
}

// drain polls p until it answers no events. Each non-empty answer is
// appended to the log as one record, as received, before p is polled
// again: p drops what it answered only when we poll next, so an answer
// lost with a crash before it was kept is answered again. An answer that
// could not be kept is held and kept first at the next round, before any
// poll acknowledges it.
func (n *Network) drain(ctx context.Context, p Peer) {
	key := p.RID + " " + p.URL
	n.mu.Lock()
	held := n.unkept[key]
	n.mu.Unlock()
	if held != nil {
		if err := n.appendInput(p.RID, rawkoi.ViaPoll, held); err != nil {
			n.log.Error("koi-net: keep a poll answer", "peer", p.RID, "err", err)
			return
		}
		n.mu.Lock()
		delete(n.unkept, key)
		n.mu.Unlock()
	}
	for range maxPollRounds {
		body, events, err := n.client.Poll(ctx, p, 0)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("koi-net: poll failed", "peer", p.RID, "url", p.URL, "err", err)
			}
			return
		}
		if len(events) == 0 {
			return
		}
		if err := n.appendInput(p.RID, rawkoi.ViaPoll, body); err != nil {
			n.log.Error("koi-net: keep a poll answer", "peer", p.RID, "err", err)
			n.mu.Lock()
			n.unkept[key] = body
			n.mu.Unlock()
			return
		}
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
