package benchmarks

import (
	"math"
	"time"
)

// Result is what [Run] measured. It marshals to one JSON object, flat but
// for the corpus_events counts. Rates are per second of wall-clock time;
// sizes are in bytes unless the key says MB (10^6 bytes) or MiB (RSS,
// memory total).
type Result struct {
	// Events is the number of webhook deliveries each measurement
	// processed (http_ingest: see HTTPRequests).
	Events int `json:"events"`
	// StartedAt is when the run started, UTC.
	StartedAt time.Time `json:"started_at"`
	// DataDir is the folder the run's data was kept in; empty when it was a
	// temporary folder, removed afterwards.
	DataDir string `json:"data_dir,omitempty"`
	// CorpusStats describes the payloads of the Events deliveries
	// (payload_bytes is their total).
	CorpusStats
	// Machine describes the machine.
	Machine

	// E2EEventsPerS is Events over E2ESeconds: deliveries appended to the
	// raw topic as the webhook source appends them, until the node reported
	// every stage and the cache projection caught up (Node.Drained).
	E2EEventsPerS float64 `json:"e2e_events_per_s"`
	// E2EMBPerS is payload MB (10^6 bytes) per second of E2ESeconds.
	E2EMBPerS float64 `json:"e2e_mb_per_s"`
	// E2ESeconds is from the first append until drained.
	E2ESeconds float64 `json:"e2e_seconds"`
	// E2EAppendSeconds is from the first append until the last was
	// acknowledged.
	E2EAppendSeconds float64 `json:"e2e_append_seconds"`
	// LagDrainMS is from the last append's acknowledgement until drained.
	LagDrainMS float64 `json:"lag_drain_ms"`
	// E2EMaterialized is how many of the Events deliveries are event RIDs
	// in the cache afterwards; all of them, unless something was lost or
	// dead-lettered.
	E2EMaterialized int `json:"e2e_materialized"`
	// E2EDeadLetters is the number of records on the dead-letter topic.
	E2EDeadLetters int64 `json:"e2e_dead_letters"`
	// E2EProcessCPUUSPerEvent is the CPU this process (node and appender)
	// spent during the e2e phase, in µs per delivery.
	E2EProcessCPUUSPerEvent float64 `json:"e2e_process_cpu_us_per_event"`
	// E2EProcessCores is that CPU over E2ESeconds: how many of the
	// machine's cores the process kept busy on average.
	E2EProcessCores float64 `json:"e2e_process_cores"`
	// E2EOtherCores is the CPU the machine spent outside this process
	// during the e2e phase (kernel writeback, page reclaim, the file
	// system's journal, other processes) over E2ESeconds. Omitted where
	// /proc/stat cannot be read.
	E2EOtherCores float64 `json:"e2e_other_cores,omitempty"`
	// E2EIOWaitCores is CPU time idle with I/O outstanding during the
	// e2e phase over E2ESeconds. Omitted with E2EOtherCores.
	E2EIOWaitCores float64 `json:"e2e_iowait_cores,omitempty"`

	// LogCeilingEventsPerS is Events over the time to produce the same raw
	// records to the same kind of broker and consume them back once, with
	// no stages.
	LogCeilingEventsPerS float64 `json:"log_ceiling_events_per_s"`
	// LogCeilingMBPerS is the same in payload MB per second.
	LogCeilingMBPerS float64 `json:"log_ceiling_mb_per_s"`
	// LogProduceEventsPerS is Events over the time until every produce
	// was acknowledged.
	LogProduceEventsPerS float64 `json:"log_produce_events_per_s"`

	// PebbleCeilingEventsPerS is Events over the time to write the cache
	// projection's keys for every KOI event the stages produced for them
	// into a fresh Pebble, in fsynced batches.
	PebbleCeilingEventsPerS float64 `json:"pebble_ceiling_events_per_s"`
	// PebbleCeilingBundles is the number of bundles (KOI events) written.
	PebbleCeilingBundles int `json:"pebble_ceiling_bundles"`
	// PebbleCeilingMBPerS is bundle MB written per second.
	PebbleCeilingMBPerS float64 `json:"pebble_ceiling_mb_per_s"`

	// StagesCPUEventsPerS is Events over the time normalize, dedupe and
	// ridify took in memory on StagesGoroutines goroutines per step.
	StagesCPUEventsPerS float64 `json:"stages_cpu_events_per_s"`
	// StagesGoroutines is GOMAXPROCS at the time.
	StagesGoroutines int `json:"stages_cpu_goroutines"`
	// StagesObservations is how many observations normalize produced.
	StagesObservations int64 `json:"stages_observations"`
	// StagesKOIEvents is how many KOI events ridify produced.
	StagesKOIEvents int64 `json:"stages_koi_events"`
	// StagesDead is how many inputs a stage refused permanently (they
	// would be dead-lettered).
	StagesDead int64 `json:"stages_dead"`

	// E2EVsLogCeiling, E2EVsStagesCPU and E2EVsPebbleCeiling are
	// E2EEventsPerS over each ceiling of the same run.
	E2EVsLogCeiling float64 `json:"e2e_vs_log_ceiling"`
	// E2EVsStagesCPU: see E2EVsLogCeiling.
	E2EVsStagesCPU float64 `json:"e2e_vs_stages_cpu"`
	// E2EVsPebbleCeiling: see E2EVsLogCeiling.
	E2EVsPebbleCeiling float64 `json:"e2e_vs_pebble_ceiling"`

	// E2EStateFlushedMB, E2EStateCompactedMB, E2EStateBlockCacheHitRatio
	// and E2EStateSizeMB describe the node's stage state database over the
	// e2e measurement (from its start until drained, warm-up included):
	// bytes written by memtable flushes and by compactions (tables and blob
	// files, 10^6 bytes), the share of block reads served by its block
	// cache, and its size on disk at the end. The E2ECache… keys are the
	// same for the cache projection's database. They say which database a
	// cost that grows with the number of deliveries comes from.
	E2EStateFlushedMB float64 `json:"e2e_state_flushed_mb"`
	// E2EStateCompactedMB: see E2EStateFlushedMB.
	E2EStateCompactedMB float64 `json:"e2e_state_compacted_mb"`
	// E2EStateBlockCacheHitRatio: see E2EStateFlushedMB.
	E2EStateBlockCacheHitRatio float64 `json:"e2e_state_block_cache_hit_ratio"`
	// E2EStateSizeMB: see E2EStateFlushedMB.
	E2EStateSizeMB float64 `json:"e2e_state_size_mb"`
	// E2ECacheFlushedMB: see E2EStateFlushedMB.
	E2ECacheFlushedMB float64 `json:"e2e_cache_flushed_mb"`
	// E2ECacheCompactedMB: see E2EStateFlushedMB.
	E2ECacheCompactedMB float64 `json:"e2e_cache_compacted_mb"`
	// E2ECacheBlockCacheHitRatio: see E2EStateFlushedMB.
	E2ECacheBlockCacheHitRatio float64 `json:"e2e_cache_block_cache_hit_ratio"`
	// E2ECacheSizeMB: see E2EStateFlushedMB.
	E2ECacheSizeMB float64 `json:"e2e_cache_size_mb"`

	// PacedEventsPerS, PacedEvents and PacedLagDrainMS describe the e2e
	// measurement's second phase, on the same node once drained: input at
	// half the e2e throughput for 10 s (at most Events deliveries), then
	// the time from the last acknowledged append until every stage and the
	// cache projection caught up. LagDrainMS is the same after the e2e
	// phase, whose input outruns the pipeline: that is a backlog draining.
	PacedEventsPerS float64 `json:"paced_events_per_s"`
	// PacedEvents: see PacedEventsPerS.
	PacedEvents int `json:"paced_events"`
	// PacedLagDrainMS: see PacedEventsPerS.
	PacedLagDrainMS float64 `json:"paced_lag_drain_ms"`
	// LogBytesPerRawByte is how many value bytes the pipeline writes to
	// its topics (raw, observed, events) per byte of webhook payload, from
	// the stages_cpu run: each of them is produced once and consumed once,
	// as the log_ceiling records are.
	LogBytesPerRawByte float64 `json:"log_bytes_per_raw_byte"`
	// HTTPConnections is the number of concurrent connections.
	HTTPConnections int `json:"http_connections"`
	// HTTPRequests is the number of webhooks posted.
	HTTPRequests int `json:"http_requests"`
	// HTTPSeconds is how long posting them took.
	HTTPSeconds float64 `json:"http_seconds"`
	// HTTPIngestReqPerS is 202 answers per second.
	HTTPIngestReqPerS float64 `json:"http_ingest_req_per_s"`
	// HTTPP50MS, HTTPP99MS and HTTPMaxMS are latencies of the 202 answers
	// (nearest rank over every request).
	HTTPP50MS float64 `json:"http_p50_ms"`
	// HTTPP99MS: see HTTPP50MS.
	HTTPP99MS float64 `json:"http_p99_ms"`
	// HTTPMaxMS: see HTTPP50MS.
	HTTPMaxMS float64 `json:"http_max_ms"`
	// HTTPIngestOnlyReqPerS, HTTPIngestOnlyP50MS and HTTPIngestOnlyP99MS
	// are the same measurement against a node that runs no stages (an
	// ingest-only node): the webhook path's own ceiling on this machine.
	HTTPIngestOnlyReqPerS float64 `json:"http_ingest_only_req_per_s"`
	// HTTPIngestOnlyP50MS: see HTTPIngestOnlyReqPerS.
	HTTPIngestOnlyP50MS float64 `json:"http_ingest_only_p50_ms"`
	// HTTPIngestOnlyP99MS: see HTTPIngestOnlyReqPerS.
	HTTPIngestOnlyP99MS float64 `json:"http_ingest_only_p99_ms"`
	// HTTPNullReqPerS and HTTPNullP99MS are the same requests answered 202
	// by a plain net/http server that only reads the bodies: HTTP's own
	// cost on this machine with the client in the same process, the
	// ceiling of the two measurements above.
	HTTPNullReqPerS float64 `json:"http_null_ceiling_req_per_s"`
	// HTTPNullP99MS: see HTTPNullReqPerS.
	HTTPNullP99MS float64 `json:"http_null_ceiling_p99_ms"`
	// HTTPErrors counts transport errors and answers other than 202, of
	// both HTTP measurements.
	HTTPErrors int `json:"http_errors"`
	// HTTPFirstError describes the first of them.
	HTTPFirstError string `json:"http_first_error,omitempty"`

	// PeakRSSMB is the process's peak resident set size (VmHWM) in MiB.
	// The harness and the nodes share the process, so it is an upper bound
	// for a node; PeakRSSScope says over which part of the run.
	PeakRSSMB float64 `json:"peak_rss_mb"`
	// PeakRSSScope is "e2e+http_ingest" when the peak could be reset after
	// the in-memory measurements, else "whole run".
	PeakRSSScope string `json:"peak_rss_scope"`
}

// perSecond returns count/d, rounded to 0.1.
func perSecond(count float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round(count/d.Seconds(), 1)
}

// ratio returns a/b rounded to 4 decimals, 0 if b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round(a/b, 4)
}

func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }
