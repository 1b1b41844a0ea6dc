package benchmarks

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/amqpsink"
	"github.com/koistream/koistream/pipeline/eventhive"
	"github.com/koistream/koistream/topics/topicstest"
)

// sinkDeliveries is how many deliveries the sink benchmarks send through
// the pipeline (KOISTREAM_BENCH_SINK_DELIVERIES); each makes about three
// events-topic records.
var sinkDeliveries = envInt("KOISTREAM_BENCH_SINK_DELIVERIES", 3000)

// BenchmarkSinkAMQP: the pipeline's e2e rate over the deliveries and, on the
// same node afterwards, the AMQP sink delivering the whole events topic to
// a real RabbitMQ with publisher confirms, counted by a consumer bound with
// "#": records/s of each and their ratio (sink/e2e ≥ 1 means the sink is
// not the bottleneck).
func BenchmarkSinkAMQP(b *testing.B) {
	rmq := topicstest.StartRabbitMQ(b)
	c := benchCorpus(b)
	for range b.N {
		var got atomic.Int64
		res, err := measureSinkBacklog(context.Background(), b.TempDir(), c, sinkDeliveries,
			func(ctx context.Context, node *pipeline.Node) error {
				if err := countAMQP(ctx, rmq.URL(), &got); err != nil {
					return err
				}
				s, err := amqpsink.New(amqpsink.Config{URL: rmq.URL(), Exchange: "bench", Persistent: true},
					amqpsink.Deps{Name: "bench", Brokers: node.KafkaAddrs(), EventsTopic: node.Topics().Events,
						Group: "bench.sink.amqp", Getenv: os.Getenv, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					return err
				}
				return s.Run(ctx)
			}, got.Load, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		reportSink(b, res)
	}
}

// BenchmarkSinkEventHive is BenchmarkSinkAMQP for the EventHive sink: the
// events topic PUBLISHed to a real Redis, counted by a PSUBSCRIBE client,
// plaintext and sealed (signed and encrypted).
func BenchmarkSinkEventHive(b *testing.B) {
	rds := topicstest.StartRedis(b)
	c := benchCorpus(b)
	for _, secret := range []string{"", "m1s3cr3t"} {
		name := "plaintext"
		if secret != "" {
			name = "sealed"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				var got atomic.Int64
				res, err := measureSinkBacklog(context.Background(), b.TempDir(), c, sinkDeliveries,
					func(ctx context.Context, node *pipeline.Node) error {
						if err := countRedis(ctx, rds.URL, &got); err != nil {
							return err
						}
						s, err := eventhive.NewSink(eventhive.SinkConfig{
							URL: rds.URL, Brokers: node.KafkaAddrs(), Group: "bench.sink.eventhive." + name,
							EventsTopic: node.Topics().Events,
							Publisher:   eventhive.PublisherConfig{Network: "bench", Secret: secret, Name: "bench", Logger: slog.New(slog.DiscardHandler)},
						})
						if err != nil {
							return err
						}
						return s.Run(ctx)
					}, got.Load, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				reportSink(b, res)
			}
		})
	}
}

// countRedis subscribes to every channel of the benchmark's network and
// counts the messages until ctx ends; it returns once subscribed.
func countRedis(ctx context.Context, url string, n *atomic.Int64) error {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	cl := redis.NewClient(opts)
	ps := cl.PSubscribe(ctx, "bench/*")
	if _, err := ps.Receive(ctx); err != nil {
		cl.Close()
		return err
	}
	go func() {
		defer cl.Close()
		defer ps.Close()
		count(ctx, ps.Channel(redis.WithChannelSize(1<<16)), n)
	}()
	return nil
}

// count adds one to n for each value received on ch until ch closes or ctx
// ends.
func count[T any](ctx context.Context, ch <-chan T, n *atomic.Int64) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			n.Add(1)
		}
	}
}

// countAMQP declares a queue bound with "#" to the benchmark's exchange
// and counts what reaches it until ctx ends.
func countAMQP(ctx context.Context, url string, n *atomic.Int64) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return err
	}
	if err := ch.ExchangeDeclare("bench", "topic", true, false, false, false, nil); err != nil {
		conn.Close()
		return err
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err == nil {
		err = ch.QueueBind(q.Name, "#", "bench", false, nil)
	}
	if err != nil {
		conn.Close()
		return err
	}
	msgs, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		conn.Close()
		return err
	}
	go func() {
		defer conn.Close()
		count(ctx, msgs, n)
	}()
	return nil
}

func reportSink(b *testing.B, res sinkBacklog) {
	b.ReportMetric(res.e2eRate, "e2e_records/s")
	b.ReportMetric(res.sinkRate, "sink_records/s")
	b.ReportMetric(res.sinkRate/res.e2eRate, "sink/e2e")
	b.Logf("%d deliveries, %d events records (%d dead letters): e2e %.0f records/s in %s, sink %.0f records/s in %s (first delivery after %s)",
		res.deliveries, res.records, res.deadLetters, res.e2eRate, res.e2e.Round(1e6), res.sinkRate, res.sink.Round(1e6), res.first.Round(1e6))
}
