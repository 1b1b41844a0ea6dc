package topics

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

const benchPayloadSize = 1024

func benchPayload() []byte {
	p := make([]byte, benchPayloadSize)
	_, _ = rand.Read(p)
	return p
}

func benchMessages(n int, payload []byte) []*message.Message {
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
		msgs[i].Metadata.Set("X-GitHub-Event", "push")
	}
	return msgs
}

func reportRate(b *testing.B, msgs int) {
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPublish measures Publish of 1 KiB messages against the embedded
// broker, with fsync before acknowledgement (as in production) and without.
// "parallel" runs 16 publishing goroutines per CPU, as concurrent webhook
// deliveries would.
func BenchmarkPublish(b *testing.B) {
	payload := benchPayload()
	for _, sync := range []bool{true, false} {
		addr := startTestBrokerSync(b, sync)
		for _, batch := range []int{1, 100} {
			name := fmt.Sprintf("fsync=%t/batch=%d", sync, batch)
			b.Run(name, func(b *testing.B) {
				topic := uniqueTopic(b)
				createTopic(b, addr, topic, DefaultPartitions)
				pub := newTestPublisher(b, addr)
				if err := pub.Publish(topic, benchMessages(1, payload)...); err != nil { // load metadata
					b.Fatal(err)
				}
				b.SetBytes(int64(batch * benchPayloadSize))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := pub.Publish(topic, benchMessages(batch, payload)...); err != nil {
						b.Fatal(err)
					}
				}
				reportRate(b, b.N*batch)
			})
		}
		b.Run(fmt.Sprintf("fsync=%t/batch=1/parallel", sync), func(b *testing.B) {
			topic := uniqueTopic(b)
			createTopic(b, addr, topic, DefaultPartitions)
			pub := newTestPublisher(b, addr)
			if err := pub.Publish(topic, benchMessages(1, payload)...); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(benchPayloadSize)
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := pub.Publish(topic, benchMessages(1, payload)...); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b, b.N)
		})
	}
}

// BenchmarkSubscribe measures consuming b.N pre-produced 1 KiB messages from
// an 8-partition topic through one Subscribe call, acking each, as a
// watermill handler would. The clock starts at the first message, so group
// join time is excluded.
func BenchmarkSubscribe(b *testing.B) {
	addr := startTestBroker(b)
	payload := benchPayload()
	b.Run("ack", func(b *testing.B) {
		topic := uniqueTopic(b)
		createTopic(b, addr, topic, DefaultPartitions)
		pub := newTestPublisher(b, addr)
		for left := b.N; left > 0; left -= 1000 {
			if err := pub.Publish(topic, benchMessages(min(left, 1000), payload)...); err != nil {
				b.Fatal(err)
			}
		}
		sub := newTestSubscriber(b, addr, "bench-"+watermill.NewShortUUID())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := sub.Subscribe(ctx, topic)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(benchPayloadSize)
		b.ReportAllocs()
		timeout := time.After(5 * time.Minute)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			select {
			case msg := <-ch:
				msg.Ack()
			case <-timeout:
				b.Fatalf("received %d of %d", i, b.N)
			}
			if i == 0 {
				b.ResetTimer()
			}
		}
		b.StopTimer()
		reportRate(b, b.N)
	})
}
