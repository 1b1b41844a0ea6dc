package stages_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/stages/yamlconf"
)

// decodeSegments decodes YAML text as the segments list of a file named
// config.yaml.
func decodeSegments(t *testing.T, text string) ([]stages.Segment, error) {
	t.Helper()
	n, err := yamlconf.Parse("config.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var segs []stages.Segment
	err = yamlconf.NewDecoder("config.yaml").Decode(n, "segments", &segs)
	return segs, err
}

// TestStageEntries: an entry of a segment's stages list is a bare name or a
// one-key mapping of the name to the stage's block; anything else is an
// error at its line.
func TestStageEntries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		names      []string // "" entries: none expected
		err        string
	}{
		{"names", "- {from: raw, to: observed, stages: [normalize, dedupe]}\n", []string{"normalize", "dedupe"}, ""},
		{"block", "- from: raw\n  to: observed\n  stages:\n    - normalize\n    - repofilter: {repositories: [octo/hello]}\n", []string{"normalize", "repofilter"}, ""},
		{"null block", "- {from: raw, to: observed, stages: [{normalize: }]}\n", []string{"normalize"}, ""},
		{"list entry", "- from: raw\n  to: observed\n  stages:\n    - [normalize]\n",
			nil, `config.yaml:4: segments[0].stages[0] must be a stage name or name: {its configuration}, got a list`},
		{"two names in one entry", "- from: raw\n  to: observed\n  stages:\n    - {normalize: , dedupe: }\n",
			nil, `config.yaml:4: segments[0].stages[0] must name one stage, as a name or as name: {its configuration}; got a mapping with 2 keys`},
		{"stages not a list", "- {from: raw, to: observed, stages: normalize}\n",
			nil, `config.yaml:1: segments[0].stages must be a list, got "normalize"`},
		{"unknown segment key", "- {from: raw, too: observed, stages: [normalize]}\n",
			nil, `config.yaml:1: unknown key "too" in segments[0] (did you mean "to"?)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			segs, err := decodeSegments(t, c.yaml)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("error %v\nwant %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range segs[0].Stages {
				names = append(names, s.Name)
			}
			if !reflect.DeepEqual(names, c.names) {
				t.Fatalf("stage names %v, want %v", names, c.names)
			}
		})
	}
}

// TestStageBlocks: a stage decodes its own block strictly when it is
// built, and its mistakes, like a stage name that is not registered, name
// the file, the line and the key path.
func TestStageBlocks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		err        string // "" builds every stage
	}{
		{"repofilter with repositories", "- from: raw\n  to: observed\n  stages:\n    - repofilter: {repositories: [octo/hello, Octo/World]}\n", ""},
		{"repofilter mistyped key", "- from: raw\n  to: observed\n  stages:\n    - normalize\n    - repofilter:\n        repos: [octo/hello]\n",
			`config.yaml:6: unknown key "repos" in segments[0].stages[1].repofilter (did you mean "repositories"?)`},
		{"repofilter without a block", "- from: raw\n  to: observed\n  stages:\n    - normalize\n    - repofilter\n",
			`config.yaml:5: segments[0].stages[1].repofilter: needs the repositories to keep, as {repositories: [owner/repo]}; without them it would drop everything`},
		{"repofilter with an empty list", "- from: raw\n  to: observed\n  stages:\n    - repofilter: {repositories: []}\n",
			`config.yaml:4: segments[0].stages[0].repofilter: needs the repositories to keep, as {repositories: [owner/repo]}; without them it would drop everything`},
		{"repofilter repository not owner/repo", "- from: raw\n  to: observed\n  stages:\n    - repofilter:\n        repositories:\n          - octo/hello\n          - koi-net\n",
			`config.yaml:7: segments[0].stages[0].repofilter.repositories[1] must be a repository as "owner/repo", got "koi-net"`},
		{"repofilter repositories not a list", "- from: raw\n  to: observed\n  stages:\n    - repofilter: {repositories: octo/hello}\n",
			`config.yaml:4: segments[0].stages[0].repofilter.repositories must be a list, got "octo/hello"`},
		{"repofilter block not a mapping", "- from: raw\n  to: observed\n  stages:\n    - repofilter: [octo/hello]\n",
			`config.yaml:4: segments[0].stages[0].repofilter must be a mapping (key: value), got a list`},
		{"unknown stage", "- from: raw\n  to: observed\n  stages:\n    - normalise\n",
			`config.yaml:4: segments[0].stages[0].normalise: no such stage (did you mean "normalize"?)`},
		{"unknown stage with a block", "- from: raw\n  to: observed\n  stages:\n    - sampler: {rate: 0.1}\n",
			`config.yaml:4: segments[0].stages[0].sampler: no such stage (known: dedupe, normalize, repofilter, ridify)`},
		{"a stage without configuration given a block", "- from: raw\n  to: observed\n  stages:\n    - normalize: {strict: true}\n",
			`config.yaml:4: unknown key "strict" in segments[0].stages[0].normalize (it takes no keys)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			segs, err := decodeSegments(t, c.yaml)
			if err != nil {
				t.Fatal(err)
			}
			reg := stages.Builtin()
			deps := stateDeps(t)
			// As a node does: validate the segments, then build each stage.
			err = stages.ValidateSegments(segs, reg)
			for i := 0; err == nil && i < len(segs[0].Stages); i++ {
				spec := segs[0].Stages[i]
				_, err = reg.New(spec.Name, deps, spec.Config)
			}
			if c.err == "" && err != nil {
				t.Fatal(err)
			}
			if c.err != "" {
				yerr, ok := errors.AsType[*yamlconf.Error](err)
				if !ok || yerr.Error() != c.err {
					t.Fatalf("error %v\nwant %s", err, c.err)
				}
			}
		})
	}
}
