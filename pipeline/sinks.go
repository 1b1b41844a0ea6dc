package pipeline

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/metric"
)

// A sink delivers the events of the events topic to a system outside the
// log (a RabbitMQ exchange, Redis channels), each from its own durable
// position: it consumes the topic in its own consumer group (SinkDeps.Group,
// a topics.BatchConsumer is the usual way) and commits a record only once
// the outside system has confirmed it, so an outage of that system loses
// nothing (the sink resumes from its position) and never slows the
// pipeline or the other sinks. Each type is one registry entry in its own
// file (sink_<type>.go), placed by the configuration's sinks: list.

// SinkDeps is what a sink is started with. Every field is set.
type SinkDeps struct {
	// Spec is the sink's entry of the sinks: list; the sink decodes its
	// own keys with Spec.Config.Decode and reports a mistake with
	// Spec.Config.Errorf (a configuration error: the node does not start).
	Spec PluginSpec
	// Brokers are the Kafka seed brokers; EventsTopic the events topic's
	// full name.
	Brokers     []string
	EventsTopic string
	// Group is the sink's consumer group, <prefix>sink.<name>: its durable
	// position.
	Group string
	// Getenv reads the environment (secrets named by *_env keys).
	Getenv func(string) string
	// Logger and Meter are the sink's own (metrics: see SinkMetrics).
	Logger *slog.Logger
	Meter  metric.Meter
	// Background runs fn for the node's lifetime; ctx ends when the node
	// shuts down and fn then returns nil. Any other error is fatal to the
	// node, so a sink whose outside system is down retries instead.
	Background func(name string, fn func(ctx context.Context) error)
}

// Sink is one registered sink type.
type Sink struct {
	// Type is what a sinks: entry's type names.
	Type string
	// Start decodes the entry, checks it and starts the sink's consumer
	// with d.Background. It returns once the sink runs, or an error that
	// stops the node from starting.
	Start func(d SinkDeps) error
}

// builtinSinks lists the sink types, each in its own file: a new sink is a
// new file here plus one line.
func builtinSinks() []Sink {
	return []Sink{
		amqpSink(),
		eventHiveSink(),
	}
}

// ConfigSource is an intake the configuration places with its sources:
// list, as many times as it has entries, each with its own block (an
// EventHive network to subscribe to). Unlike the built-in intakes
// (builtinSources) it runs only when configured. Its raw records' parser is
// registered in stages.BuiltinParsers under Kind.
type ConfigSource struct {
	// Type is what a sources: entry's type names.
	Type string
	// Kind is the raw.HeaderSource of the records it writes.
	Kind string
	// Start decodes the entry (spec.Config) and starts the intake, like
	// Source.Start. Input that cannot be taken in (a bad signature) goes
	// to d.DeadTopic, marked with topics/dead's headers and the reason,
	// never silently dropped.
	Start func(d SourceDeps, spec PluginSpec) error
}

// configSources lists the configurable intakes, each in its own file.
func configSources() []ConfigSource {
	return []ConfigSource{
		eventHiveSource(),
	}
}

// sinkGroup is the consumer group of the sink named name.
func (n *Node) sinkGroup(name string) string { return n.cfg.TopicPrefix + "sink." + name }

// startSinks starts the configured sinks.
func (n *Node) startSinks(runCtx context.Context) error {
	types := map[string]Sink{}
	for _, s := range builtinSinks() {
		types[s.Type] = s
	}
	for _, spec := range n.cfg.Sinks {
		s, ok := types[spec.Type]
		if !ok {
			return spec.Config.Errorf("sink type %q is not one of %v", spec.Type, sinkTypes())
		}
		err := s.Start(SinkDeps{
			Spec: spec, Brokers: n.kafka, EventsTopic: n.names.Events, Group: n.sinkGroup(spec.Name),
			Getenv: n.cfg.Getenv, Logger: n.log.With("sink", spec.Name), Meter: n.tel.Meter("koistream/sink/" + spec.Type),
			Background: func(name string, fn func(ctx context.Context) error) {
				n.background("sink "+spec.Name+" "+name, func() error { return fn(runCtx) })
			},
		})
		if err != nil {
			return fmt.Errorf("sink %s: %w", spec.Name, err)
		}
	}
	return nil
}

func sinkTypes() []string {
	var out []string
	for _, s := range builtinSinks() {
		out = append(out, s.Type)
	}
	return out
}
