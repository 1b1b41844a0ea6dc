package stages

import (
	"errors"
	"fmt"
	"strings"

	"github.com/koistream/koistream/stages/yamlconf"
)

// Segment is a run of stages between two topics: messages are read from
// From, passed through Stages in order in memory, and what comes out of the
// last stage is published to To. Topic names may be the short names "raw",
// "observed", "events", "dead" or full topic names.
type Segment struct {
	// Name names the segment; empty means "<from>-to-<to>" (see
	// [Segment.ID]).
	Name string `yaml:"name"`
	// From is the topic the segment consumes.
	From string `yaml:"from"`
	// To is the topic the segment produces to.
	To string `yaml:"to"`
	// Stages are the stages, in order, each with its own configuration
	// block. [Specs] builds them from names.
	Stages []StageSpec `yaml:"stages"`
}

// Validate checks one segment where a file gives it, so that a missing or
// contradictory key is reported at its line ([yamlconf.Validator]);
// [ValidateSegments] repeats these checks for segments built in Go and adds
// the ones across segments.
func (s *Segment) Validate() error {
	switch {
	case s.From == "":
		return errors.New(`needs "from": the topic it consumes`)
	case s.To == "":
		return errors.New(`needs "to": the topic it produces to`)
	case s.From == s.To:
		return &yamlconf.KeyError{Key: "to", Err: fmt.Errorf("is the topic the segment consumes (%q)", s.From)}
	case len(s.Stages) == 0:
		return errors.New(`needs "stages": at least one stage`)
	}
	return nil
}

// DefaultSegments is koistream's standard chain: raw → normalize, dedupe →
// observed → ridify → events. The observed topic sits before ridify so that
// every observation of one RID lands on one partition, in order, which is
// what makes ridify's per-RID state correct.
func DefaultSegments() []Segment {
	return []Segment{
		{Name: "ingest", From: "raw", To: "observed", Stages: Specs(NormalizeName, DedupeName)},
		{Name: "ridify", From: "observed", To: "events", Stages: Specs(RidifyName)},
	}
}

// ValidateSegments checks that every segment names its topics and stages,
// that segment IDs are unique, and that every stage is registered in reg.
// Stage blocks are checked by the stages' factories when the node builds
// them.
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
		id := s.ID()
		if s.From == "" || s.To == "" {
			return fmt.Errorf("pipeline segment %d (%s): from and to are required", i, id)
		}
		if s.From == s.To {
			return fmt.Errorf("pipeline segment %s: from and to are the same topic %q", id, s.From)
		}
		if len(s.Stages) == 0 {
			return fmt.Errorf("pipeline segment %s: no stages", id)
		}
		if seen[id] {
			return fmt.Errorf("pipeline segment name %q used twice", id)
		}
		seen[id] = true
		for _, st := range s.Stages {
			if known[st.Name] {
				continue
			}
			if st.Config != nil {
				// From a file: say where, and what was probably meant.
				if near := yamlconf.Nearest(st.Name, reg.Names()); near != "" {
					return st.Config.Errorf("no such stage (did you mean %q?)", near)
				}
				return st.Config.Errorf("no such stage (known: %s)", strings.Join(reg.Names(), ", "))
			}
			return fmt.Errorf("pipeline segment %s: stage %q is not registered (known: %v)", id, st.Name, reg.Names())
		}
	}
	return nil
}

// ID returns the segment's name: Name, or "<from>-to-<to>" when Name is
// empty. It names the segment's consumer group ("<prefix>stage.<id>"), its
// logs, its spans and the dead letters it writes; renaming a segment makes
// it a new consumer group, which reads its input topic from the start.
func (s Segment) ID() string {
	if s.Name != "" {
		return s.Name
	}
	return s.From + "-to-" + s.To
}
