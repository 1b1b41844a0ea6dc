package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	"github.com/koistream/koistream/topics/topicstest"
)

// TestBackfillThroughANode: a node with a token backfills its monitored
// repository at start: the API's entities reach the cache under the RIDs
// the webhook path uses.
func TestBackfillThroughANode(t *testing.T) {
	t.Parallel()
	gh := fakegithub.New(fakegithub.Options{})
	t.Cleanup(gh.Close)
	gh.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "hello", Issues: 3, Pulls: 2, Commits: 4, Events: 2})
	n := startStreamsNode(t, func(c *pipeline.Config) {
		c.Backfill = pipeline.BackfillConfig{APIURL: gh.URL, Repos: []string{"octo/hello"}, Tokens: []string{"t1"}}
	})
	want := []string{"orn:github.repo:octo/hello", "orn:github.issue:octo/hello:1", "orn:github.pr:octo/hello:4"}
	commits := func() (count int, rids []string) {
		rids, err := n.Cache().RIDs(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rids {
			if strings.HasPrefix(r, "orn:github.commit:octo/hello:") {
				count++
			}
		}
		return count, rids
	}
	topicstest.WaitFor(t, 60*time.Second, "the backfilled entities in the cache", func() bool {
		for _, rid := range want {
			if _, found, err := n.Cache().Bundle(rid); err != nil || !found {
				return false
			}
		}
		c, _ := commits()
		return c >= 4
	})
	if c, rids := commits(); c != 4 {
		t.Errorf("%d commits cached, want 4 (%v)", c, rids)
	}
}
