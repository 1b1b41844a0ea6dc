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
		if _, err := r.New(n, stateDeps(t), nil); err != nil {
			t.Errorf("builtin %s: %v", n, err)
		}
	}
	var got stages.Config
	custom := func(_ stages.Deps, cfg stages.Config) (stages.Stage, error) {
		got = cfg
		return fanout{"custom", 1, nil}, nil
	}
	if err := r.Register("custom", custom); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("custom", custom); err == nil {
		t.Fatal("registering a name twice succeeded")
	}
	if _, err := r.New("custom", stages.Deps{}, nil); err != nil || got == nil {
		t.Fatalf("custom stage without a block: err %v, factory got config %v; want a non-nil empty config", err, got)
	}
	if _, err := r.New("nope", stages.Deps{}, nil); err == nil || !strings.Contains(err.Error(), "not registered") {
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
		{"missing topic", []stages.Segment{{From: "raw", Stages: stages.Specs("normalize")}}, "from and to are required"},
		{"loop", []stages.Segment{{From: "raw", To: "raw", Stages: stages.Specs("normalize")}}, "same topic"},
		{"no stages", []stages.Segment{{From: "raw", To: "observed"}}, "no stages"},
		{"unknown stage", []stages.Segment{{From: "raw", To: "observed", Stages: stages.Specs("normalise")}}, `"normalise" is not registered`},
		{"duplicate names", []stages.Segment{
			{Name: "x", From: "raw", To: "observed", Stages: stages.Specs("normalize")},
			{Name: "x", From: "observed", To: "events", Stages: stages.Specs("ridify")},
		}, "used twice"},
		{"duplicate default IDs", []stages.Segment{
			{From: "raw", To: "observed", Stages: stages.Specs("normalize")},
			{From: "raw", To: "observed", Stages: stages.Specs("dedupe")},
		}, `"raw-to-observed" used twice`},
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

func TestSegmentID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		seg  stages.Segment
		want string
	}{
		{stages.Segment{Name: "ingest", From: "raw", To: "observed"}, "ingest"},
		{stages.Segment{From: "raw", To: "observed"}, "raw-to-observed"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			if got := c.seg.ID(); got != c.want {
				t.Fatalf("ID() = %q, want %q", got, c.want)
			}
		})
	}
}
