package topics

import (
	"log/slog"
	"testing"
	"time"
)

// This file mirrors the two helpers of the test kit (topics/topicstest)
// that package topics' internal tests need. They cannot import the kit:
// it imports topics, so the import would be a cycle. Keep them in step
// with topicstest.StartBroker and topicstest.WaitFor; new tests of topics'
// exported API belong in package topics_test, which uses the kit itself.

// startTestBroker starts an embedded broker for tb, configured as in
// production (fsync before acknowledging), on a free loopback port with its
// log in a temporary folder, and closes it when tb ends. It returns the
// broker's address.
func startTestBroker(tb testing.TB) string {
	tb.Helper()
	return startTestBrokerSync(tb, true)
}

// startTestBrokerSync is startTestBroker with the fsync before
// acknowledging on or off, for benchmarks that measure its cost.
func startTestBrokerSync(tb testing.TB, sync bool) string {
	tb.Helper()
	e, err := StartEmbedded(EmbeddedConfig{DataDir: tb.TempDir(), Listen: "127.0.0.1:0", NoSync: !sync,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("start embedded broker: %v", err)
	}
	tb.Cleanup(e.Close)
	return e.Addr()
}

// waitFor calls cond until it returns true, pausing 10 ms doubling to
// 200 ms between calls, and fails tb if d passes first.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	pause := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 200*time.Millisecond)
	}
}
