package topics_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/topicstest"
)

// TestLargeRecordsRoundTrip publishes records from a few bytes up to
// MaxRecordBytes through the Publisher into a topic EnsureTopics created
// on the embedded broker, and reads them back with the fetch bounds every
// consumer of a node uses (FetchOpts: 4 MiB a fetch). Kafka's default
// limits (1,048,588 bytes at the broker and the topic, 1,000,012 in
// franz-go's producer) refused every record of about 1 MiB; a fetch
// returns at least the first batch even when it is larger than the fetch
// bound, so the consumers need no larger bound.
func TestLargeRecordsRoundTrip(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const topic = "large"
	topicstest.CreateTopic(t, addr, topic, 2)
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: []string{addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })

	cases := []struct {
		name string
		size int
	}{
		{"small", 100},
		{"1 MiB", 1 << 20},
		{"5 MiB", 5 << 20},
		{"25 MiB", 25 << 20},
		{"MaxRecordBytes", topics.MaxRecordBytes},
	}
	want := map[string][]byte{}
	for i, c := range cases {
		t.Run("publish "+c.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{byte('a' + i)}, c.size)
			// A small record with each large one, so that fetches carry
			// records beside the large ones.
			msgs := []*message.Message{
				message.NewMessage(c.name, payload),
				message.NewMessage(c.name+" small", []byte("small")),
			}
			msgs[0].Metadata.Set(topics.RecordKey, c.name)
			msgs[1].Metadata.Set(topics.RecordKey, c.name+" small")
			if err := pub.Publish(topic, msgs...); err != nil {
				t.Fatalf("publish a %d-byte record: %v", c.size, err)
			}
			want[c.name] = payload
			want[c.name+" small"] = []byte("small")
		})
	}

	cl := topicstest.Client(t, addr, append(topics.FetchOpts(), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string][]byte{}
	for len(got) < len(want) && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t2 string, p int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("fetch %s/%d: %v", t2, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = r.Value })
	}
	for _, c := range cases {
		t.Run("fetch "+c.name, func(t *testing.T) {
			if !bytes.Equal(got[c.name], want[c.name]) {
				t.Fatalf("record of %d bytes: got %d bytes back", c.size, len(got[c.name]))
			}
		})
	}
}

// TestEnsureTopicsMaxMessageBytes: the topics EnsureTopics creates allow a
// batch of MaxBatchBytes, a topic an older build created with Kafka's
// default limit is raised to it, and a larger limit an operator set stays.
func TestEnsureTopicsMaxMessageBytes(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	adm := kadm.NewClient(topicstest.Client(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), topicstest.Timeout)
	defer cancel()
	cases := []struct {
		name     string
		existing string // the topic's max.message.bytes before; "" = no topic
		want     int
	}{
		{"new topic", "", topics.MaxBatchBytes},
		{"topic of an older build", "1048588", topics.MaxBatchBytes},
		{"topic of an older build without the setting", "-", topics.MaxBatchBytes},
		{"operator's larger limit", strconv.Itoa(64 << 20), 64 << 20},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topic := fmt.Sprintf("t%d", i)
			switch c.existing {
			case "":
			case "-":
				if _, err := adm.CreateTopic(ctx, 1, -1, nil, topic); err != nil {
					t.Fatal(err)
				}
			default:
				if _, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{topics.MaxMessageBytesConfig: &c.existing}, topic); err != nil {
					t.Fatal(err)
				}
			}
			if err := topics.EnsureTopics(ctx, []string{addr}, []string{topic}, 2); err != nil {
				t.Fatal(err)
			}
			rcs, err := adm.DescribeTopicConfigs(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := rcs.On(topic, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, cfg := range rc.Configs {
				if cfg.Key == topics.MaxMessageBytesConfig {
					got = cfg.MaybeValue()
				}
			}
			if got != strconv.Itoa(c.want) {
				t.Fatalf("%s = %q, want %d", topics.MaxMessageBytesConfig, got, c.want)
			}
		})
	}
}
