package stages_test

import (
	"strings"
	"testing"

	"github.com/koistream/koistream/stages"
)

func TestRegistry(t *testing.T) {
	t.Parallel()
	r := stages.Builtin()
	for _, n := range []string{stages.NormalizeName, stages.DedupeName, stages.RidifyName} {
		if _, err := r.New(n, stages.Deps{State: openState(t)}); err != nil {
			t.Errorf("builtin %s: %v", n, err)
		}
	}
	custom := func(stages.Deps) (stages.Stage, error) { return fanout{"custom", 1, nil}, nil }
	if err := r.Register("custom", custom); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("custom", custom); err == nil {
		t.Fatal("registering a name twice succeeded")
	}
	if _, err := r.New("nope", stages.Deps{}); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("unknown stage: %v", err)
	}
}

func TestValidateSegments(t *testing.T) {
	t.Parallel()
	reg := stages.Builtin()
	cases := []struct {
		name string
		segs []stages.Segment
		err  string // substring; "" means valid
	}{
		{"defaults", stages.DefaultSegments(), ""},
		{"none", nil, "no segments"},
		{"missing topic", []stages.Segment{{From: "raw", Stages: []string{"normalize"}}}, "from and to are required"},
		{"loop", []stages.Segment{{From: "raw", To: "raw", Stages: []string{"normalize"}}}, "same topic"},
		{"no stages", []stages.Segment{{From: "raw", To: "observed"}}, "no stages"},
		{"unknown stage", []stages.Segment{{From: "raw", To: "observed", Stages: []string{"normalise"}}}, `"normalise" is not registered`},
		{"duplicate names", []stages.Segment{
			{Name: "x", From: "raw", To: "observed", Stages: []string{"normalize"}},
			{Name: "x", From: "observed", To: "events", Stages: []string{"ridify"}},
		}, "used twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := stages.ValidateSegments(c.segs, reg)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("error %v, want %q", err, c.err)
			}
		})
	}
}
