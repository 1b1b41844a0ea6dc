package stages_test

import (
	"context"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/observed"
)

func TestRepoFilter(t *testing.T) {
	t.Parallel()
	cfg := stages.ConfigOf(stages.RepoFilterConfig{Repositories: []github.FullName{"Koi-Garden/Pond-Sensor"}})
	st, err := stages.Builtin().New(stages.RepoFilterName, stages.Deps{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		rid  string
		keep bool
	}{
		{"orn:github.repo:koi-garden/pond-sensor", true},
		{"orn:github.event:koi-garden/pond-sensor:d-1", true},
		{"orn:github.issue:KOI-GARDEN/pond-sensor:7", true},
		{"orn:github.commit:koi-garden/pond-sensor:0123456789abcdef0123456789abcdef01234567", true},
		{"orn:github.repo:koi-garden/other", false},
		{"orn:github.event:koi-garden:d-2", false}, // organization event
		{"orn:slack.message:x", false},
	}
	for _, c := range cases {
		t.Run(c.rid, func(t *testing.T) {
			m := message.NewMessage("m", nil)
			m.Metadata.Set(observed.HeaderRID, c.rid)
			out, err := st.Process(context.Background(), m)
			if err != nil || (len(out) == 1) != c.keep {
				t.Fatalf("kept %d, err %v; want keep=%v", len(out), err, c.keep)
			}
		})
	}
}

// TestRepoFilterConfigInGo: a block written in Go is checked like one from
// a file.
func TestRepoFilterConfigInGo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  stages.Config
		want string // the whole error; "" builds
	}{
		{"map", stages.ConfigOf(map[string]any{"repositories": []string{"octo/hello"}}), ""},
		{"no block", nil, `build stage "repofilter": needs the repositories to keep, as {repositories: [owner/repo]}; without them it would drop everything`},
		{"empty list", stages.ConfigOf(stages.RepoFilterConfig{}), `build stage "repofilter": needs the repositories to keep, as {repositories: [owner/repo]}; without them it would drop everything`},
		{"not owner/repo", stages.ConfigOf(map[string]any{"repositories": []string{"octo"}}), `build stage "repofilter": repositories[0] must be a repository as "owner/repo", got "octo"`},
		{"unknown key", stages.ConfigOf(map[string]any{"repos": []string{"octo/hello"}}), `build stage "repofilter": unknown key "repos" at the top level (did you mean "repositories"?)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := stages.Builtin().New(stages.RepoFilterName, stages.Deps{}, c.cfg)
			if c.want == "" && err != nil || c.want != "" && (err == nil || err.Error() != c.want) {
				t.Fatalf("error %v\nwant %q", err, c.want)
			}
		})
	}
}
