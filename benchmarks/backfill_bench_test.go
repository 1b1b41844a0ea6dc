package benchmarks

import (
	"context"
	"log/slog"
	"testing"
)

// The backfill benchmarks (issue 13) backfill one generated repository from
// fakegithub. Its size defaults to a realistic busy repository and
// KOISTREAM_BENCH_BACKFILL_ISSUES, _PULLS, _COMMITS and _EVENTS change it;
// KOISTREAM_BENCH_BACKFILL_WEBHOOKS is how many webhook deliveries the
// side-by-side e2e measurement of BenchmarkBackfillPipeline appends
// (default: as many as the repository has items). Each iteration is one
// whole measurement: run them with -benchtime 1x.
var backfillBenchSize = backfillSize{
	Issues:  envInt("KOISTREAM_BENCH_BACKFILL_ISSUES", 1_000),
	Pulls:   envInt("KOISTREAM_BENCH_BACKFILL_PULLS", 300),
	Commits: envInt("KOISTREAM_BENCH_BACKFILL_COMMITS", 2_000),
	Events:  envInt("KOISTREAM_BENCH_BACKFILL_EVENTS", 300),
}

// BenchmarkBackfillRequests reports what the backfill spends in requests:
// a first pass over the repository (req/item: requests per item of
// backfillSize.items) and a second pass over the unchanged repository a
// node interval later (pass2-requests, how many of them were answered 304,
// pass2-304s, and were conditional, pass2-conditional). The target is one
// conditional request per list answered 304 and nothing else; the second
// pass's requests are logged. Each iteration is one fresh repository.
func BenchmarkBackfillRequests(b *testing.B) {
	s := backfillBenchSize
	var first, second passRequests
	for range b.N {
		res, err := measureBackfillRequests(context.Background(), b.TempDir(), s)
		if err != nil {
			b.Fatal(err)
		}
		first.requests += res.first.requests
		first.notModified += res.first.notModified
		second.requests += res.second.requests
		second.notModified += res.second.notModified
		second.conditional += res.second.conditional
		first.log, second.log = res.first.log, res.second.log
	}
	b.StopTimer()
	items := float64(s.items() * b.N)
	b.Logf("repository: %s (%d items); first pass %d requests (%s), %d answered 304; second pass:\n%s",
		s, s.items(), first.requests/b.N, first.byList(), first.notModified/b.N, second)
	b.ReportMetric(float64(first.requests)/items, "req/item")
	b.ReportMetric(float64(first.requests)/float64(b.N), "pass1-requests")
	b.ReportMetric(float64(second.requests)/items, "pass2-req/item")
	b.ReportMetric(float64(second.requests)/float64(b.N), "pass2-requests")
	b.ReportMetric(float64(second.notModified)/float64(b.N), "pass2-304s")
	b.ReportMetric(float64(second.conditional)/float64(b.N), "pass2-conditional")
	b.ReportMetric(0, "ns/op") // the time of two passes with broker starts says nothing
}

// BenchmarkBackfillPipeline reports how fast a node moves a backfill
// through the pipeline, side by side with the webhook e2e measurement of
// BenchmarkPipelineE2E in the same run and on the same node settings: a
// node (embedded broker, fsync on, default stages) backfills the
// repository from the fake API, from the pass's first request until every
// item is in the cache (items/s; drained-items/s until Node.Drained also
// said so); then measureE2E appends KOISTREAM_BENCH_BACKFILL_WEBHOOKS
// webhook deliveries to a fresh node until drained (webhook-events/s).
// backfill/webhook is the ratio of the two rates.
func BenchmarkBackfillPipeline(b *testing.B) {
	s := backfillBenchSize
	webhooks := envInt("KOISTREAM_BENCH_BACKFILL_WEBHOOKS", s.items())
	c := benchCorpus(b)
	log := slog.New(slog.DiscardHandler)
	var bfSecs, bfDrainedSecs, whSecs float64
	var requests int
	b.ResetTimer()
	for range b.N {
		br, err := measureBackfillPipeline(context.Background(), b.TempDir(), s, log)
		if err != nil {
			b.Fatal(err)
		}
		if br.items != s.items() {
			b.Fatalf("%d of %d backfilled items in the cache", br.items, s.items())
		}
		er, err := measureE2E(context.Background(), b.TempDir(), c, webhooks, log)
		if err != nil {
			b.Fatal(err)
		}
		if er.materialized != webhooks {
			b.Fatalf("%d of %d deliveries materialized (%d dead letters)", er.materialized, webhooks, er.deadLetters)
		}
		bfSecs += br.elapsed.Seconds()
		bfDrainedSecs += br.drained.Seconds()
		whSecs += er.elapsed.Seconds()
		requests += br.requests
	}
	b.StopTimer()
	items := float64(s.items() * b.N)
	bfRate, whRate := items/bfSecs, float64(webhooks*b.N)/whSecs
	b.Logf("repository: %s (%d items), %d requests; %d webhook deliveries", s, s.items(), requests/b.N, webhooks)
	b.ReportMetric(bfRate, "items/s")
	b.ReportMetric(items/bfDrainedSecs, "drained-items/s")
	b.ReportMetric(whRate, "webhook-events/s")
	b.ReportMetric(bfRate/whRate, "backfill/webhook")
}
