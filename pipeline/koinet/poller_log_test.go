package koinet

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/koi"
	rawkoi "github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/topicstest"
)

// TestPollerIntoTheLog runs a PARTIAL node's poller against a FULL peer
// with the real raw topic (embedded broker, koistream's Publisher): every
// page is in the log, acknowledged by the broker, before the poll that
// acknowledges it to the peer, and the records parse as koi-net inputs
// from the peer with the answer as received.
func TestPollerIntoTheLog(t *testing.T) {
	_, addr := topicstest.StartBroker(t, topicstest.NoSync())
	const topic = "koistream.raw"
	topicstest.CreateTopic(t, addr, topic, 2)
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: []string{addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	adm := kadm.NewClient(topicstest.Client(t, addr))

	full := newPeer(t, "full", "orn:github.event")
	self := newIdent(t, "me", "")
	full.world.addNode(self)
	pages := [][]byte{page(t, "orn:github.event:o/r:1"), page(t, "orn:github.event:o/r:2", "orn:github.event:o/r:3")}
	var mu sync.Mutex
	var inLog []int64 // records in the topic when each poll arrived
	var errs []error
	full.mu.Lock()
	full.pages = slices.Clone(pages)
	full.onPoll = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ends, err := adm.ListEndOffsets(ctx, topic)
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		inLog = append(inLog, n)
	}
	full.mu.Unlock()

	w := newWorld(t)
	w.addNode(self)
	w.addNode(full.ident)
	w.addEdge(full.rid, self.rid, projections.EdgePoll, projections.EdgeApproved, "orn:github.event")
	n, err := New(Config{
		Self: self.self(), Cache: w.cache, Graph: w.graph, Publisher: pub, RawTopic: topic,
		KOI: KOIConfig{NodeType: NodeTypePartial, PollingInterval: time.Hour}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	runNetwork(t, n) // the poller polls once at start, then every hour

	waitFor(t, 30*time.Second, "the poller to drain the peer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(inLog) == 3
	})
	mu.Lock()
	got, gotErrs := slices.Clone(inLog), errs
	mu.Unlock()
	if len(gotErrs) > 0 {
		t.Fatal(gotErrs)
	}
	if want := []int64{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("records in the log at each poll = %v, want %v", got, want)
	}
	recs := topicstest.ReadAll(t, addr, topic)
	if len(recs) != 2 {
		t.Fatalf("records = %d, want 2", len(recs))
	}
	var payloads []string
	for _, r := range recs {
		in, err := rawkoi.Parse(mustRaw(t, r))
		if err != nil {
			t.Fatal(err)
		}
		if in.Via != rawkoi.ViaPoll || in.Sender != full.rid || in.Receiver != self.rid {
			t.Errorf("record via %s sender %s receiver %s", in.Via, in.Sender, in.Receiver)
		}
		env, err := koi.ParseEnvelope(in.Body)
		if err != nil {
			t.Fatalf("record body is not the answer as received: %v", err)
		}
		payloads = append(payloads, string(env.Payload))
	}
	slices.Sort(payloads) // two partitions: the order across them is not kept
	want := []string{string(pages[0]), string(pages[1])}
	slices.Sort(want)
	if !slices.Equal(payloads, want) {
		t.Errorf("payloads =\n%v\nwant\n%v", payloads, want)
	}
}

// mustRaw reads a raw-topic record as its consumers do.
func mustRaw(t *testing.T, r *kgo.Record) raw.Record {
	t.Helper()
	md := message.Metadata{}
	for _, h := range r.Headers {
		md[h.Key] = string(h.Value)
	}
	md[topics.RecordKey] = string(r.Key)
	rec, err := raw.Parse(&message.Message{Payload: r.Value, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
