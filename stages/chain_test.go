package stages_test

import (
	"context"
	"errors"
	"strings"
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

func TestChainStopsWhenAStageDropsEverything(t *testing.T) {
	t.Parallel()
	tel, _, reader := newTelemetry(t)
	chain, err := stages.NewChain("seg", []stages.Stage{fanout{"a", 0, nil}, fanout{"b", 5, nil}}, tel)
	if err != nil {
		t.Fatal(err)
	}
	out, err := chain.Handle(message.NewMessage("in", []byte("x")))
	if err != nil || len(out) != 0 {
		t.Fatalf("out %d err %v", len(out), err)
	}
	if got := counts(t, reader)["koistream_stage_records_in"]["b"]; got != 0 {
		t.Fatalf("stage b saw %d messages after a dropped everything", got)
	}
}
