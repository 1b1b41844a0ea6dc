package fakegithub_test

import (
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	gh "github.com/koistream/koistream/stages/github"
)

// The fake's entities are shaped so that the project's webhook normalizer
// takes them: an issues and a pull_request payload built from the API's
// objects yield the repository, issue and pull request observations with
// every canonical field filled in.
func TestEntitiesNormalizeAsWebhookPayloads(t *testing.T) {
	c, _ := setup(t, fakegithub.Options{})
	repo := string(c.srv.RepoJSON("o/r"))
	for _, tc := range []struct {
		event, payload, rid string
	}{
		{"issues", `{"action":"edited","issue":` + string(c.srv.IssueJSON("o/r", 3)) + `,"repository":` + repo + `,"sender":{"login":"o"}}`, "orn:github.issue:o/r:3"},
		{"pull_request", `{"action":"closed","number":9,"pull_request":` + string(c.srv.PullJSON("o/r", 9)) + `,"repository":` + repo + `,"sender":{"login":"o"}}`, "orn:github.pr:o/r:9"},
	} {
		obs, err := gh.Normalize(gh.Input{Event: tc.event, Delivery: "d-" + tc.event, ContentType: "application/json", Body: []byte(tc.payload)})
		if err != nil {
			t.Fatalf("%s: Normalize: %v", tc.event, err)
		}
		found := map[string]string{}
		for _, o := range obs {
			found[o.RID] = string(o.Contents)
		}
		for _, rid := range []string{"orn:github.repo:o/r", tc.rid} {
			got, ok := found[rid]
			if !ok {
				t.Errorf("%s: no observation of %s among %v", tc.event, rid, obs)
				continue
			}
			for _, null := range []string{`"html_url":null`, `"created_at":null`, `"updated_at":null`, `"user":null`, `"state":null`} {
				if strings.Contains(got, null) {
					t.Errorf("%s: %s has %s: %s", tc.event, rid, null, got)
				}
			}
		}
	}
}
