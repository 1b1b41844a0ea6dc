package eventhive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/koistream/koistream/pipeline/eventhive"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/topicstest"
)

// benchBatch is the size of the batches the benchmark delivers: a quarter
// of a BatchConsumer's poll.
const benchBatch = 256

// deliverySetup returns a Publisher to a fresh redis-server and a batch of
// n push events (the contents of testdata's push webhook) at offsets
// from 0.
func deliverySetup(tb testing.TB, secret string, n int) (*eventhive.Publisher, *topicstest.Redis, []topics.Batch) {
	tb.Helper()
	r := topicstest.StartRedis(tb)
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		tb.Fatal(err)
	}
	client := redis.NewClient(opts)
	tb.Cleanup(func() { client.Close() })
	p, err := eventhive.NewPublisher(client, eventhive.PublisherConfig{Secret: secret, Name: "bench", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join("testdata", "push.multiple-commits.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		tb.Fatal(err)
	}
	b := topics.Batch{Topic: "koistream.events", Partition: 0}
	for i := range n {
		m := pushEvent(tb, "orn:github.event:koi-garden/pond-sensor:"+strconv.Itoa(i), compact.Bytes(), int64(i))
		b.Messages = append(b.Messages, m)
	}
	return p, r, []topics.Batch{b}
}

// TestDeliver: Deliver PUBLISHes a whole batch (plaintext and sealed) and
// a receiver gets every message, in order; it is the benchmark's path,
// checked.
func TestDeliver(t *testing.T) {
	for _, secret := range []string{"", hiveSecret} {
		t.Run("secret="+strconv.FormatBool(secret != ""), func(t *testing.T) {
			p, r, batches := deliverySetup(t, secret, 50)
			got := listen(t, r.URL, "koistream/github/*")
			if err := p.Deliver(context.Background(), batches); err != nil {
				t.Fatal(err)
			}
			codec := eventhive.NewCodec(secret)
			for i, m := range receive(t, got, 50) {
				plain, _, err := codec.Open([]byte(m.Payload))
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if hm := checkMessage(t, m.Channel, plain); hm.RID != "orn:github.event:koi-garden/pond-sensor:"+strconv.Itoa(i) {
					t.Fatalf("message %d is about %s: out of order", i, hm.RID)
				}
			}
		})
	}
}

// TestDeliverRedisDown: with Redis gone Deliver fails (the consumer then
// offers the batch again and commits nothing), and succeeds once it is
// back.
func TestDeliverRedisDown(t *testing.T) {
	p, r, batches := deliverySetup(t, "", 3)
	r.Stop()
	if err := p.Deliver(context.Background(), batches); err == nil {
		t.Fatal("Deliver with Redis stopped = nil, want an error")
	}
	r.Restart()
	got := listen(t, r.URL, "koistream/github/*")
	if err := p.Deliver(context.Background(), batches); err != nil {
		t.Fatalf("Deliver after the restart: %v", err)
	}
	receive(t, got, 3)
}

// BenchmarkEventHivePublish measures events delivered to a real
// redis-server per second through Publisher.Deliver (encoding, sealing
// with a secret, one pipelined round trip per batch of benchBatch), with
// a push webhook's payload as each event's contents. Nobody subscribes:
// Redis's fan-out to subscribers is its own cost, not the sink's.
func BenchmarkEventHivePublish(b *testing.B) {
	for _, secret := range []string{"", hiveSecret} {
		b.Run("secret="+strconv.FormatBool(secret != ""), func(b *testing.B) {
			p, _, batches := deliverySetup(b, secret, benchBatch)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Deliver(ctx, batches); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
