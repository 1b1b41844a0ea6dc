package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/dead"
)

// deadLetterPublisher publishes to the dead topic and counts what it
// published per failing stage (koistream_stage_records_dead). It also
// records where the input came from, since the Kafka position lives in the
// message context and would otherwise not reach the dead record.
type deadLetterPublisher struct {
	next    message.Publisher
	segment string
	dead    metric.Int64Counter
}

func newDeadCounter(m metric.Meter) (metric.Int64Counter, error) {
	c, err := m.Int64Counter("koistream_stage_records_dead",
		metric.WithDescription("Records a stage could not process, sent to the dead-letter topic."))
	if err != nil {
		return nil, fmt.Errorf("dead letter counter: %w", err)
	}
	return c, nil
}

// Publish marks every message with the segment and the input's place in
// the log (topics/dead), then publishes it.
func (d *deadLetterPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		f := dead.Failure{Segment: d.segment}
		if pos, ok := topics.PositionFromContext(m.Context()); ok {
			f.Origin = dead.Origin{Topic: pos.Topic, Partition: pos.Partition, Offset: pos.Offset}
		}
		dead.Mark(m, f)
	}
	if err := d.next.Publish(topic, msgs...); err != nil {
		return err
	}
	for _, m := range msgs {
		d.dead.Add(m.Context(), 1, metric.WithAttributes(attribute.String("stage", m.Metadata.Get(dead.HeaderFailedStage))))
	}
	return nil
}

// Close does nothing: the wrapped publisher is shared and closed by the node.
func (d *deadLetterPublisher) Close() error { return nil }

// deadLetterable reports whether a stage's error may send its input to the
// dead topic. An ended context says the node is stopping or the poll ran
// out of time, nothing about the record: the error aborts the poll instead,
// and the record is handled again, here or by the partition's next owner.
func deadLetterable(err error) bool {
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
