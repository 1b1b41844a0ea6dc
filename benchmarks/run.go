package benchmarks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"
)

// Run measures, one after the other in one process and in fresh
// subfolders of one data folder, how fast koistream moves opts.Events
// webhook deliveries and what bounds it on this machine:
//
//   - stages_cpu: normalize, dedupe and ridify in memory (no broker, stage
//     state in Pebble on an in-memory file system), on GOMAXPROCS goroutines;
//   - pebble_ceiling: the cache projection's Pebble writes for the KOI events
//     the stages produced, in fsynced batches of 1000;
//   - log_ceiling: the raw records produced to and consumed from an embedded
//     broker with fsync on, with no stages;
//   - e2e: the raw records appended to a running node as the webhook source
//     appends them, until every stage and the cache caught up;
//   - http_ingest: signed webhooks posted to a fresh node over
//     opts.Connections keep-alive connections, until 202;
//   - the peak RSS of the e2e and http_ingest part.
//
// Every broker runs with fsync before acknowledging, as in production.
// Figures vary a lot between runs on shared machines; compare the ratios of
// one run. Each measurement is documented on its Result fields.
func Run(ctx context.Context, opts Options) (Result, error) {
	opts.SetDefaults()
	if err := opts.Validate(); err != nil {
		return Result{}, err
	}
	log, n := opts.Logger, opts.Events
	res := Result{Events: n, StartedAt: time.Now().UTC().Truncate(time.Second), Machine: thisMachine()}

	var base string
	if opts.DataDir == "" {
		tmp, err := os.MkdirTemp("", "koistream-bench-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(tmp)
		base = tmp
	} else {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return res, fmt.Errorf("bench: data dir: %w", err)
		}
		dir, err := os.MkdirTemp(opts.DataDir, "bench-")
		if err != nil {
			return res, fmt.Errorf("bench: data dir: %w", err)
		}
		base, res.DataDir = dir, dir
	}

	corpus, err := loadOrGenerate(opts, n)
	if err != nil {
		return res, err
	}
	res.CorpusStats = corpus.Stats(n)
	log.Info("corpus", "source", res.Source, "events", n, "mean_bytes", round(res.MeanBytes, 0),
		"p50_bytes", res.P50Bytes, "p99_bytes", res.P99Bytes, "max_bytes", res.MaxBytes)
	mb := float64(res.TotalBytes) / 1e6

	sr, err := measureStagesCPU(ctx, corpus, n)
	if err != nil {
		return res, err
	}
	res.StagesCPUEventsPerS = perSecond(float64(n), sr.elapsed)
	res.StagesGoroutines, res.StagesObservations, res.StagesKOIEvents, res.StagesDead = sr.workers, sr.observations, sr.events, sr.dead
	if res.TotalBytes > 0 {
		res.LogBytesPerRawByte = round(float64(res.TotalBytes+sr.observedLen+sr.eventsLen)/float64(res.TotalBytes), 2)
	}
	log.Info("stages_cpu", "events_per_s", res.StagesCPUEventsPerS, "observations", sr.observations, "koi_events", sr.events, "dead", sr.dead)

	pr, err := measurePebbleCeiling(filepath.Join(base, "pebble_ceiling"), sr.bundles, filler(corpus))
	if err != nil {
		return res, err
	}
	sr.bundles = nil
	res.PebbleCeilingEventsPerS = perSecond(float64(n), pr.elapsed)
	res.PebbleCeilingBundles = pr.bundles
	res.PebbleCeilingMBPerS = perSecond(float64(pr.bytes)/1e6, pr.elapsed)
	log.Info("pebble_ceiling", "events_per_s", res.PebbleCeilingEventsPerS, "bundles", pr.bundles)

	lr, err := measureLogCeiling(ctx, filepath.Join(base, "log_ceiling"), corpus, n)
	if err != nil {
		return res, err
	}
	res.LogCeilingEventsPerS = perSecond(float64(n), lr.elapsed)
	res.LogCeilingMBPerS = perSecond(mb, lr.elapsed)
	res.LogProduceEventsPerS = perSecond(float64(n), lr.produce)
	log.Info("log_ceiling", "events_per_s", res.LogCeilingEventsPerS, "produce_events_per_s", res.LogProduceEventsPerS)

	// From here on the process is mostly the nodes: measure their peak.
	runtime.GC()
	debug.FreeOSMemory()
	res.PeakRSSScope = "whole run"
	if resetPeakRSS() {
		res.PeakRSSScope = "e2e+http_ingest"
	}

	log.Info("e2e: starting", "events", n)
	er, err := measureE2E(ctx, filepath.Join(base, "e2e"), corpus, n, log)
	if err != nil {
		return res, err
	}
	res.E2EEventsPerS = perSecond(float64(n), er.elapsed)
	res.E2EMBPerS = perSecond(mb, er.elapsed)
	res.E2ESeconds = round(er.elapsed.Seconds(), 3)
	res.E2EAppendSeconds = round(er.appended.Seconds(), 3)
	res.LagDrainMS = ms(er.lagDrain)
	res.E2EMaterialized, res.E2EDeadLetters = er.materialized, er.deadLetters
	if secs := er.cpu.wall.Seconds(); secs > 0 {
		res.E2EProcessCPUUSPerEvent = round(float64(er.cpu.process.Microseconds())/float64(n), 1)
		res.E2EProcessCores = round(er.cpu.process.Seconds()/secs, 2)
		if er.cpu.hostOK {
			res.E2EOtherCores = round(er.cpu.others.Seconds()/secs, 2)
			res.E2EIOWaitCores = round(er.cpu.iowait.Seconds()/secs, 2)
		}
	}
	res.E2EStateFlushedMB, res.E2EStateCompactedMB = round(er.state.flushedMB, 1), round(er.state.compactedMB, 1)
	res.E2EStateBlockCacheHitRatio, res.E2EStateSizeMB = round(er.state.blockCacheHitRatio, 4), round(er.state.sizeMB, 1)
	res.E2ECacheFlushedMB, res.E2ECacheCompactedMB = round(er.cache.flushedMB, 1), round(er.cache.compactedMB, 1)
	res.E2ECacheBlockCacheHitRatio, res.E2ECacheSizeMB = round(er.cache.blockCacheHitRatio, 4), round(er.cache.sizeMB, 1)
	res.PacedEventsPerS, res.PacedEvents, res.PacedLagDrainMS = round(er.pacedRate, 0), er.pacedEvents, ms(er.pacedDrain)
	log.Info("e2e", "events_per_s", res.E2EEventsPerS, "lag_drain_ms", res.LagDrainMS, "materialized", er.materialized, "dead_letters", er.deadLetters)
	if er.materialized != n {
		log.Warn("e2e: not every delivery became an event RID in the cache", "want", n, "got", er.materialized, "dead_letters", er.deadLetters)
	}

	log.Info("http_ingest: starting", "connections", opts.Connections, "requests", min(n, MaxHTTPRequests))
	hr, err := measureHTTPIngest(ctx, filepath.Join(base, "http_ingest"), corpus, n, opts.Connections, false)
	if err != nil {
		return res, err
	}
	res.HTTPConnections, res.HTTPRequests, res.HTTPErrors, res.HTTPFirstError = opts.Connections, hr.requests, hr.errors, hr.firstErr
	res.HTTPSeconds = round(hr.elapsed.Seconds(), 3)
	res.HTTPIngestReqPerS = perSecond(float64(hr.accepted), hr.elapsed)
	res.HTTPP50MS = ms(nearestRank(hr.latencies, 0.50))
	res.HTTPP99MS = ms(nearestRank(hr.latencies, 0.99))
	res.HTTPMaxMS = ms(nearestRank(hr.latencies, 1))
	log.Info("http_ingest", "req_per_s", res.HTTPIngestReqPerS, "p50_ms", res.HTTPP50MS, "p99_ms", res.HTTPP99MS, "errors", hr.errors)

	log.Info("http_ingest_only: starting", "connections", opts.Connections, "requests", min(n, MaxHTTPRequests))
	ho, err := measureHTTPIngest(ctx, filepath.Join(base, "http_ingest_only"), corpus, n, opts.Connections, true)
	if err != nil {
		return res, err
	}
	res.HTTPIngestOnlyReqPerS = perSecond(float64(ho.accepted), ho.elapsed)
	res.HTTPIngestOnlyP50MS = ms(nearestRank(ho.latencies, 0.50))
	res.HTTPIngestOnlyP99MS = ms(nearestRank(ho.latencies, 0.99))
	res.HTTPErrors += ho.errors
	if res.HTTPFirstError == "" {
		res.HTTPFirstError = ho.firstErr
	}
	log.Info("http_ingest_only", "req_per_s", res.HTTPIngestOnlyReqPerS, "p50_ms", res.HTTPIngestOnlyP50MS, "p99_ms", res.HTTPIngestOnlyP99MS, "errors", ho.errors)

	hn, err := measureHTTPNull(ctx, corpus, n, opts.Connections)
	if err != nil {
		return res, err
	}
	res.HTTPNullReqPerS = perSecond(float64(hn.accepted), hn.elapsed)
	res.HTTPNullP99MS = ms(nearestRank(hn.latencies, 0.99))
	log.Info("http_null_ceiling", "req_per_s", res.HTTPNullReqPerS, "p99_ms", res.HTTPNullP99MS, "errors", hn.errors)

	if rss, ok := peakRSSMB(); ok {
		res.PeakRSSMB = round(rss, 1)
	}
	res.E2EVsLogCeiling = ratio(res.E2EEventsPerS, res.LogCeilingEventsPerS)
	res.E2EVsStagesCPU = ratio(res.E2EEventsPerS, res.StagesCPUEventsPerS)
	res.E2EVsPebbleCeiling = ratio(res.E2EEventsPerS, res.PebbleCeilingEventsPerS)
	return res, nil
}

// filler is JSON text to cut Pebble values from: the corpus payloads one
// after the other, up to 4 MiB.
func filler(c *Corpus) []byte {
	var b []byte
	for i := 0; i < c.Len() && len(b) < 4<<20; i++ {
		b = append(b, c.entries[i].body...)
	}
	return b
}
