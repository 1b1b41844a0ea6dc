//go:build race

package benchmarks

// raceEnabled is true when the tests run with -race, which slows the
// allocation-heavy libraries of TestJCSLibrariesAgreeOnCorpus so much that
// the test took 63 s on the whole corpus (19 s on the sample it now checks).
const raceEnabled = true
