package koinet

import (
	"context"
	"time"

	"github.com/koistream/koistream/topics/koi"
)

// Backoff of the handshake with a first contact that is down.
const (
	handshakeBackoffMin = 500 * time.Millisecond
	handshakeBackoffMax = 30 * time.Second
)

// needsHandshake reports whether we introduce ourselves to the first
// contact (PROTOCOL.md 7.4): there is one, and we do not both hold its
// profile and an edge from it to us carrying node events (which would mean
// it already knows us and tells us about the network). For a 1.0 first
// contact, known only by its URL, any edge to us carrying node events
// counts.
func (n *Network) needsHandshake() bool {
	fc := n.cfg.KOI.FirstContactRID
	if n.cfg.KOI.FirstContactURL == "" {
		return false
	}
	if fc != "" {
		if _, ok, err := n.cfg.Graph.Node(fc); err != nil || !ok {
			return true
		}
	}
	edges, err := n.cfg.Graph.EdgesTo(n.cfg.Self.RID)
	if err != nil {
		return true
	}
	for _, e := range edges {
		if (fc == "" || e.Source == fc) && e.Carries(koi.TypeKoiNetNode) {
			return false
		}
	}
	return true
}

// handshakeLoop introduces us to the first contact once, retrying with
// backoff while it is down or refuses, until it answers 2xx or ctx ends.
// It never holds up the node's start.
func (n *Network) handshakeLoop(ctx context.Context) {
	if !n.needsHandshake() {
		return
	}
	p := n.firstContact()
	wait := handshakeBackoffMin
	for {
		err := n.client.Handshake(ctx, p)
		if err == nil {
			n.log.Info("koi-net: introduced ourselves to the first contact", "rid", p.RID, "url", p.URL, "v1", p.V1)
			return
		}
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("koi-net: handshake with the first contact failed; retrying", "url", p.URL, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, handshakeBackoffMax)
	}
}
