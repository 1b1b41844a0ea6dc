package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/koistream/koistream/topics"
)

// RunnerConfig configures a [Runner].
type RunnerConfig struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Topic is the events topic to consume. Required.
	Topic string
	// Name labels the projection in metrics and logs. Defaults to "cache".
	Name string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Tracer, Meter and Propagator report each applied record as a span
	// that continues the trace carried in the record's headers, and the
	// projection's lag. Required; use OpenTelemetry's no-op
	// implementations to turn them off.
	Tracer     trace.Tracer
	Meter      metric.Meter
	Propagator propagation.TextMapPropagator
}

func (c *RunnerConfig) setDefaults() {
	if c.Name == "" {
		c.Name = "cache"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports whether the configuration is complete.
func (c RunnerConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("projection runner: brokers are required")
	case c.Topic == "":
		return errors.New("projection runner: topic is required")
	case c.Tracer == nil || c.Meter == nil || c.Propagator == nil:
		return errors.New("projection runner: tracer, meter and propagator are required")
	}
	return nil
}

// Runner feeds the events topic into a [Cache]: it reads every partition
// from the offsets stored in the cache and applies what each poll returns as
// one batch. Its methods are safe for concurrent use.
type Runner struct {
	cfg   RunnerConfig
	cache *Cache

	ready atomic.Bool
	mu    sync.Mutex
	hwm   map[int32]int64 // high watermark per partition, as last seen
	next  map[int32]int64 // next offset to apply per partition

	applied, skipped metric.Int64Counter
}

// NewRunner returns a runner for cache; call Run to start it.
func NewRunner(cfg RunnerConfig, cache *Cache) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, cache: cache, hwm: map[int32]int64{}, next: map[int32]int64{}}
	var err error
	if r.applied, err = cfg.Meter.Int64Counter("koistream_projection_records_applied",
		metric.WithDescription("Event records applied to a projection.")); err != nil {
		return nil, fmt.Errorf("projection runner: %w", err)
	}
	if r.skipped, err = cfg.Meter.Int64Counter("koistream_projection_records_skipped",
		metric.WithDescription("Event records a projection could not apply (malformed).")); err != nil {
		return nil, fmt.Errorf("projection runner: %w", err)
	}
	if _, err = cfg.Meter.Int64ObservableGauge("koistream_projection_lag",
		metric.WithDescription("Records on the events topic not yet applied to the projection."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(r.Lag(), metric.WithAttributes(attribute.String("projection", cfg.Name)))
			return nil
		})); err != nil {
		return nil, fmt.Errorf("projection runner: %w", err)
	}
	return r, nil
}

// Ready reports whether the runner has started consuming.
func (r *Runner) Ready() bool { return r.ready.Load() }

// Lag returns how many records of the events topic, as far as the runner
// last saw its end, are not applied yet.
func (r *Runner) Lag() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lag int64
	for p, h := range r.hwm {
		if d := h - r.next[p]; d > 0 {
			lag += d
		}
	}
	return lag
}

// Run consumes until ctx ends, then returns nil; any other return is an
// error that stopped the projection.
func (r *Runner) Run(ctx context.Context) error {
	log := r.cfg.Logger.With("projection", r.cfg.Name, "topic", r.cfg.Topic)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(r.cfg.Brokers...))
	if err != nil {
		return fmt.Errorf("projection %s: client: %w", r.cfg.Name, err)
	}
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, r.cfg.Topic)
	admCl.Close()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("projection %s: end offsets of %s: %w", r.cfg.Name, r.cfg.Topic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("projection %s: end offsets of %s: %w", r.cfg.Name, r.cfg.Topic, err)
	}
	stored, err := r.cache.Offsets(r.cfg.Topic)
	if err != nil {
		return err
	}
	start := map[int32]kgo.Offset{}
	r.mu.Lock()
	ends.Each(func(o kadm.ListedOffset) {
		r.hwm[o.Partition] = o.Offset
		if off, ok := stored[o.Partition]; ok {
			start[o.Partition] = kgo.NewOffset().At(off)
			r.next[o.Partition] = off
		} else {
			start[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	r.mu.Unlock()
	if len(start) == 0 {
		return fmt.Errorf("projection %s: topic %s has no partitions", r.cfg.Name, r.cfg.Topic)
	}
	cl, err := kgo.NewClient(append(topics.FetchOpts(),
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.cfg.Topic: start}),
	)...)
	if err != nil {
		return fmt.Errorf("projection %s: client: %w", r.cfg.Name, err)
	}
	defer cl.Close()
	log.Info("projection consuming", "partitions", len(start), "resumed_partitions", len(stored))
	r.ready.Store(true)
	defer r.ready.Store(false)

	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Warn("projection fetch error", "partition", p, "err", err)
				fetchErr = err
			}
		})
		recs := make([]Record, 0, fetches.NumRecords())
		var kept []*kgo.Record
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			r.mu.Lock()
			if fp.HighWatermark > r.hwm[fp.Partition] {
				r.hwm[fp.Partition] = fp.HighWatermark
			}
			r.mu.Unlock()
			for _, rec := range fp.Records {
				recs = append(recs, Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Value: rec.Value})
				kept = append(kept, rec)
			}
		})
		if len(recs) == 0 {
			if fetchErr != nil && cl.Context().Err() != nil {
				return fmt.Errorf("projection %s: %w", r.cfg.Name, fetchErr)
			}
			continue
		}
		spans := r.startSpans(ctx, kept)
		skipped, err := r.cache.Apply(recs)
		for _, s := range spans {
			s.End()
		}
		if err != nil {
			// Nothing of the batch was written; stop rather than skip
			// past it. The next start resumes from the stored offsets.
			return fmt.Errorf("projection %s: %w", r.cfg.Name, err)
		}
		for _, s := range skipped {
			log.Error("projection skipped malformed event record", "err", s)
		}
		attrs := metric.WithAttributes(attribute.String("projection", r.cfg.Name))
		r.applied.Add(ctx, int64(len(recs)-len(skipped)), attrs)
		r.skipped.Add(ctx, int64(len(skipped)), attrs)
		r.mu.Lock()
		for _, rec := range recs {
			r.next[rec.Partition] = rec.Offset + 1
		}
		r.mu.Unlock()
	}
}

// startSpans opens one span per record, each continuing the trace that
// travelled in the record's headers from the webhook that caused it.
func (r *Runner) startSpans(ctx context.Context, recs []*kgo.Record) []trace.Span {
	spans := make([]trace.Span, 0, len(recs))
	for _, rec := range recs {
		pctx := topics.RecordContext(ctx, rec, r.cfg.Propagator)
		_, span := r.cfg.Tracer.Start(pctx, "projection "+r.cfg.Name+" apply",
			trace.WithAttributes(
				attribute.String("messaging.destination.name", rec.Topic),
				attribute.Int("messaging.kafka.partition", int(rec.Partition)),
				attribute.Int64("messaging.kafka.offset", rec.Offset),
			))
		spans = append(spans, span)
	}
	return spans
}

// Next returns, per partition, the next offset the runner will apply: every
// record before it is in the projection.
func (r *Runner) Next() map[int32]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int32]int64, len(r.next))
	for p, o := range r.next {
		out[p] = o
	}
	return out
}
