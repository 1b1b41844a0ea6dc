package koinet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/koistream/koistream/projections"
)

// Defaults of [DelivererConfig].
const (
	// DefaultMaxBatch is the most events one /events/broadcast carries:
	// the reference flushes its buffer when it holds more than max_buf_len
	// (5) events (PROTOCOL.md 7.1).
	DefaultMaxBatch = 6
	// DefaultMaxWait is how long a batch short of MaxBatch waits for more
	// events after its first was seen: the reference's max_wait_time.
	DefaultMaxWait = time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait before a
	// failed batch is sent again; it doubles per failure and starts over
	// after a success.
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// DefaultDiscoverInterval is how often the queues are listed for new
	// subscribers, and how often an idle subscriber looks at its queue
	// even without a notification.
	DefaultDiscoverInterval = 200 * time.Millisecond
)

// DelivererConfig configures a [Deliverer].
type DelivererConfig struct {
	// Queues are the outbound queues to deliver. Required.
	Queues *projections.Queues
	// Broadcast sends events (KOI event JSON, as queued) to subscriber sub
	// as one /events/broadcast request, signed and addressed to it, and
	// returns nil once sub accepted them (HTTP 200). Any error leaves the
	// events queued; the same batch is sent again. It is called by one
	// goroutine per subscriber, concurrently for different subscribers.
	// Required.
	Broadcast func(ctx context.Context, sub string, events [][]byte) error
	// Push reports whether subscriber sub is served by webhook (a FULL node
	// with a base_url on a WEBHOOK edge); the others are left to poll
	// /events/poll. It is asked again before every batch, so a subscriber
	// can move between the two. Required.
	Push func(sub string) bool
	// Meter receives the queues' depth, age of the oldest event and drops
	// per subscriber, and the deliveries and failures. Required; use
	// OpenTelemetry's no-op meter to turn them off.
	Meter metric.Meter
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// MaxBatch defaults to DefaultMaxBatch, MaxWait to DefaultMaxWait,
	// MinBackoff and MaxBackoff to DefaultMinBackoff and
	// DefaultMaxBackoff, DiscoverInterval to DefaultDiscoverInterval.
	MaxBatch               int
	MaxWait                time.Duration
	MinBackoff, MaxBackoff time.Duration
	DiscoverInterval       time.Duration
}

func (c *DelivererConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.DiscoverInterval == 0 {
		c.DiscoverInterval = DefaultDiscoverInterval
	}
}

// Validate reports whether the configuration is complete and sane.
func (c DelivererConfig) Validate() error {
	switch {
	case c.Queues == nil || c.Broadcast == nil || c.Push == nil || c.Meter == nil:
		return errors.New("deliverer: queues, broadcast, push and meter are required")
	case c.MaxBatch < 1 || c.MaxBatch > projections.MaxPollPage:
		return fmt.Errorf("deliverer: max batch %d is not between 1 and %d", c.MaxBatch, projections.MaxPollPage)
	case c.MaxWait < 0 || c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff || c.DiscoverInterval <= 0:
		return errors.New("deliverer: max wait, backoffs and discover interval must be positive, max backoff at least min backoff")
	}
	return nil
}

// Deliverer pushes the outbound queues of webhook subscribers to them: per
// subscriber one goroutine takes the oldest queued events, up to MaxBatch
// of them or what arrived within MaxWait of the first, sends them with
// Broadcast, and acknowledges them in the queue only once Broadcast
// returned nil. A failed batch is sent again, the same events in the same
// order, after a backoff that doubles up to MaxBackoff, for as long as it
// takes: a peer down for any length of time gets everything its queue
// still holds (the queue's limit bounds it), in order, when it is back.
// Delivery is at least once: a batch whose acknowledgement is lost (a
// crash right after the peer's 200) is sent again, and KOI-net receivers
// take repeats (KOI-2.1.md 1f).
//
// Subscribers are found by listing the queues every DiscoverInterval;
// subscribers for which Push is false are left alone, for /events/poll. A
// subscriber's goroutine sleeps on the queues' notification (and the
// interval) while its queue is empty.
//
// Its methods are safe for concurrent use; Run is called once.
type Deliverer struct {
	cfg DelivererConfig

	delivered, failed metric.Int64Counter
	reg               metric.Registration

	mu      sync.Mutex
	running map[string]bool
}

// NewDeliverer returns a deliverer as cfg says and registers its metrics;
// Run starts it.
func NewDeliverer(cfg DelivererConfig) (*Deliverer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Deliverer{cfg: cfg, running: map[string]bool{}}
	var err error
	if d.delivered, err = cfg.Meter.Int64Counter("koistream_koi_events_delivered",
		metric.WithDescription("Queued events a webhook subscriber accepted (/events/broadcast answered 200).")); err != nil {
		return nil, fmt.Errorf("deliverer: %w", err)
	}
	if d.failed, err = cfg.Meter.Int64Counter("koistream_koi_delivery_failures",
		metric.WithDescription("/events/broadcast batches a webhook subscriber did not accept; each is sent again.")); err != nil {
		return nil, fmt.Errorf("deliverer: %w", err)
	}
	depth, err := cfg.Meter.Int64ObservableGauge("koistream_koi_queue_depth",
		metric.WithDescription("Events queued for a KOI-net subscriber (webhook or poll), not yet acknowledged."))
	if err != nil {
		return nil, fmt.Errorf("deliverer: %w", err)
	}
	age, err := cfg.Meter.Float64ObservableGauge("koistream_koi_queue_oldest_age_seconds",
		metric.WithDescription("How long the oldest event queued for a KOI-net subscriber has waited."), metric.WithUnit("s"))
	if err != nil {
		return nil, fmt.Errorf("deliverer: %w", err)
	}
	dropped, err := cfg.Meter.Int64ObservableCounter("koistream_koi_queue_dropped",
		metric.WithDescription("Events dropped from a KOI-net subscriber's queue over the queue limit."))
	if err != nil {
		return nil, fmt.Errorf("deliverer: %w", err)
	}
	if d.reg, err = cfg.Meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		subs, err := cfg.Queues.Subscribers()
		if err != nil {
			return err
		}
		for _, sub := range subs {
			attrs := metric.WithAttributes(attribute.String("subscriber", sub))
			if n, err := cfg.Queues.Depth(sub); err == nil {
				o.ObserveInt64(depth, int64(n), attrs)
			}
			if a, err := cfg.Queues.OldestAge(sub); err == nil {
				o.ObserveFloat64(age, a.Seconds(), attrs)
			}
			if n, err := cfg.Queues.Dropped(sub); err == nil {
				o.ObserveInt64(dropped, int64(n), attrs)
			}
		}
		return nil
	}, depth, age, dropped); err != nil {
		return nil, fmt.Errorf("deliverer: %w", err)
	}
	return d, nil
}

// Run delivers until ctx ends, then waits for the subscribers' goroutines
// (a Broadcast under way is cancelled through its ctx; its batch stays
// queued) and returns nil. The queue metrics are unregistered when it
// returns.
func (d *Deliverer) Run(ctx context.Context) error {
	defer d.reg.Unregister()
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(d.cfg.DiscoverInterval)
	defer tick.Stop()
	for {
		subs, err := d.cfg.Queues.Subscribers()
		if err != nil {
			d.cfg.Logger.Error("koi-net delivery: list the queues", "err", err)
		}
		for _, sub := range subs {
			if !d.start(sub) {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer d.stop(sub)
				d.serve(ctx, sub)
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// start marks sub's goroutine as running and reports whether it should be
// started: Push says so and none runs.
func (d *Deliverer) start(sub string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running[sub] || !d.cfg.Push(sub) {
		return false
	}
	d.running[sub] = true
	return true
}

func (d *Deliverer) stop(sub string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.running, sub)
}

// serve delivers sub's queue until ctx ends or Push turns false.
func (d *Deliverer) serve(ctx context.Context, sub string) {
	log := d.cfg.Logger.With("subscriber", sub)
	attrs := metric.WithAttributes(attribute.String("subscriber", sub))
	backoff := d.cfg.MinBackoff
	var firstSeen time.Time // when the oldest pending event was first seen short of a full batch
	for ctx.Err() == nil {
		if !d.cfg.Push(sub) {
			return
		}
		// Taken before reading, so that events queued after the read
		// wake the wait below.
		notify := d.cfg.Queues.Notify()
		batch, err := d.cfg.Queues.Pending(sub, d.cfg.MaxBatch)
		if err != nil {
			log.Error("koi-net delivery: read the queue", "err", err)
			sleep(ctx, backoff)
			continue
		}
		if len(batch) == 0 {
			firstSeen = time.Time{}
			d.wait(ctx, notify, d.cfg.DiscoverInterval)
			continue
		}
		if len(batch) < d.cfg.MaxBatch {
			if firstSeen.IsZero() {
				firstSeen = time.Now()
			}
			if left := d.cfg.MaxWait - time.Since(firstSeen); left > 0 {
				d.wait(ctx, notify, left)
				continue
			}
		}
		events := make([][]byte, len(batch))
		keys := make([][]byte, len(batch))
		for i, e := range batch {
			events[i], keys[i] = e.Event, e.Key
		}
		// The same batch until it is accepted: what comes after it waits,
		// so the subscriber gets every RID's events in order.
		for {
			err := d.cfg.Broadcast(ctx, sub, events)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			d.failed.Add(ctx, 1, attrs)
			if pe, ok := errors.AsType[*PeerError](err); ok && (pe.Status == 422 || pe.Code == "invalid_key" || pe.Code == "invalid_target") {
				// A refusal that sending again will not change (the peer's
				// key changed, or it cannot parse an event): its queue is
				// stuck until an operator acts, so say so loudly.
				log.Error("koi-net delivery refused by the subscriber; its queue waits until this is resolved (koistream peers shows its depth)",
					"events", len(events), "retry_in", backoff, "err", err)
			} else {
				log.Warn("koi-net delivery failed; the batch is sent again", "events", len(events), "retry_in", backoff, "err", err)
			}
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, d.cfg.MaxBackoff)
			if !d.cfg.Push(sub) {
				return
			}
		}
		backoff = d.cfg.MinBackoff
		firstSeen = time.Time{}
		d.delivered.Add(ctx, int64(len(events)), attrs)
		if err := d.cfg.Queues.Ack(sub, keys); err != nil {
			// The batch stays queued and goes again: a repeat, which
			// receivers take, not a loss.
			log.Error("koi-net delivery: acknowledge a delivered batch", "err", err)
			sleep(ctx, backoff)
		}
	}
}

// wait returns when notify is closed, after d, or when ctx ends.
func (d *Deliverer) wait(ctx context.Context, notify <-chan struct{}, dur time.Duration) {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-notify:
	case <-t.C:
	}
}

// sleep waits for dur and reports true, or false if ctx ended first.
func sleep(ctx context.Context, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
