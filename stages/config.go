package stages

import (
	"github.com/koistream/koistream/stages/yamlconf"
)

// Config is a stage's own configuration block: the value of its entry in a
// segment's stages list, such as {repositories: [octo/hello]} in
//
//	stages: [normalize, {repofilter: {repositories: [octo/hello]}}, dedupe]
//
// A factory decodes it into its own struct with Decode. A stage that takes
// no configuration decodes it into &struct{}{}, so a block given by mistake
// is an error rather than silently ignored. Implementations are safe for
// concurrent use.
type Config interface {
	// Decode decodes the block into v, a pointer to the stage's
	// configuration struct whose yaml tags name the keys. It is strict: an
	// unknown key or a value of the wrong shape is an error naming the
	// file, the line and the key path (and the nearest known key). Without
	// a block v is left as it is, so set defaults before calling Decode.
	Decode(v any) error
	// Errorf returns an error about the block as a whole, positioned like
	// Decode's errors: for a required key that is missing, or a check that
	// spans keys.
	Errorf(format string, args ...any) error
}

// NoConfig returns the Config of a stage placed without a block.
func NoConfig() Config { return &yamlconf.Block{} }

// ConfigOf returns v, encoded as YAML, as a stage's block: configuration
// written in Go (tests, benchmarks, embedding programs) decoded exactly like
// a block from a file. v is usually a map or a struct with yaml tags:
//
//	stages.ConfigOf(map[string]any{"repositories": []string{"octo/hello"}})
func ConfigOf(v any) Config { return yamlconf.BlockOf(v) }

// decodeNone checks that a stage that takes no configuration got none.
func decodeNone(cfg Config) error {
	return cfg.Decode(&struct{}{})
}
