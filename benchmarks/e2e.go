package benchmarks

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics"
)

const (
	// e2eBatch is how many raw records one Publish call of the e2e
	// measurement carries.
	e2eBatch = 250
	// e2eWarmup is how many deliveries go through the node before the
	// clock starts, so consumer group joins are not measured.
	e2eWarmup = 8
	// drainPoll is how often Drained is polled.
	drainPoll = 10 * time.Millisecond
)

// e2eResult is what measureE2E measured.
type e2eResult struct {
	elapsed      time.Duration // first append to drained
	appended     time.Duration // first append to last acknowledgement
	lagDrain     time.Duration // last acknowledgement to drained
	materialized int           // event RIDs in the cache, warm-up excluded
	deadLetters  int64         // records on the dead-letter topic

	cpu cpuUse // first append to drained

	state, cache dbStats // the node's two databases, when drained

	pacedRate   float64       // deliveries/s of the paced phase
	pacedEvents int           // deliveries appended in it
	pacedDrain  time.Duration // its last acknowledgement to drained
}

// measureE2E starts a node on dir (see startNode), sends e2eWarmup
// deliveries through it and waits until it has drained, then appends the
// raw records of deliveries [0, n) of c with topics.Publisher exactly as the
// webhook source writes them (same key, headers and value), from
// appendGoroutines goroutines in batches of e2eBatch, while the node runs.
// The clock runs from the first append until Node.Drained, polled every
// drainPoll once every append was acknowledged, reports that the stages
// and the cache projection have caught up with the log.
func measureE2E(ctx context.Context, dir string, c *Corpus, n int, log *slog.Logger) (e2eResult, error) {
	var res e2eResult
	node, err := startNode(ctx, dir)
	if err != nil {
		return res, fmt.Errorf("e2e: %w", err)
	}
	defer node.Shutdown(context.Background())
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: node.KafkaAddrs()}, nil)
	if err != nil {
		return res, err
	}
	defer pub.Close()
	raw := node.Topics().Raw

	// Warm-up: deliveries n.. are not among the measured ones.
	if err := appendAll(ctx, pub, raw, c, n, n+e2eWarmup, e2eWarmup); err != nil {
		return res, fmt.Errorf("e2e warm-up: %w", err)
	}
	if _, err := waitDrained(ctx, node, drainPoll, log, "e2e warm-up"); err != nil {
		return res, err
	}

	before := takeCPUSnapshot()
	start := before.at
	if err := appendAll(ctx, pub, raw, c, 0, n, e2eBatch); err != nil {
		return res, fmt.Errorf("e2e: append: %w", err)
	}
	acked := time.Now()
	log.Info("e2e: all records appended", "events", n, "seconds", acked.Sub(start).Seconds())
	drained, err := waitDrained(ctx, node, drainPoll, log, "e2e")
	if err != nil {
		return res, err
	}
	res.cpu = before.until(takeCPUSnapshot())
	stateM, cacheM := node.StateMetrics(), node.ProjectionMetrics()
	res.state, res.cache = statsOf(stateM), statsOf(cacheM)
	log.Debug("e2e: stage state database when drained\n" + stateM.String())
	log.Debug("e2e: cache projection database when drained\n" + cacheM.String())
	res.elapsed, res.appended, res.lagDrain = drained.Sub(start), acked.Sub(start), drained.Sub(acked)
	log.Info("e2e: drained", "cpu", res.cpu.String())

	rids, err := node.Cache().RIDs([]string{github.TypeEvent})
	if err != nil {
		return res, fmt.Errorf("e2e: count event RIDs: %w", err)
	}
	res.materialized = len(rids) - e2eWarmup

	// Paced: input the pipeline can keep up with, so the lag after the
	// last append is what a steady stream leaves behind, not a backlog.
	res.pacedRate = pacedShare * float64(n) / res.elapsed.Seconds()
	res.pacedEvents = min(n, int(res.pacedRate*pacedDuration.Seconds()))
	from := n + e2eWarmup
	if err := appendPaced(ctx, pub, raw, c, from, from+res.pacedEvents, res.pacedRate); err != nil {
		return res, fmt.Errorf("e2e paced: append: %w", err)
	}
	pacedAcked := time.Now()
	drained, err = waitDrained(ctx, node, drainPoll, log, "e2e paced")
	if err != nil {
		return res, err
	}
	res.pacedDrain = drained.Sub(pacedAcked)
	log.Info("e2e paced: drained", "rate", res.pacedRate, "events", res.pacedEvents, "lag_drain_ms", res.pacedDrain.Milliseconds())
	if res.deadLetters, err = deadLetters(ctx, node); err != nil {
		return res, err
	}
	return res, nil
}

const (
	// pacedShare is the paced phase's input rate as a share of the e2e
	// throughput just measured.
	pacedShare = 0.5
	// pacedDuration is how long the paced phase appends.
	pacedDuration = 10 * time.Second
	// pacedTick is how often it appends a batch.
	pacedTick = 10 * time.Millisecond
)

// appendPaced appends deliveries [from, to) of c at rate per second, a
// batch every pacedTick, each batch acknowledged before the next.
func appendPaced(ctx context.Context, pub *topics.Publisher, topic string, c *Corpus, from, to int, rate float64) error {
	start := time.Now()
	for i := from; i < to; {
		due := from + int(rate*time.Since(start).Seconds())
		if due > i {
			hi := min(due, to)
			msgs, _ := rawMessages(c, i, hi)
			if err := pub.Publish(topic, msgs...); err != nil {
				return err
			}
			i = hi
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pacedTick):
		}
	}
	return nil
}

// deadLetters counts the records on the node's dead-letter topic.
func deadLetters(ctx context.Context, node *pipeline.Node) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(node.KafkaAddrs()...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, node.Topics().Dead)
	if err != nil {
		return 0, fmt.Errorf("dead-letter topic: %w", err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	return total, nil
}
