package benchmarks

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/stages"
)

// BenchmarkPipelineE2E is the e2e measurement of Run over b.N deliveries
// of the generated corpus: raw records appended to a running node (broker
// fsync on) as the webhook source appends them, until Node.Drained reports
// every stage and the cache projection caught up. Run it with a fixed
// count, e.g. -benchtime 3000x; b.N=1 only warms up.
func BenchmarkPipelineE2E(b *testing.B) {
	c := benchCorpus(b)
	b.SetBytes(int64(c.Stats(c.Len()).MeanBytes))
	b.ResetTimer()
	res, err := measureE2E(context.Background(), b.TempDir(), c, b.N, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if res.materialized != b.N {
		b.Fatalf("%d of %d deliveries materialized (%d dead letters)", res.materialized, b.N, res.deadLetters)
	}
	b.ReportMetric(float64(b.N)/res.elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(res.lagDrain.Milliseconds()), "lag-drain-ms")
}

// BenchmarkLogCeiling is the log_ceiling measurement of Run over b.N
// deliveries: the same raw records produced in batches of 1000 from four
// goroutines to a fresh embedded broker (fsync on) and consumed back once
// with franz-go, with no stages and no projection.
func BenchmarkLogCeiling(b *testing.B) {
	c := benchCorpus(b)
	b.SetBytes(int64(c.Stats(c.Len()).MeanBytes))
	b.ResetTimer()
	res, err := measureLogCeiling(context.Background(), b.TempDir(), c, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/res.elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/res.produce.Seconds(), "produce-events/s")
}

// BenchmarkPebbleCeiling is the pebble_ceiling measurement of Run over b.N
// deliveries: the cache projection's writes for the KOI events the stages
// produce for them, in fsynced batches of 1000 bundles.
func BenchmarkPebbleCeiling(b *testing.B) {
	c := benchCorpus(b)
	sr, err := measureStagesCPU(context.Background(), c, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(c.Stats(c.Len()).MeanBytes))
	b.ResetTimer()
	res, err := measurePebbleCeiling(b.TempDir(), sr.bundles, filler(c))
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/res.elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(res.bundles)/res.elapsed.Seconds(), "bundles/s")
}

// BenchmarkPebblePaced writes the same bundles as BenchmarkPebbleCeiling
// at the pace the pipeline delivers them (pebblePacedBundles per second)
// and reports the process's CPU per delivery and what Pebble wrote: the
// cache's cost as the running pipeline pays it. Its figures depend on the
// options in projections.StoreOptions, not on the clock.
func BenchmarkPebblePaced(b *testing.B) {
	c := benchCorpus(b)
	sr, err := measureStagesCPU(context.Background(), c, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	before := takeCPUSnapshot()
	res, err := measurePebbleWith(b.TempDir(), sr.bundles, filler(c),
		projections.StoreOptions(slog.New(slog.DiscardHandler)), pebblePacedBundles)
	if err != nil {
		b.Fatal(err)
	}
	cpu := before.until(takeCPUSnapshot())
	b.StopTimer()
	b.ReportMetric(float64(cpu.process.Microseconds())/float64(b.N), "cpu-us/event")
	b.ReportMetric(res.stats.compactedMB, "compacted-MB")
	b.ReportMetric(res.stats.flushedMB, "flushed-MB")
	b.Log(res.metrics)
}

// pebblePacedBundles is BenchmarkPebblePaced's pace: the e2e rate at 1M
// deliveries (~1,800/s) times the ~3 bundles each delivery yields.
const pebblePacedBundles = 5500

// BenchmarkHTTPIngest is the http_ingest measurement of Run: b.N signed
// webhooks posted to a fresh node over 64 keep-alive connections (8 with
// -short), until 202; "stages=on" with the default chain running meanwhile,
// "stages=off" against an ingest-only node (http_ingest_only).
func BenchmarkHTTPIngest(b *testing.B) {
	c := benchCorpus(b)
	conns := DefaultConnections
	if testing.Short() {
		conns = 8
	}
	for _, mode := range []struct {
		name     string
		segments []stages.Segment
	}{{"stages=on", nil}, {"stages=off", []stages.Segment{}}} {
		b.Run(mode.name, func(b *testing.B) {
			node, err := startNodeWith(context.Background(), b.TempDir(), mode.segments)
			if err != nil {
				b.Fatal(err)
			}
			defer node.Shutdown(context.Background())
			b.SetBytes(int64(c.Stats(c.Len()).MeanBytes))
			b.ResetTimer()
			res, err := postWebhooks(context.Background(), webhookURL(node), c, b.N, conns, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if res.errors > 0 {
				b.Fatalf("%d errors, first: %s", res.errors, res.firstErr)
			}
			b.ReportMetric(float64(res.accepted)/res.elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(nearestRank(res.latencies, 0.5))/1e6, "p50-ms")
			b.ReportMetric(float64(nearestRank(res.latencies, 0.99))/1e6, "p99-ms")
		})
	}
}
