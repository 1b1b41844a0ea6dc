package stages_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics/dead"
)

// fanout is a test stage that turns each message into n copies, or fails.
type fanout struct {
	name string
	n    int
	err  error
}

func (f fanout) Name() string { return f.name }

func (f fanout) Process(_ context.Context, m *message.Message) ([]*message.Message, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := make([]*message.Message, f.n)
	for i := range out {
		out[i] = message.NewMessage(watermill.NewUUID(), m.Payload)
	}
	return out, nil
}

func newTelemetry(t *testing.T) (stages.Telemetry, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	return stages.Telemetry{Tracer: tp.Tracer("test"), Meter: mp.Meter("test")}, rec, reader
}

// counts returns metric name → stage → value.
func counts(t *testing.T, r *sdkmetric.ManualReader) map[string]map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			out[m.Name] = map[string]int64{}
			for _, dp := range sum.DataPoints {
				stage, _ := dp.Attributes.Value("stage")
				out[m.Name][stage.AsString()] += dp.Value
			}
		}
	}
	return out
}

func TestChainComposesStages(t *testing.T) {
	t.Parallel()
	tel, spans, reader := newTelemetry(t)
	chain, err := stages.NewChain("seg", []stages.Stage{fanout{"a", 3, nil}, fanout{"b", 2, nil}}, tel)
	if err != nil {
		t.Fatal(err)
	}
	out, err := chain.Handle(message.NewMessage("in", []byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 6 {
		t.Fatalf("got %d messages, want 3×2", len(out))
	}
	got := counts(t, reader)
	want := map[string]map[string]int64{
		"koistream_stage_records_in":  {"a": 1, "b": 3},
		"koistream_stage_records_out": {"a": 3, "b": 6},
	}
	for name, byStage := range want {
		for st, v := range byStage {
			if got[name][st] != v {
				t.Errorf("%s{stage=%s} = %d, want %d", name, st, got[name][st], v)
			}
		}
	}
	if n := len(spans.Ended()); n != 4 {
		t.Fatalf("%d spans, want one per stage call (4)", n)
	}
	// Outputs carry the span context so the publisher continues the trace.
	parent := spans.Ended()[0].SpanContext().TraceID()
	for _, s := range spans.Ended() {
		if s.SpanContext().TraceID() != parent {
			t.Fatalf("stage spans are not one trace")
		}
	}
}

func TestChainMarksTheFailingStage(t *testing.T) {
	t.Parallel()
	tel, spans, _ := newTelemetry(t)
	boom := stages.Permanent(errors.New("boom"))
	chain, err := stages.NewChain("seg", []stages.Stage{fanout{"a", 1, nil}, fanout{"b", 0, boom}}, tel)
	if err != nil {
		t.Fatal(err)
	}
	in := message.NewMessage("in", []byte("x"))
	_, err = chain.Handle(in)
	if !stages.IsPermanent(err) || !strings.Contains(err.Error(), "stage b") {
		t.Fatalf("error %v, want the permanent error of stage b", err)
	}
	if got := in.Metadata.Get(dead.HeaderFailedStage); got != "b" {
		t.Fatalf("failed stage %q, want b", got)
	}
	last := spans.Ended()[len(spans.Ended())-1]
	if last.Status().Code.String() != "Error" {
		t.Fatalf("failing span status %v", last.Status())
	}
}

// calls is a test stage that counts its Process calls and passes each
// message on to next.
type calls struct {
	next stages.Stage
	n    *atomic.Int64
}

func (c calls) Name() string { return c.next.Name() }

func (c calls) Process(ctx context.Context, m *message.Message) ([]*message.Message, error) {
	c.n.Add(1)
	return c.next.Process(ctx, m)
}

// TestChainDropLeavesNothingForLaterStages: once a stage drops everything,
// the chain returns nothing and no error, and no later stage is called,
// traced or counted. (Whether Handle leaves its loop at that point or runs
// the later stages over an empty batch cannot be told apart from outside:
// both call nothing. What the test holds is that nothing reaches them, so a
// chain that passed its input on past a stage that returned nothing fails.)
func TestChainDropLeavesNothingForLaterStages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stages []fanout
		called map[string]int64 // Process calls per stage; absent means none
	}{
		{"first stage drops", []fanout{{"a", 0, nil}, {"b", 5, nil}, {"c", 1, nil}}, map[string]int64{"a": 1}},
		{"middle stage drops a fan-out", []fanout{{"a", 3, nil}, {"b", 0, nil}, {"c", 1, nil}}, map[string]int64{"a": 1, "b": 3}},
		{"last stage drops", []fanout{{"a", 2, nil}, {"b", 2, nil}, {"c", 0, nil}}, map[string]int64{"a": 1, "b": 2, "c": 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tel, spans, reader := newTelemetry(t)
			counters := map[string]*atomic.Int64{}
			var sts []stages.Stage
			for _, f := range tt.stages {
				counters[f.name] = new(atomic.Int64)
				sts = append(sts, calls{f, counters[f.name]})
			}
			chain, err := stages.NewChain("seg", sts, tel)
			if err != nil {
				t.Fatal(err)
			}
			out, err := chain.Handle(message.NewMessage("in", []byte("x")))
			if err != nil || len(out) != 0 {
				t.Errorf("Handle = %d messages, error %v; want none and no error", len(out), err)
			}
			in := counts(t, reader)["koistream_stage_records_in"]
			spanCount := map[string]int64{}
			for _, s := range spans.Ended() {
				spanCount[strings.TrimPrefix(s.Name(), "stage ")]++
			}
			for _, f := range tt.stages {
				want := tt.called[f.name]
				if got := counters[f.name].Load(); got != want {
					t.Errorf("stage %s: Process called %d times, want %d", f.name, got, want)
				}
				if in[f.name] != want {
					t.Errorf("stage %s: koistream_stage_records_in = %d, want %d", f.name, in[f.name], want)
				}
				if spanCount[f.name] != want {
					t.Errorf("stage %s: %d spans, want %d", f.name, spanCount[f.name], want)
				}
			}
		})
	}
}
