package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/pipeline/koinet"
	"github.com/koistream/koistream/projections"
)

// startNetwork assembles the node's part in its KOI-net network once the
// HTTP listener's address (hence our profile) is known: the control plane
// (pipeline/koinet.Network: handshake, resolution of unknown senders,
// follow-ups, edge negotiation, catch-up, PARTIAL polling), the delivery of
// the outbound queues to webhook subscribers, and GET /peers. The control
// plane's hooks go into the KOI-net API (cfg). Everything it learns enters
// the log as koi-net raw records, so it reaches the graph, the cache and the
// queues through the stages like any input.
func (n *Node) startNetwork(runCtx context.Context, mux *http.ServeMux, self *koiapi.Self, api *koiapi.Config) error {
	queues := n.Queues()
	nw, err := koinet.New(koinet.Config{
		Self: koinet.Self{
			RID: self.RID, Key: self.Key, PublicKey: self.PublicKey,
			Manifest: self.Manifest, Bundle: self.Bundle,
		},
		Cache:     n.cache,
		Graph:     n.graph,
		Publisher: progressPublisher{Publisher: n.pub, p: n.ready.part("koi-net")},
		RawTopic:  n.names.Raw,
		KOI: koinet.KOIConfig{
			NodeType:           n.cfg.KOI.NodeType,
			FirstContactRID:    n.cfg.KOI.FirstContactRID,
			FirstContactURL:    n.cfg.KOI.FirstContactURL,
			RidTypesOfInterest: n.cfg.KOI.RidTypesOfInterest,
			AllRidTypes:        n.cfg.KOI.AllRidTypes,
			Protocol:           n.cfg.KOI.Protocol,
			PollingInterval:    n.cfg.KOI.PollingInterval,
		},
		Logger: n.log.With("component", "koi-net"),
		Queues: func() []koinet.QueueStat { return queueStats(queues) },
	})
	if err != nil {
		return fmt.Errorf("koi-net: %w", err)
	}
	api.Resolve = nw.Resolve
	api.OnBroadcast = nw.OnBroadcast
	deliverer, err := koinet.NewDeliverer(koinet.DelivererConfig{
		Queues:    queues,
		Broadcast: nw.Broadcast,
		Push:      nw.Push,
		Meter:     n.tel.Meter("koistream/koi-net"),
		Logger:    n.log.With("component", "koi-net delivery"),
	})
	if err != nil {
		return fmt.Errorf("koi-net delivery: %w", err)
	}
	mux.Handle("GET "+koinet.PeersPath, nw.PeersHandler())
	n.network = nw
	// Our profile is in the log before the node says it serves, so what
	// the node appends of its own accord happens at start, not at some
	// moment after (a client counting the raw topic's records saw it
	// arrive mid-request). Not fatal: the profile is served from memory
	// meanwhile, and the network announces it again when the cache lacks it.
	startCtx, cancel := context.WithTimeout(runCtx, profilePublishTimeout)
	if err := nw.Start(startCtx); err != nil {
		n.log.Error("koi-net: publish our profile", "err", err)
	}
	cancel()
	n.background("koi-net", func() error { return nw.Run(runCtx) })
	n.background("koi-net delivery", func() error { return deliverer.Run(runCtx) })
	return nil
}

// profilePublishTimeout bounds the publication of our profile at start.
const profilePublishTimeout = 5 * time.Second

// queueStats lists every outbound queue's depth and age for the peers
// listing; a queue whose numbers cannot be read is listed without them.
func queueStats(q *projections.Queues) []koinet.QueueStat {
	subs, err := q.Subscribers()
	if err != nil {
		return nil
	}
	out := make([]koinet.QueueStat, 0, len(subs))
	for _, sub := range subs {
		st := koinet.QueueStat{Subscriber: sub}
		if d, err := q.Depth(sub); err == nil {
			st.Depth = int64(d)
		}
		if age, err := q.OldestAge(sub); err == nil {
			st.OldestAgeSeconds = age.Seconds()
		}
		out = append(out, st)
	}
	return out
}
