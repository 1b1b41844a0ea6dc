package stages_test

import (
	"context"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics/observed"
)

func TestRepoFilter(t *testing.T) {
	t.Parallel()
	st, err := stages.Builtin().New(stages.RepoFilterName, stages.Deps{Repositories: []string{"Koi-Garden/Pond-Sensor"}})
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
	if _, err := stages.Builtin().New(stages.RepoFilterName, stages.Deps{}); err == nil {
		t.Fatal("repofilter without repositories built")
	}
}
