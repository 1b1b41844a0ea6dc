package stages

import (
	"errors"
	"fmt"
)

// Segment is a run of stages between two topics: messages are read from
// From, passed through Stages in order in memory, and what comes out of the
// last stage is published to To. Topic names may be the short names "raw",
// "observed", "events", "dead" or full topic names.
type Segment struct {
	// Name identifies the segment's watermill handler and consumer group.
	// Defaults to "<from>-to-<to>".
	Name string `yaml:"name"`
	// From is the topic the segment consumes.
	From string `yaml:"from"`
	// To is the topic the segment produces to.
	To string `yaml:"to"`
	// Stages are stage names from the [Registry], in order.
	Stages []string `yaml:"stages"`
}

// DefaultSegments is koistream's standard chain: raw → normalize, dedupe →
// observed → ridify → events. The observed topic sits before ridify so that
// every observation of one RID lands on one partition, in order, which is
// what makes ridify's per-RID state correct.
func DefaultSegments() []Segment {
	return []Segment{
		{Name: "ingest", From: "raw", To: "observed", Stages: []string{NormalizeName, DedupeName}},
		{Name: "ridify", From: "observed", To: "events", Stages: []string{RidifyName}},
	}
}

// ValidateSegments checks that every segment names its topics and stages,
// that names are unique, and that every stage is registered in reg.
func ValidateSegments(segs []Segment, reg *Registry) error {
	if len(segs) == 0 {
		return errors.New("pipeline: no segments configured")
	}
	known := map[string]bool{}
	for _, n := range reg.Names() {
		known[n] = true
	}
	seen := map[string]bool{}
	for i, s := range segs {
		name := s.HandlerName()
		if s.From == "" || s.To == "" {
			return fmt.Errorf("pipeline segment %d (%s): from and to are required", i, name)
		}
		if s.From == s.To {
			return fmt.Errorf("pipeline segment %s: from and to are the same topic %q", name, s.From)
		}
		if len(s.Stages) == 0 {
			return fmt.Errorf("pipeline segment %s: no stages", name)
		}
		if seen[name] {
			return fmt.Errorf("pipeline segment name %q used twice", name)
		}
		seen[name] = true
		for _, st := range s.Stages {
			if !known[st] {
				return fmt.Errorf("pipeline segment %s: stage %q is not registered (known: %v)", name, st, reg.Names())
			}
		}
	}
	return nil
}

// HandlerName returns Name, or "<from>-to-<to>" when Name is empty.
func (s Segment) HandlerName() string {
	if s.Name != "" {
		return s.Name
	}
	return s.From + "-to-" + s.To
}
