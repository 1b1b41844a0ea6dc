// Package benchmarks is koistream's throughput harness: [Run] (and the
// "koistream bench" command on top of it) measures, side by side in one run
// on the embedded broker with fsync on as in production, how fast a node
// moves webhook deliveries end to end and the ceilings that bound it: the
// log alone, Pebble alone, the stages' CPU alone, and signed-webhook HTTP
// ingest. Figures on shared machines vary between runs, so compare the
// ratios measured in one run. RESULTS.md records the figures.
//
// The deliveries come from a [Corpus]: generated from real payload shapes
// with GitHub's event-type mix ([GenerateCorpus]), or read from a folder
// ([LoadCorpus]).
//
// The same measurements run as Go benchmarks, so a profile is one command
// away, for example:
//
//	go test -run '^$' -bench 'Normalize|Dedupe|Ridify' ./benchmarks/
//	go test -run '^$' -bench PipelineE2E -benchtime 20000x -cpuprofile cpu.out ./benchmarks/
//	go test -run '^$' -bench HTTPIngest -benchtime 10000x -trace trace.out ./benchmarks/
package benchmarks
