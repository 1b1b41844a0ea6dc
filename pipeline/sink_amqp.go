package pipeline

import (
	"github.com/koistream/koistream/pipeline/amqpsink"
)

// amqpSink is the "amqp" sink type: every event of the events topic
// published to a RabbitMQ topic exchange with GHTorrent's routing keys and
// bodies (package amqpsink), confirmed before the sink's position passes
// it. Its entry's keys are amqpsink.Config's: url or url_env, exchange
// (default ght-streams), persistent (default true) and filter {rid_types,
// keys}. A mistake in them stops the node from starting; RabbitMQ being
// down does not (the sink retries until it is up).
func amqpSink() Sink {
	return Sink{Type: "amqp", Start: func(d SinkDeps) error {
		cfg := amqpsink.DefaultConfig()
		if err := d.Spec.Config.Decode(&cfg); err != nil {
			return err
		}
		if err := cfg.Validate(d.Getenv); err != nil {
			return d.Spec.Config.Errorf("%v", err)
		}
		s, err := amqpsink.New(cfg, amqpsink.Deps{
			Name: d.Spec.Name, Brokers: d.Brokers, EventsTopic: d.EventsTopic, Group: d.Group,
			Getenv: d.Getenv, Logger: d.Logger, Meter: d.Meter,
		})
		if err != nil {
			return d.Spec.Config.Errorf("%v", err)
		}
		d.Background("amqp", s.Run)
		return nil
	}}
}
