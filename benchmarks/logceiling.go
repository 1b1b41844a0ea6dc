package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
)

const (
	// logCeilingBatch is how many records one Publish call of the log
	// ceiling carries.
	logCeilingBatch = 1000
	// appendGoroutines is how many goroutines append records concurrently,
	// in the log ceiling and e2e alike.
	appendGoroutines = 4
)

// logResult is what measureLogCeiling measured.
type logResult struct {
	elapsed time.Duration // first produce to last record consumed
	produce time.Duration // first produce to last acknowledgement
}

// measureLogCeiling produces deliveries [0, n) of c as raw records (what
// the webhook source writes) with topics.Publisher to an 8-partition topic
// on a fresh embedded broker in dir (fsync before acknowledging, the
// production setting), appendGoroutines goroutines at logCeilingBatch
// records per Publish, while one franz-go consumer reads them back. The
// clock runs from the first produce to the last record consumed: moving the
// records through the log once, with no stages and no projection.
func measureLogCeiling(ctx context.Context, dir string, c *Corpus, n int) (logResult, error) {
	broker, err := topics.StartEmbedded(topics.EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return logResult{}, err
	}
	defer broker.Close()
	brokers := []string{broker.Addr()}
	const topic = "koistream.raw"
	if err := topics.EnsureTopics(ctx, brokers, []string{topic}, topics.DefaultPartitions); err != nil {
		return logResult{}, err
	}
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: brokers}, nil)
	if err != nil {
		return logResult{}, err
	}
	defer pub.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return logResult{}, err
	}
	defer cl.Close()

	var res logResult
	consumed := make(chan error, 1)
	start := time.Now()
	go func() {
		for got := 0; got < n; {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				consumed <- err
				return
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) { ferr = err })
			if ferr != nil && !errors.Is(ferr, context.Canceled) {
				consumed <- fmt.Errorf("log ceiling: consume: %w", ferr)
				return
			}
			got += fs.NumRecords()
		}
		consumed <- nil
	}()
	if err := appendAll(ctx, pub, topic, c, 0, n, logCeilingBatch); err != nil {
		return res, fmt.Errorf("log ceiling: %w", err)
	}
	res.produce = time.Since(start)
	if err := <-consumed; err != nil {
		return res, err
	}
	res.elapsed = time.Since(start)
	return res, nil
}

// appendAll publishes the raw records of deliveries [from, to) of c to
// topic from appendGoroutines goroutines, batch records per Publish call,
// and returns once every record is acknowledged or one failed.
func appendAll(ctx context.Context, pub *topics.Publisher, topic string, c *Corpus, from, to, batch int) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
		failed  atomic.Bool
	)
	next.Store(int64(from))
	for range appendGoroutines {
		wg.Go(func() {
			for ctx.Err() == nil && !failed.Load() {
				lo := int(next.Add(int64(batch))) - batch
				if lo >= to {
					return
				}
				msgs, _ := rawMessages(c, lo, min(lo+batch, to))
				if err := pub.Publish(topic, msgs...); err != nil {
					errOnce.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
