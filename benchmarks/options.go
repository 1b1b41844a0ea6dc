package benchmarks

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// Defaults of [Options].
const (
	// DefaultEvents is how many webhook deliveries a run measures.
	DefaultEvents = 100_000
	// DefaultConnections is how many concurrent HTTP connections post
	// webhooks in the http_ingest measurement.
	DefaultConnections = 64
	// DefaultSeed seeds the generated corpus.
	DefaultSeed = 1
)

// Options configures [Run]. The zero value plus [Options.SetDefaults] is a
// full run on a generated corpus in a temporary folder.
type Options struct {
	// Events is the number of webhook deliveries every measurement
	// processes (http_ingest posts at most MaxHTTPRequests of them).
	// Defaults to DefaultEvents.
	Events int
	// CorpusDir, if set, is a folder of "<event>.<anything>.json" webhook
	// payloads to cycle through instead of a generated corpus (see
	// [LoadCorpus]).
	CorpusDir string
	// Connections is the number of concurrent keep-alive connections of
	// http_ingest. Defaults to DefaultConnections.
	Connections int
	// DataDir is where the brokers and databases of the run live, each
	// measurement in a fresh subfolder of a fresh "bench-*" folder in it,
	// which is kept afterwards. Empty means a temporary folder, removed
	// after the run.
	DataDir string
	// Seed seeds the generated corpus. Defaults to DefaultSeed.
	Seed int64
	// Logger receives progress. Nil discards it.
	Logger *slog.Logger
}

// SetDefaults fills every unset field with its default.
func (o *Options) SetDefaults() {
	if o.Events == 0 {
		o.Events = DefaultEvents
	}
	if o.Connections == 0 {
		o.Connections = DefaultConnections
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first problem that would stop a run. Call
// SetDefaults first.
func (o Options) Validate() error {
	if o.Events < 1 {
		return fmt.Errorf("bench: events must be at least 1, got %d", o.Events)
	}
	if o.Connections < 1 {
		return fmt.Errorf("bench: connections must be at least 1, got %d", o.Connections)
	}
	if o.CorpusDir != "" {
		if fi, err := os.Stat(o.CorpusDir); err != nil {
			return fmt.Errorf("bench: corpus: %w", err)
		} else if !fi.IsDir() {
			return fmt.Errorf("bench: corpus %s is not a folder", o.CorpusDir)
		}
	}
	if o.DataDir != "" {
		if fi, err := os.Stat(o.DataDir); err == nil && !fi.IsDir() {
			return fmt.Errorf("bench: data dir %s is not a folder", o.DataDir)
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("bench: data dir: %w", err)
		}
	}
	return nil
}
