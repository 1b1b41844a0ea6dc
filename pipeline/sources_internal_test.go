package pipeline

import (
	"slices"
	"testing"

	"github.com/koistream/koistream/stages"
)

// TestEverySourceHasAParser checks the two halves of every source line up:
// an intake whose kind no parser knows would fill the dead topic with
// everything it took in, and a parser without an intake is dead code.
func TestEverySourceHasAParser(t *testing.T) {
	parsers := stages.BuiltinParsers()
	var kinds []string
	for _, src := range builtinSources() {
		t.Run(src.Kind, func(t *testing.T) {
			if src.Start == nil {
				t.Fatalf("source %q has no Start", src.Kind)
			}
			if _, ok := parsers.Lookup(src.Kind); !ok {
				t.Fatalf("source %q has no parser in stages.BuiltinParsers (parsers: %v)", src.Kind, parsers.Kinds())
			}
		})
		if slices.Contains(kinds, src.Kind) {
			t.Errorf("source kind %q registered twice", src.Kind)
		}
		kinds = append(kinds, src.Kind)
	}
	for _, cs := range configSources() {
		if _, ok := parsers.Lookup(cs.Kind); !ok || cs.Start == nil {
			t.Errorf("configurable source %q: parser registered %v, Start set %v", cs.Type, ok, cs.Start != nil)
		}
		kinds = append(kinds, cs.Kind)
	}
	for _, k := range parsers.Kinds() {
		if !slices.Contains(kinds, k) {
			t.Errorf("parser of kind %q has no intake in builtinSources or configSources", k)
		}
	}
}
