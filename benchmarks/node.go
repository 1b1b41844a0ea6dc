package benchmarks

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/stages"
)

// startNode starts a node as koistream serve would, on dir: embedded
// broker with fsync on, free ports, the bench webhook secret, logs
// discarded. It returns once /healthz answers 200 (segments and projection
// runner consuming).
func startNode(ctx context.Context, dir string) (*pipeline.Node, error) {
	return startNodeWith(ctx, dir, nil)
}

// startNodeWith is startNode with the given segments (nil: the default
// chain, empty: none, an ingest-only node).
func startNodeWith(ctx context.Context, dir string, segments []stages.Segment) (*pipeline.Node, error) {
	node, err := pipeline.Start(ctx, pipeline.Config{
		DataDir:        dir,
		Listen:         "127.0.0.1:0",
		KafkaListen:    "127.0.0.1:0",
		Streams:        pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
		WebhookSecrets: [][]byte{[]byte(BenchSecret)},
		Segments:       segments,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + node.Addr() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return node, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = node.Shutdown(context.Background())
			return nil, fmt.Errorf("node not healthy within a minute (last error: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDrained polls node.Drained every interval until it reports true, and
// returns when that was. Every 5 s it logs how far the projection is and
// where the process's memory is (see memoryAttrs).
func waitDrained(ctx context.Context, node *pipeline.Node, interval time.Duration, log *slog.Logger, what string) (time.Time, error) {
	lastLog := time.Now()
	for {
		ok, err := node.Drained(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn(what+": drained check failed, retrying", "err", err)
		}
		if ok {
			return time.Now(), nil
		}
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		if time.Since(lastLog) >= 5*time.Second {
			log.Info(what+": waiting for the pipeline to drain",
				append([]any{"projection_lag", node.ProjectionLag()}, memoryAttrs(node)...)...)
			lastLog = time.Now()
		}
		time.Sleep(interval)
	}
}
