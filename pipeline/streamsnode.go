package pipeline

import (
	"context"
	"fmt"
	"net"

	"github.com/koistream/koistream/pipeline/streams"
	"github.com/koistream/koistream/replay"
)

// streamsPart is the node's stream listener and the replay hub it serves
// from.
type streamsPart struct {
	hub *replay.Hub
	srv *streams.Server
	ln  net.Listener
}

// startStreams starts the replay hub on the events topic and the stream
// listener on cfg.Streams.Listen, serving until Shutdown. Publishes go
// through the same publisher as the other intakes. Either failing to start
// stops the node from starting.
func (n *Node) startStreams(ctx context.Context) error {
	sc := n.cfg.Streams
	hub, err := replay.StartHub(ctx, replay.HubConfig{
		Brokers: n.kafka, Topic: n.names.Events,
		RingItems: sc.RingItems, RingBytes: sc.RingBytes,
		Logger: n.log.With("component", "replay"),
	})
	if err != nil {
		return fmt.Errorf("stream hub: %w", err)
	}
	n.streams.hub = hub
	n.streams.srv, err = streams.New(streams.Config{
		Hub:          hub,
		Publisher:    progressPublisher{Publisher: n.pub, p: n.ready.part("intake")},
		RawTopic:     n.names.Raw,
		TrustedCIDRs: sc.TrustedCIDRs,
		PublishToken: sc.PublishToken,
		MaxPayload:   sc.MaxPayload,
		PingInterval: sc.PingInterval,
		Logger:       n.log.With("component", "streams"),
		Meter:        n.tel.Meter("koistream/streams"),
	})
	if err != nil {
		return err
	}
	if n.streams.ln, err = net.Listen("tcp", sc.Listen); err != nil {
		return fmt.Errorf("stream listen on %s: %w", sc.Listen, err)
	}
	srv, ln := n.streams.srv, n.streams.ln
	n.background("streams", func() error { return srv.Serve(ln) })
	return nil
}

// stopStreams ends every stream, stops the listener and then the hub.
func (n *Node) stopStreams(ctx context.Context) error {
	var err error
	if n.streams.srv != nil && n.streams.ln != nil {
		if err = n.streams.srv.Shutdown(ctx); err != nil {
			err = fmt.Errorf("streams shutdown: %w", err)
		}
	} else if n.streams.ln != nil {
		n.streams.ln.Close()
	}
	if n.streams.hub != nil {
		n.streams.hub.Close()
	}
	return err
}

// PubsubAddr returns the stream listener's address (the port it bound when
// the configuration asked for port 0).
func (n *Node) PubsubAddr() string {
	if n.streams.ln == nil {
		return ""
	}
	return n.streams.ln.Addr().String()
}
