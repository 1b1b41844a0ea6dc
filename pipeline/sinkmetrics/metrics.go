// Package sinkmetrics holds the instruments every sink reports on /metrics,
// so that /metrics reads alike for every sink: one set per sink, each
// measurement with the attribute sink=<name>.
package sinkmetrics

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names.
const (
	// Delivered counts messages the outside system confirmed (RabbitMQ's
	// publisher confirm, Redis's answer to PUBLISH).
	Delivered = "koistream_sink_delivered"
	// Failed counts messages not delivered, by reason: "unconfirmed" (the
	// publish failed or was not confirmed; the batch is sent again, so one
	// message can count more than once) and "invalid" (the events record
	// cannot be made a message; it is logged and skipped).
	Failed = "koistream_sink_failed"
	// Lag is the events the sink has not committed yet: the events topic's
	// end offsets minus the sink group's committed offsets.
	Lag = "koistream_sink_lag"
)

// Metrics is one sink's instruments. Its methods are safe for concurrent
// use, as OpenTelemetry's instruments are.
type Metrics struct {
	delivered, failed           metric.Int64Counter
	lag                         metric.Int64ObservableGauge
	attrs, invalid, unconfirmed metric.MeasurementOption
}

// New creates the instruments of the sink named sink on m.
func New(m metric.Meter, sink string) (*Metrics, error) {
	a := attribute.String("sink", sink)
	s := &Metrics{
		attrs:       metric.WithAttributes(a),
		invalid:     metric.WithAttributes(a, attribute.String("reason", "invalid")),
		unconfirmed: metric.WithAttributes(a, attribute.String("reason", "unconfirmed")),
	}
	var err error
	if s.delivered, err = m.Int64Counter(Delivered,
		metric.WithDescription("Events a sink delivered: messages its outside system confirmed.")); err != nil {
		return nil, fmt.Errorf("sink metrics: %w", err)
	}
	if s.failed, err = m.Int64Counter(Failed,
		metric.WithDescription("Events a sink failed to deliver, by reason: unconfirmed ones are sent again, invalid ones skipped.")); err != nil {
		return nil, fmt.Errorf("sink metrics: %w", err)
	}
	if s.lag, err = m.Int64ObservableGauge(Lag,
		metric.WithDescription("Events a sink has not committed yet: the events topic's end offsets minus the sink group's committed offsets.")); err != nil {
		return nil, fmt.Errorf("sink metrics: %w", err)
	}
	return s, nil
}

// AddDelivered counts n messages confirmed.
func (s *Metrics) AddDelivered(ctx context.Context, n int64) { s.delivered.Add(ctx, n, s.attrs) }

// AddInvalid counts n records that cannot be made messages.
func (s *Metrics) AddInvalid(ctx context.Context, n int64) { s.failed.Add(ctx, n, s.invalid) }

// AddUnconfirmed counts n messages whose publish failed or was not
// confirmed.
func (s *Metrics) AddUnconfirmed(ctx context.Context, n int64) { s.failed.Add(ctx, n, s.unconfirmed) }

// RegisterLag registers lag as the callback of the Lag gauge on m (the
// meter New was given); it reports nothing when lag's second result is
// false. Unregister the registration when the sink stops.
func (s *Metrics) RegisterLag(m metric.Meter, lag func(context.Context) (int64, bool)) (metric.Registration, error) {
	return m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		if n, ok := lag(ctx); ok {
			o.ObserveInt64(s.lag, n, s.attrs)
		}
		return nil
	}, s.lag)
}
