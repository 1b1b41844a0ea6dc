package projections

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

// PebbleOptions returns the options koistream opens every Pebble database
// with: the newest format (a zero value would pick the oldest supported) and
// Pebble's logging routed to logger, where its info chatter goes to debug,
// and larger memtables.
// The stage state database uses them too.
func PebbleOptions(logger *slog.Logger) *pebble.Options {
	if logger == nil {
		logger = slog.Default()
	}
	return &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		// 64 MiB memtables (default 4 MiB) flush whole batches of bundles at
		// once and leave far fewer L0 tables to compact: measured, the
		// default spent a quarter of the pipeline's CPU in compactions.
		MemTableSize: 64 << 20,
		Logger:       pebbleLogger{logger.With("component", "pebble")},
	}
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

// Fatalf logs and exits, as Pebble's contract for a fatal error requires:
// Pebble calls it only when continuing could corrupt data.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("fatal: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}
