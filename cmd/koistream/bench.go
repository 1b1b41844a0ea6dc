package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/koistream/koistream/benchmarks"
)

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput end to end and the ceilings of the log, Pebble and the stages",
		Long: `Measures, in one run on this machine, how fast a node moves webhook deliveries
end to end, next to the ceilings of its parts (log, Pebble, stage CPU), and
signed-webhook HTTP ingest. Brokers run embedded with fsync on, in a fresh data
folder. Figures vary between runs on shared machines: compare the ratios.

The result goes to stdout, as a table or with --json as one JSON object;
progress goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return bench(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.events, "events", benchmarks.DefaultEvents, "webhook deliveries per measurement")
	fl.StringVar(&f.corpus, "corpus", "", "folder of <event>.<name>.json webhook payloads to cycle through (default: a generated corpus)")
	fl.IntVar(&f.conns, "connections", benchmarks.DefaultConnections, "concurrent keep-alive connections of the HTTP ingest measurement")
	fl.StringVar(&f.dataDir, "data-dir", "", "keep the run's data in a new bench-* folder here (default: a temporary folder, removed)")
	fl.Int64Var(&f.seed, "seed", benchmarks.DefaultSeed, "seed of the generated corpus")
	fl.BoolVar(&f.json, "json", false, "print one JSON object instead of a table")
	fl.StringVar(&f.logLevel, "log-level", "info", "progress on stderr: debug, info, warn or error")
	return cmd
}

// benchFlags are the flags of koistream bench.
type benchFlags struct {
	events   int
	corpus   string
	conns    int
	dataDir  string
	seed     int64
	json     bool
	logLevel string
}

// bench runs "koistream bench": the throughput harness of the benchmarks
// package, printing a table, or with --json one JSON object, on stdout.
func bench(cmd *cobra.Command, f benchFlags) error {
	// Options treat 0 as "the default"; on the command line it is a mistake.
	if f.events < 1 {
		return fmt.Errorf("--events must be at least 1, got %d", f.events)
	}
	if f.conns < 1 {
		return fmt.Errorf("--connections must be at least 1, got %d", f.conns)
	}
	logger, err := newLogger(cmd.ErrOrStderr(), f.logLevel, "text")
	if err != nil {
		return err
	}
	opts := benchmarks.Options{
		Events:      f.events,
		CorpusDir:   f.corpus,
		Connections: f.conns,
		DataDir:     f.dataDir,
		Seed:        f.seed,
		Logger:      logger,
	}
	opts.SetDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := benchmarks.Run(ctx, opts)
	if err != nil {
		logger.Error("bench failed", "err", err)
		return failed()
	}
	stdout := cmd.OutOrStdout()
	if f.json {
		if err := json.NewEncoder(stdout).Encode(res); err != nil {
			logger.Error("bench: writing the result", "err", err)
			return failed()
		}
		return nil
	}
	writeBenchTable(stdout, res)
	return nil
}

// writeBenchTable prints res for people.
func writeBenchTable(w io.Writer, r benchmarks.Result) {
	fmt.Fprintf(w, "koistream bench  %s  %s/%s  nproc %d  GOMAXPROCS %d  %d MiB  %s\n",
		r.GoVersion, r.OS, r.Arch, r.NumCPU, r.GOMAXPROCS, r.MemTotalMB, r.CPUModel)
	fmt.Fprintf(w, "corpus  %s\n", r.Source)
	fmt.Fprintf(w, "        %d events, %.1f MB; payload mean %.0f B, p50 %d B, p99 %d B, max %d B\n",
		r.Events, float64(r.TotalBytes)/1e6, r.MeanBytes, r.P50Bytes, r.P99Bytes, r.MaxBytes)
	fmt.Fprintf(w, "        mix: %s\n\n", eventMix(r.CorpusStats.Events, r.Events))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tevents/s\tMB/s\te2e ratio\t")
	fmt.Fprintf(tw, "e2e (append → drained)\t%.0f\t%.1f\t\t\n", r.E2EEventsPerS, r.E2EMBPerS)
	fmt.Fprintf(tw, "log_ceiling (produce+consume)\t%.0f\t%.1f\t%.4f\t\n", r.LogCeilingEventsPerS, r.LogCeilingMBPerS, r.E2EVsLogCeiling)
	fmt.Fprintf(tw, "stages_cpu (in memory)\t%.0f\t\t%.4f\t\n", r.StagesCPUEventsPerS, r.E2EVsStagesCPU)
	fmt.Fprintf(tw, "pebble_ceiling (cache writes)\t%.0f\t%.1f\t%.4f\t\n", r.PebbleCeilingEventsPerS, r.PebbleCeilingMBPerS, r.E2EVsPebbleCeiling)
	tw.Flush()

	fmt.Fprintf(w, "\ne2e        %.2f s (appends acknowledged after %.2f s), lag_drain %.0f ms, %d/%d materialized, %d dead letters\n",
		r.E2ESeconds, r.E2EAppendSeconds, r.LagDrainMS, r.E2EMaterialized, r.Events, r.E2EDeadLetters)
	fmt.Fprintf(w, "paced      %d deliveries at %.0f/s (half the e2e rate), lag_drain %.0f ms\n",
		r.PacedEvents, r.PacedEventsPerS, r.PacedLagDrainMS)
	fmt.Fprintf(w, "stages     %d observations, %d KOI events, %d refused, %d goroutines per step\n",
		r.StagesObservations, r.StagesKOIEvents, r.StagesDead, r.StagesGoroutines)
	fmt.Fprintf(w, "log        produce alone %.0f events/s; the pipeline writes %.2f topic bytes per payload byte (raw, observed, events)\n",
		r.LogProduceEventsPerS, r.LogBytesPerRawByte)
	fmt.Fprintf(w, "pebble     %d bundles\n", r.PebbleCeilingBundles)
	fmt.Fprintf(w, "http       %.0f req/s over %d connections, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d requests in %.2f s, %d errors",
		r.HTTPIngestReqPerS, r.HTTPConnections, r.HTTPP50MS, r.HTTPP99MS, r.HTTPMaxMS, r.HTTPRequests, r.HTTPSeconds, r.HTTPErrors)
	if r.HTTPFirstError != "" {
		fmt.Fprintf(w, " (first: %s)", r.HTTPFirstError)
	}
	fmt.Fprintf(w, "\nhttp only  %.0f req/s, p50 %.2f ms, p99 %.2f ms (a node running no stages: the webhook path's ceiling)",
		r.HTTPIngestOnlyReqPerS, r.HTTPIngestOnlyP50MS, r.HTTPIngestOnlyP99MS)
	fmt.Fprintf(w, "\nhttp null  %.0f req/s, p99 %.2f ms (net/http reading each body and answering 202: HTTP's own ceiling here)",
		r.HTTPNullReqPerS, r.HTTPNullP99MS)
	fmt.Fprintf(w, "\npeak RSS   %.1f MiB (%s; harness and nodes share the process)\n", r.PeakRSSMB, r.PeakRSSScope)
	if r.DataDir != "" {
		fmt.Fprintf(w, "data       %s\n", r.DataDir)
	}
}

// eventMix formats counts as "push 50.1%, create 10.2%, ...", largest first.
func eventMix(counts map[string]int, total int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range counts {
		all = append(all, kv{k, v})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if a.v != b.v {
			return b.v - a.v
		}
		return strings.Compare(a.k, b.k)
	})
	parts := make([]string, len(all))
	for i, e := range all {
		parts[i] = fmt.Sprintf("%s %.1f%%", e.k, 100*float64(e.v)/float64(max(total, 1)))
	}
	return strings.Join(parts, ", ")
}
