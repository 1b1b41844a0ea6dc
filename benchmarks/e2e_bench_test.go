package benchmarks_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics"
)

// corpus is the webhook payloads of the normalizer's testdata: real
// shapes of push, issues, pull_request, release, star and the rest.
func corpus(b *testing.B) []delivery {
	b.Helper()
	files, err := filepath.Glob("../stages/github/testdata/*.json")
	if err != nil || len(files) == 0 {
		b.Fatalf("no corpus: %v", err)
	}
	var out []delivery
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		event, _, _ := strings.Cut(filepath.Base(f), ".")
		out = append(out, delivery{event: event, body: body})
	}
	return out
}

type delivery struct {
	event string
	body  []byte
}

// rawMessages builds n raw records the way the webhook source writes them.
func rawMessages(c []delivery, n, seq int) ([]*message.Message, int) {
	msgs := make([]*message.Message, n)
	bytes := 0
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range msgs {
		d := c[(seq+i)%len(c)]
		id := fmt.Sprintf("bench-%d", seq+i)
		m := message.NewMessage(watermill.NewUUID(), d.body)
		m.Metadata = message.Metadata{
			topics.MetadataKey:          id,
			topics.HeaderSourceKind:     topics.SourceGitHubWebhook,
			topics.HeaderReceivedAt:     now,
			topics.HeaderContentType:    "application/json",
			topics.HeaderGitHubEvent:    d.event,
			topics.HeaderGitHubDelivery: id,
		}
		msgs[i] = m
		bytes += len(d.body)
	}
	return msgs, bytes
}

const batch = 100

// BenchmarkPipelineE2E appends b.N raw webhook records in batches of 100 and
// measures until every one is materialised as an event RID in the cache.
func BenchmarkPipelineE2E(b *testing.B) {
	c := corpus(b)
	ctx := context.Background()
	node, err := pipeline.Start(ctx, pipeline.Config{
		DataDir:     b.TempDir(),
		Listen:      "127.0.0.1:0",
		KafkaListen: "127.0.0.1:0",
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Shutdown(ctx)
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: node.KafkaAddrs()}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()

	b.ResetTimer()
	payload := 0
	for sent := 0; sent < b.N; sent += batch {
		msgs, n := rawMessages(c, min(batch, b.N-sent), sent)
		payload += n
		if err := pub.Publish(node.Topics().Raw, msgs...); err != nil {
			b.Fatal(err)
		}
	}
	for {
		got, err := node.Cache().RIDs([]string{"orn:github.event"})
		if err != nil {
			b.Fatal(err)
		}
		if len(got) >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "events/s")
	b.ReportMetric(float64(payload)/sec/1e6, "payloadMB/s")
}

// BenchmarkLogCeiling is the baseline: the same raw records produced in
// batches of 100 and consumed back once with franz-go through the same
// kind of broker (embedded, fsync on), with no stages and no projection.
func BenchmarkLogCeiling(b *testing.B) {
	c := corpus(b)
	broker, err := topics.StartEmbedded(topics.EmbeddedConfig{DataDir: b.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	ctx := context.Background()
	if err := topics.EnsureTopics(ctx, []string{broker.Addr()}, []string{"ceiling"}, topics.DefaultPartitions); err != nil {
		b.Fatal(err)
	}
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: []string{broker.Addr()}}, watermill.NopLogger{})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.ConsumeTopics("ceiling"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()

	b.ResetTimer()
	for sent := 0; sent < b.N; sent += batch {
		msgs, _ := rawMessages(c, min(batch, b.N-sent), sent)
		if err := pub.Publish("ceiling", msgs...); err != nil {
			b.Fatal(err)
		}
	}
	for got := 0; got < b.N; {
		got += cl.PollFetches(ctx).NumRecords()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
