package benchmarks

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics"
)

// sinkBacklog is what measureSinkBacklog measured: the pipeline's own rate
// over the deliveries (e2e, events-topic records per second, from the first
// append until drained) and, on the same node afterwards, how fast a sink
// delivered the whole events topic as a backlog from its first position.
// A sink that drains a backlog at least as fast as the pipeline fills the
// topic is not the pipeline's bottleneck.
type sinkBacklog struct {
	records     int64         // events-topic records (transaction markers excluded)
	e2e         time.Duration // first append to drained
	sink        time.Duration // sink start to the last record delivered
	first       time.Duration // sink start to the first record delivered
	e2eRate     float64       // records/s
	sinkRate    float64       // records/s
	deliveries  int
	deadLetters int64
}

// measureSinkBacklog starts a node on dir with no sink, appends deliveries
// [0, n) of c as the webhook source does and waits until the node drained
// (the e2e figure of the run), counts the records of the events topic, and
// then runs the sink (run, until its ctx ends) and waits until delivered
// reports every record delivered.
func measureSinkBacklog(ctx context.Context, dir string, c *Corpus, n int, run func(ctx context.Context, node *pipeline.Node) error, delivered func() int64, log *slog.Logger) (sinkBacklog, error) {
	res := sinkBacklog{deliveries: n}
	node, err := startNode(ctx, dir)
	if err != nil {
		return res, fmt.Errorf("sink backlog: %w", err)
	}
	defer node.Shutdown(context.Background())
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: node.KafkaAddrs()}, nil)
	if err != nil {
		return res, err
	}
	defer pub.Close()
	start := time.Now()
	if err := appendAll(ctx, pub, node.Topics().Raw, c, 0, n, e2eBatch); err != nil {
		return res, fmt.Errorf("sink backlog: append: %w", err)
	}
	drained, err := waitDrained(ctx, node, drainPoll, log, "sink backlog e2e")
	if err != nil {
		return res, err
	}
	res.e2e = drained.Sub(start)
	if res.records, err = dataRecords(ctx, node.KafkaAddrs(), node.Topics().Events); err != nil {
		return res, err
	}
	if res.deadLetters, err = deadLetters(ctx, node); err != nil {
		return res, err
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	sinkStart := time.Now()
	go func() { done <- run(sctx, node) }()
	deadline := time.After(10 * time.Minute)
	for delivered() < res.records {
		if res.first == 0 && delivered() > 0 {
			res.first = time.Since(sinkStart)
		}
		select {
		case err := <-done:
			return res, fmt.Errorf("sink stopped after %d of %d records: %w", delivered(), res.records, err)
		case <-deadline:
			return res, fmt.Errorf("sink delivered %d of %d records in 10 minutes", delivered(), res.records)
		case <-time.After(5 * time.Millisecond):
		}
	}
	res.sink = time.Since(sinkStart)
	res.e2eRate = float64(res.records) / res.e2e.Seconds()
	res.sinkRate = float64(res.records) / res.sink.Seconds()
	return res, nil
}

// dataRecords counts the records of topic that are not transaction
// markers, read read_committed to its end.
func dataRecords(ctx context.Context, brokers []string, topic string) (int64, error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(append(topics.FetchOpts(), kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var n int64
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				n++
			}
			if end, ok := left[r.Partition]; ok && r.Offset >= end-1 {
				delete(left, r.Partition)
			}
		})
	}
	return n, nil
}
