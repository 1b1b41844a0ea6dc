// Package benchmarks holds koistream's throughput benchmarks. They run with
// "go test -bench . ./benchmarks/" against the embedded broker with fsync on,
// as in production, and report events per second for the whole pipeline next
// to a baseline measured in the same run, since figures on shared machines
// are only comparable as ratios. RESULTS.md records the figures.
package benchmarks
