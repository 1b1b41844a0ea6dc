package pipeline

import (
	"go.yaml.in/yaml/v3"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/stages/yamlconf"
)

// PluginSpec is one entry of the configuration file's sinks: or sources:
// list: a sink or a configured source, with the name it is known by in
// logs, metrics and its consumer group, the type its registry entry is
// found by (builtinSinks, configSources), and the rest of its keys, which
// the entry decodes itself with Config.Decode (strictly: an unknown key is
// an error naming its line):
//
//	sinks:
//	  - name: ght
//	    type: amqp
//	    url_env: AMQP_URL
//	    exchange: ght-streams
type PluginSpec struct {
	// Name is unique among the sinks (and among the sources); letters,
	// digits, '-' and '_'.
	Name string
	// Type names the registry entry.
	Type string
	// Config is the entry's other keys; never nil after decoding (an
	// entry of only name and type has an empty block).
	Config stages.Config
}

// UnmarshalConfig decodes a sinks: or sources: entry: a mapping with name
// and type, whose other keys become the entry's block.
func (p *PluginSpec) UnmarshalConfig(d *yamlconf.Decoder, n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.Errorf(n, "%s must be a mapping with name, type and the %s's own keys", path, "entry")
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "name", "type":
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				return d.Errorf(v, "%s.%s must be a non-empty string", path, k.Value)
			}
			if k.Value == "name" {
				p.Name = v.Value
			} else {
				p.Type = v.Value
			}
		default:
			rest.Content = append(rest.Content, k, v)
		}
	}
	if p.Name == "" || p.Type == "" {
		return d.Errorf(n, "%s needs a name and a type", path)
	}
	if !validPluginName(p.Name) {
		return d.Errorf(n, "%s.name %q must be letters, digits, '-' and '_'", path, p.Name)
	}
	p.Config = d.Block(rest, n, path+"("+p.Name+")")
	return nil
}

func validPluginName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != "" && len(s) <= 64
}
