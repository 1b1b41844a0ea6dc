package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

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
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Tracer, Meter and Propagator report each applied record as a span
	// that continues the trace carried in the record's headers, the
	// records applied and skipped per projection, and the lag. Required;
	// use OpenTelemetry's no-op implementations to turn them off.
	Tracer     trace.Tracer
	Meter      metric.Meter
	Propagator propagation.TextMapPropagator
}

func (c *RunnerConfig) setDefaults() {
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

// Runner feeds the events topic into the projections of a [Store]: it reads
// every partition with a [PartitionReader] from the offsets stored with the
// projections' state (from the beginning of the log where none are stored,
// so an empty store is rebuilt) and hands each poll to [Store.Apply], which
// commits the projections' changes and the offsets after them in one atomic
// write. After a restart, clean or not, it resumes where the store's state
// is, so each record takes effect exactly once.
//
// If a projection fails (Apply returns an error), nothing of that poll is
// written and Run returns the error: the projections stop at the last
// committed poll rather than skip past records, and the next start offers
// the failed poll again.
//
// Its methods are safe for concurrent use; Run is called once.
type Runner struct {
	cfg   RunnerConfig
	store *Store
	names []string // of the store's projections, in Attach's order
	// attrs label the metrics of each projection; spanName and spanAttr
	// name the projections a record's span covers. Built once: a record
	// costs no label allocation.
	attrs    []metric.MeasurementOption
	spanName string
	spanAttr attribute.KeyValue

	ready atomic.Bool
	mu    sync.Mutex
	hwm   map[int32]int64 // high watermark per partition, as last seen
	next  map[int32]int64 // next offset to apply per partition

	recs  []Record      // reused by each poll
	kept  []*kgo.Record // the records of recs, for their spans
	spans []trace.Span

	applied, skipped metric.Int64Counter
}

// NewRunner returns a runner for the projections attached to store; call
// Run to start it.
func NewRunner(cfg RunnerConfig, store *Store) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ps := store.Projections()
	if len(ps) == 0 {
		return nil, errors.New("projection runner: the store has no projections attached")
	}
	r := &Runner{cfg: cfg, store: store, hwm: map[int32]int64{}, next: map[int32]int64{}}
	for _, p := range ps {
		r.names = append(r.names, p.Name())
		r.attrs = append(r.attrs, metric.WithAttributes(attribute.String("projection", p.Name())))
	}
	r.spanName = "projection " + strings.Join(r.names, "+") + " apply"
	r.spanAttr = attribute.StringSlice("koistream.projections", r.names)
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
			// One set of offsets for every projection of the store: the
			// same lag for each.
			lag := r.Lag()
			for _, p := range r.names {
				o.Observe(lag, metric.WithAttributes(attribute.String("projection", p)))
			}
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

// Next returns, per partition, the next offset the runner will apply: every
// record before it is in the projections.
func (r *Runner) Next() map[int32]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.next)
}

// Run consumes until ctx ends, then returns nil; any other return is an
// error that stopped the projections, with nothing of the failed poll
// written. It fails at start if the store has applied records the log no
// longer has (a partition's stored offset is past its end): the log was
// reset or lost its tail, and only a rebuild ([Reset]) brings the
// projections back in step with it.
func (r *Runner) Run(ctx context.Context) error {
	log := r.cfg.Logger.With("projections", r.names, "topic", r.cfg.Topic)
	stored, err := r.store.Offsets(r.cfg.Topic)
	if err != nil {
		return err
	}
	start := make(map[int32]kgo.Offset, len(stored))
	for p, off := range stored {
		start[p] = kgo.NewOffset().At(off)
	}
	reader, err := NewPartitionReader(ctx, PartitionReaderConfig{
		Brokers: r.cfg.Brokers,
		Topic:   r.cfg.Topic,
		Start:   start,
		Logger:  r.cfg.Logger,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("projections: %w", err)
	}
	defer reader.Close()
	ends := reader.Ends()
	for p, off := range stored {
		if end, ok := ends[p]; ok && off > end {
			return fmt.Errorf("projections: %s partition %d ends at offset %d, but the projections applied it up to %d: the log lost records they hold; rebuild them (koistream rebuild)",
				r.cfg.Topic, p, end, off)
		}
	}
	r.mu.Lock()
	for p, end := range ends {
		r.hwm[p] = end
		r.next[p] = stored[p]
	}
	r.mu.Unlock()
	log.Info("projections consuming", "partitions", len(ends), "resumed_partitions", len(stored))
	r.ready.Store(true)
	defer r.ready.Store(false)

	for {
		batches, err := reader.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("projections: %w", err)
		}
		if err := r.apply(ctx, log, batches); err != nil {
			// Nothing of the poll was written; stop rather than skip
			// past it. The next start resumes from the stored offsets.
			return fmt.Errorf("projections: %w", err)
		}
	}
}

// apply hands one poll to the store and accounts for it.
func (r *Runner) apply(ctx context.Context, log *slog.Logger, batches []PartitionBatch) error {
	r.recs, r.kept = r.recs[:0], r.kept[:0]
	r.mu.Lock()
	for _, b := range batches {
		if b.HighWatermark > r.hwm[b.Partition] {
			r.hwm[b.Partition] = b.HighWatermark
		}
	}
	r.mu.Unlock()
	for _, b := range batches {
		for _, rec := range b.Records {
			r.recs = append(r.recs, Record{
				Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
				Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp, Headers: rec.Headers,
			})
			r.kept = append(r.kept, rec)
		}
	}
	if len(r.recs) == 0 {
		r.advance(batches)
		return nil
	}
	r.startSpans(ctx)
	res, err := r.store.Apply(r.recs)
	for i, s := range r.spans {
		s.End()
		r.spans[i] = nil
	}
	// Drop the references to this poll's records: the slices live on.
	clear(r.recs)
	clear(r.kept)
	if err != nil {
		return err
	}
	if dup := len(r.recs) - res.Records; dup > 0 {
		// The reader starts at the stored offsets, so this takes a log
		// that went back (a broker that lost its tail and was written
		// again): the store kept its state and dropped the records.
		log.Warn("projections dropped records they had already applied", "records", dup)
	}
	for i, skipped := range res.Skipped {
		for _, s := range skipped {
			log.Error("projection skipped malformed event record", "projection", r.names[i], "err", s)
		}
		r.applied.Add(ctx, int64(res.Records-len(skipped)), r.attrs[i])
		r.skipped.Add(ctx, int64(len(skipped)), r.attrs[i])
	}
	r.advance(batches)
	return nil
}

// advance moves each partition's next offset past the poll's records,
// transaction markers included, so a runner that applied everything
// reports the partitions' end offsets (Next, Lag). The store keeps the
// offsets of the data records it applied; after a restart the markers
// after them are read again and skipped.
func (r *Runner) advance(batches []PartitionBatch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range batches {
		if b.Next > r.next[b.Partition] {
			r.next[b.Partition] = b.Next
		}
	}
}

// startSpans opens one span per record of r.kept, each continuing the
// trace that travelled in the record's headers from the webhook that
// caused it.
func (r *Runner) startSpans(ctx context.Context) {
	r.spans = r.spans[:0]
	for _, rec := range r.kept {
		pctx := topics.RecordContext(ctx, rec, r.cfg.Propagator)
		_, span := r.cfg.Tracer.Start(pctx, r.spanName,
			trace.WithAttributes(
				attribute.String("messaging.destination.name", rec.Topic),
				attribute.Int("messaging.kafka.partition", int(rec.Partition)),
				attribute.Int64("messaging.kafka.offset", rec.Offset),
				r.spanAttr,
			))
		r.spans = append(r.spans, span)
	}
}
