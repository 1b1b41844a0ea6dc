// Package telemetry sets up koistream's OpenTelemetry tracer and meter
// providers, the W3C trace-context propagator that carries traces through
// Kafka headers, and the Prometheus endpoint metrics are read from.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Config configures [Setup].
type Config struct {
	// ServiceName names the service in traces and metrics. Defaults to
	// "koistream".
	ServiceName string
	// SpanProcessors receive every finished span, in addition to the OTLP
	// exporter. Tests use an in-memory recorder here.
	SpanProcessors []sdktrace.SpanProcessor
	// OTLP turns on the OTLP/HTTP trace exporter. It is on when the standard
	// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	// variable is set, and configured by the standard OTEL_* variables.
	OTLP bool
}

// Telemetry holds the providers. Its fields are safe for concurrent use.
type Telemetry struct {
	// TracerProvider makes koistream's tracers.
	TracerProvider *sdktrace.TracerProvider
	// MeterProvider makes koistream's meters; its readings are served by
	// Metrics.
	MeterProvider *sdkmetric.MeterProvider
	// Propagator injects and extracts W3C trace context (traceparent,
	// tracestate) and baggage, in HTTP and in Kafka headers.
	Propagator propagation.TextMapPropagator
	// Metrics serves the Prometheus text exposition of every metric, plus
	// the Go runtime and process collectors.
	Metrics http.Handler
}

// OTLPFromEnv reports whether the standard OpenTelemetry environment asks
// for trace export.
func OTLPFromEnv() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup builds the providers. Nothing is registered globally: callers pass
// the providers to what needs them. Shut them down with [Telemetry.Shutdown].
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.ServiceName == "" {
		cfg.ServiceName = "koistream"
	}
	res := resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))

	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, sp := range cfg.SpanProcessors {
		opts = append(opts, sdktrace.WithSpanProcessor(sp))
	}
	if cfg.OTLP {
		te, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(te))
	}
	tp := sdktrace.NewTracerProvider(opts...)

	return &Telemetry{
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Metrics:        promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
	}, nil
}

// Tracer returns the named tracer.
func (t *Telemetry) Tracer(name string) trace.Tracer { return t.TracerProvider.Tracer(name) }

// Meter returns the named meter.
func (t *Telemetry) Meter(name string) metric.Meter { return t.MeterProvider.Meter(name) }

// Shutdown flushes pending spans and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.TracerProvider.Shutdown(ctx), t.MeterProvider.Shutdown(ctx))
}
