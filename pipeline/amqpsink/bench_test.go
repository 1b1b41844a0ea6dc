package amqpsink_test

import (
	"context"
	"strconv"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/koistream/koistream/pipeline/amqpsink"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/topicstest"
)

// BenchmarkAMQPSinkPublish measures confirmed publishes per second to a
// real rabbitmq-server on loopback: batches of push events (their Events
// API bodies, about 3 KB) published by the sink's Publisher and waited for
// until RabbitMQ confirmed every one, routed to a durable queue bound with
// "#" (bounded to 100,000 messages, dropping the oldest) so that each
// message is really stored, persistent ones on disk. It reports msgs/s;
// batch=1024 is a full poll of the sink's consumer (the steady state when
// it has a backlog), batch=1 a sink that keeps up with a trickle.
func BenchmarkAMQPSinkPublish(b *testing.B) {
	rmq := topicstest.StartRabbitMQ(b)
	conn, err := amqp.Dial(rmq.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.ExchangeDeclare(amqpsink.DefaultExchange, "topic", true, false, false, false, nil); err != nil {
		b.Fatal(err)
	}
	args := amqp.Table{"x-max-length": int32(100000), "x-overflow": "drop-head"}
	if _, err := ch.QueueDeclare("bench", true, false, false, false, args); err != nil {
		b.Fatal(err)
	}
	if err := ch.QueueBind("bench", "#", amqpsink.DefaultExchange, false, nil); err != nil {
		b.Fatal(err)
	}
	m, err := amqpsink.Build(record(b, find(b, normalized(b, "push", "push.multiple-commits.json"), github.TypeEvent), koi.EventNew))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		batch      int
		persistent bool
	}{{1024, true}, {1024, false}, {1, true}} {
		b.Run("batch="+strconv.Itoa(tc.batch)+"/persistent="+strconv.FormatBool(tc.persistent), func(b *testing.B) {
			p := amqpsink.NewPublisher(rmq.URL(), amqpsink.DefaultExchange, tc.persistent)
			defer p.Close()
			msgs := make([]amqpsink.Message, tc.batch)
			ids := make([]string, tc.batch)
			for i := range msgs {
				msgs[i], ids[i] = m, "bench/0/"+strconv.Itoa(i)
			}
			b.SetBytes(int64(len(m.Body) * tc.batch))
			b.ResetTimer()
			for range b.N {
				if _, err := p.Publish(context.Background(), msgs, ids); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*tc.batch)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
