package stages

import (
	"go.yaml.in/yaml/v3"

	"github.com/koistream/koistream/stages/yamlconf"
)

// StageSpec places one stage in a [Segment]: the name it is registered under
// and its own configuration block. In a configuration file an entry is
// either the bare name or a mapping of the name to the block:
//
//	stages:
//	  - normalize
//	  - repofilter: {repositories: [octo/hello]}
//	  - dedupe
type StageSpec struct {
	// Name is the stage's name in the [Registry].
	Name string
	// Config is the stage's block; nil means none (see [NoConfig]).
	Config Config
}

// Specs returns one StageSpec without configuration per name, in order:
// the short way to write a chain of stages that take no configuration.
func Specs(names ...string) []StageSpec {
	specs := make([]StageSpec, len(names))
	for i, n := range names {
		specs[i] = StageSpec{Name: n}
	}
	return specs
}

// UnmarshalConfig decodes a stages-list entry of a configuration file: a
// bare name, or a one-key mapping of the name to the stage's block. It
// implements the configuration decoder's interface; the block itself is
// decoded later, by the stage's factory.
func (s *StageSpec) UnmarshalConfig(d *yamlconf.Decoder, n *yaml.Node, path string) error {
	switch {
	case n.Kind == yaml.ScalarNode:
		s.Name = n.Value
		s.Config = d.Block(nil, n, path+"."+n.Value)
		return nil
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Kind == yaml.ScalarNode:
		k, v := n.Content[0], n.Content[1]
		s.Name = k.Value
		s.Config = d.Block(v, k, path+"."+k.Value)
		return nil
	case n.Kind == yaml.MappingNode:
		return d.Errorf(n, "%s must name one stage, as a name or as name: {its configuration}; got a mapping with %d keys", path, len(n.Content)/2)
	}
	return d.Errorf(n, "%s must be a stage name or name: {its configuration}, got a list", path)
}
