//go:build race

package main_test

// raceEnabled is true when the tests run with -race; the node binary they
// start is then built with -race too, so data races in the real process fail
// the run (the race detector exits the process with status 66).
const raceEnabled = true
