//go:build race

package events_test

// raceEnabled is true when the tests run with -race, whose instrumentation
// makes values escape that otherwise stay on the stack, so allocation
// counts are not checked then.
const raceEnabled = true
