package stages

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/koistream/koistream/topics/dead"
)

// Telemetry is what a [Chain] reports through. Both fields are required; use
// the no-op providers of OpenTelemetry to turn reporting off.
type Telemetry struct {
	Tracer trace.Tracer
	Meter  metric.Meter
}

// Chain runs the stages of one segment in order over one input message.
// [Chain.Handle] is a watermill HandlerFunc: the pipeline wraps it in
// watermill's dead-letter, retry and recoverer middlewares, and its segment
// runner (pipeline/segment.go) calls the result for every message of a
// partition batch the topics.BatchConsumer polled, in order, then publishes
// the batch's outputs in one call. Every stage call is a span, child of the
// trace the input message carries, and is counted in
// koistream_stage_records_in and koistream_stage_records_out. A Chain is
// safe for concurrent use if its stages are; the runner calls it
// concurrently for different partitions.
type Chain struct {
	segment string
	stages  []Stage
	tracer  trace.Tracer
	in, out metric.Int64Counter
}

// NewChain builds the chain for segment out of stages, in order.
func NewChain(segment string, stages []Stage, tel Telemetry) (*Chain, error) {
	if len(stages) == 0 {
		return nil, fmt.Errorf("chain %s: no stages", segment)
	}
	in, err := tel.Meter.Int64Counter("koistream_stage_records_in",
		metric.WithDescription("Records a stage received."))
	if err != nil {
		return nil, fmt.Errorf("chain %s: %w", segment, err)
	}
	out, err := tel.Meter.Int64Counter("koistream_stage_records_out",
		metric.WithDescription("Records a stage passed on."))
	if err != nil {
		return nil, fmt.Errorf("chain %s: %w", segment, err)
	}
	return &Chain{segment: segment, stages: stages, tracer: tel.Tracer, in: in, out: out}, nil
}

// Handle passes msg through every stage and returns what the last stage
// produced. On a stage error it marks msg with the failing stage
// (dead.HeaderFailedStage) and returns the error, so the retry and
// dead-letter middlewares around it see the original input, not a
// half-processed one.
func (c *Chain) Handle(msg *message.Message) ([]*message.Message, error) {
	batch := []*message.Message{msg}
	for _, st := range c.stages {
		attrs := metric.WithAttributes(attribute.String("stage", st.Name()))
		var next []*message.Message
		for _, m := range batch {
			ctx, span := c.tracer.Start(m.Context(), "stage "+st.Name(),
				trace.WithAttributes(attribute.String("koistream.segment", c.segment)))
			c.in.Add(ctx, 1, attrs)
			outs, err := st.Process(ctx, m)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
				span.End()
				dead.Mark(msg, dead.Failure{Stage: st.Name()})
				return nil, fmt.Errorf("stage %s: %w", st.Name(), err)
			}
			for _, o := range outs {
				// The span's context goes with each output so the next
				// stage, and the publisher's trace headers, continue it.
				o.SetContext(ctx)
			}
			c.out.Add(ctx, int64(len(outs)), attrs)
			span.End()
			next = append(next, outs...)
		}
		batch = next
		if len(batch) == 0 {
			break
		}
	}
	return batch, nil
}
