package amqpsink

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultConfirmTimeout bounds how long Publish waits for RabbitMQ to
// confirm a batch (and to accept a connection) before it gives up, closes
// the connection and fails: a broker that stopped answering without
// closing the socket is then noticed, and the batch sent again on a new
// connection.
const DefaultConfirmTimeout = 30 * time.Second

// Header names the sink sets on every message, besides watermill-amqp's
// _watermill_message_uuid (the message id again): GHTorrent's consumers
// ignore headers, others can route or dedupe on them.
const (
	HeaderRID       = "koistream-rid"
	HeaderEventType = "koistream-event-type"
)

// Publisher publishes messages to one topic exchange with publisher
// confirms over one connection and one channel, which it opens on first
// use and again after any failure. It is watermill-amqp's configuration,
// exchange declaration and marshaling (wamqp.Config, its TopologyBuilder
// and DefaultMarshaler) over an amqp091-go channel the Publisher manages
// itself, for two reasons: watermill-amqp's Publisher waits for each
// message's confirm before publishing the next (a round trip per message,
// where a batch here costs one), and its ConnectionWrapper races on
// reconnect (ThreeDotsLabs/watermill#693), which a sink that must outlive
// broker restarts cannot have. Its methods are safe for concurrent use;
// publishes are serialized.
type Publisher struct {
	url      string
	exchange string
	timeout  time.Duration
	wcfg     wamqp.Config

	mu   sync.Mutex
	conn *amqp.Connection
	ch   *amqp.Channel
	raw  net.Conn // conn's socket
}

// NewPublisher returns a publisher to exchange, a durable topic exchange it
// declares, on the broker at url, with persistent or transient messages.
// It does not connect: Publish does.
func NewPublisher(url, exchange string, persistent bool) *Publisher {
	wcfg := wamqp.NewDurableTopicConfig(url, exchange, "")
	// The constructor leaves the exchange non-durable, which GHTorrent's
	// consumers, declaring ght-streams durable, would meet with
	// PRECONDITION_FAILED.
	wcfg.Exchange.Durable = true
	wcfg.Marshaler = wamqp.DefaultMarshaler{
		NotPersistentDeliveryMode: !persistent,
		PostprocessPublishing: func(p amqp.Publishing) amqp.Publishing {
			p.ContentType = "application/json"
			p.MessageId, _ = p.Headers[wamqp.DefaultMessageUUIDHeaderKey].(string)
			p.AppId = "koistream"
			return p
		},
	}
	return &Publisher{url: url, exchange: exchange, timeout: DefaultConfirmTimeout, wcfg: wcfg}
}

// Publish publishes msgs in order and returns once RabbitMQ has confirmed
// them all, or with an error saying why not and how many of the first
// messages were confirmed before it. A message is confirmed when the
// broker has taken responsibility for it: routed to every bound queue (and
// written to disk, for persistent messages in durable queues) or routed
// nowhere, as AMQP's topic exchanges drop what no binding matches. On any
// error the connection is closed, so the next call starts on a new one.
// ids are the messages' ids (the AMQP message-id property), one per
// message.
func (p *Publisher) Publish(ctx context.Context, msgs []Message, ids []string) (confirmed int, err error) {
	if len(msgs) != len(ids) {
		return 0, fmt.Errorf("amqpsink: %d messages with %d ids", len(msgs), len(ids))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	defer func() {
		if err != nil {
			p.resetLocked()
		}
	}()
	if err := p.connectLocked(ctx); err != nil {
		return 0, err
	}
	// A publish blocks in a socket write when the broker stops reading,
	// as RabbitMQ does while a memory or disk alarm blocks publishers, and
	// amqp091-go does not interrupt writes; closing the socket when ctx
	// ends does, and the deferred reset then drops the connection.
	raw := p.raw
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	pending := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		wm := message.NewMessage(ids[i], m.Body)
		wm.Metadata = message.Metadata{HeaderRID: m.RID, HeaderEventType: string(m.EventType)}
		pub, err := p.wcfg.Marshaler.Marshal(wm)
		if err != nil {
			return 0, fmt.Errorf("amqpsink: marshal %s: %w", ids[i], err)
		}
		pub.Timestamp = m.CreatedAt
		dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, p.exchange, m.Key, false, false, pub)
		if err != nil {
			return 0, fmt.Errorf("amqpsink: publish to %s: %w", p.exchange, err)
		}
		pending = append(pending, dc)
	}
	for i, dc := range pending {
		ack, err := dc.WaitContext(ctx)
		if err != nil {
			return i, fmt.Errorf("amqpsink: waiting for RabbitMQ to confirm %s: %w", ids[i], err)
		}
		if !ack {
			// A nack is RabbitMQ's internal error, or the channel closed
			// (the broker stopping) before the confirm came.
			return i, fmt.Errorf("amqpsink: RabbitMQ did not confirm %s (nack or channel closed)", ids[i])
		}
	}
	return len(msgs), nil
}

// connectLocked opens the connection and the confirm-mode channel and
// declares the exchange, unless they are open.
func (p *Publisher) connectLocked(ctx context.Context) error {
	if p.ch != nil && !p.ch.IsClosed() && !p.conn.IsClosed() {
		return nil
	}
	p.resetLocked()
	dialTimeout := p.timeout
	if d, ok := ctx.Deadline(); ok {
		dialTimeout = min(dialTimeout, time.Until(d))
	}
	dial := amqp.DefaultDial(dialTimeout)
	var raw net.Conn
	conn, err := amqp.DialConfig(p.url, amqp.Config{
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := dial(network, addr)
			raw = c
			return c, err
		},
		Properties: amqp.Table{"connection_name": "koistream amqp sink"},
	})
	if err != nil {
		return fmt.Errorf("amqpsink: connect: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err == nil {
		err = p.wcfg.TopologyBuilder.ExchangeDeclare(ch, p.exchange, p.wcfg)
	}
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("amqpsink: open a confirm channel and declare exchange %s: %w", p.exchange, err)
	}
	p.conn, p.ch, p.raw = conn, ch, raw
	return nil
}

// resetLocked closes the connection, if any.
func (p *Publisher) resetLocked() {
	if p.conn != nil {
		// Bounded: a broker that stopped answering never sends close-ok.
		// An error only says the connection was closed already.
		_ = p.conn.CloseDeadline(time.Now().Add(2 * time.Second))
	}
	p.conn, p.ch, p.raw = nil, nil, nil
}

// Connected reports whether the publisher holds an open connection.
func (p *Publisher) Connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn != nil && !p.conn.IsClosed()
}

// Close closes the connection; a later Publish opens a new one.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetLocked()
	return nil
}
