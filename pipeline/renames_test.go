package pipeline_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/koiapi"
	gh "github.com/koistream/koistream/stages/github"
	koinet "github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/topicstest"
)

// koiRIDs asks the node's KOI-net API for the RIDs it holds of the given
// types (POST /rids/fetch), sorted.
func koiRIDs(t *testing.T, addr string, types ...string) []string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"type": "fetch_rids", "rid_types": types})
	resp, err := http.Post("http://"+addr+koiapi.DefaultPath+"/rids/fetch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rids/fetch %v: %d %s", types, resp.StatusCode, raw)
	}
	var p koinet.RidsPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("rids/fetch: %v: %s", err, raw)
	}
	slices.Sort(p.Rids)
	return p.Rids
}

// waitGone waits until none of rids is in the node's cache.
func waitGone(t *testing.T, n *pipeline.Node, rids ...string) {
	t.Helper()
	topicstest.WaitFor(t, 60*time.Second, "RIDs forgotten", func() bool {
		for _, rid := range rids {
			if _, found, err := n.Cache().Manifest(rid); err != nil || found {
				return false
			}
		}
		return true
	})
}

// TestWebhookRenamesLeaveNoOldRID: through a running node, a repository
// that is renamed or transferred, and an issue that is transferred, are
// cached under their new RIDs only. Each case first posts a signed delivery
// that caches the old RID, then the renamed or transferred delivery (the
// shapes of GitHub's own examples, @octokit/webhooks-examples 7.6.1); the
// old RID leaves the cache and the KOI-net API's /rids/fetch, a FORGET of
// it is announced on the events topic, and the new RID is there. Without
// the forget the old RID would stay cached forever: nothing else removes
// it.
func TestWebhookRenamesLeaveNoOldRID(t *testing.T) {
	t.Parallel()
	const secret = "renames-secret"
	n := startStreamsNode(t, func(c *pipeline.Config) {
		c.WebhookSecrets = [][]byte{[]byte(secret)}
	})
	repo := func(owner, name string) string {
		return `{"id":1296269,"name":"` + name + `","full_name":"` + owner + `/` + name + `","private":false,` +
			`"owner":{"login":"` + owner + `","id":1,"type":"User"},"html_url":"https://github.com/` + owner + `/` + name + `",` +
			`"fork":false,"created_at":"2019-05-15T15:19:25Z","updated_at":"2019-05-15T15:21:03Z","pushed_at":"2019-05-15T15:20:57Z",` +
			`"stargazers_count":0,"forks_count":0,"open_issues_count":1,"default_branch":"main","topics":[]}`
	}
	issue := func(owner, name string, number int) string {
		return `{"number":` + strconv.Itoa(number) + `,"title":"Spelling error in the README file","state":"open",` +
			`"user":{"login":"octocat"},"labels":[],"assignees":[],"milestone":null,"locked":false,"comments":0,` +
			`"html_url":"https://github.com/` + owner + `/` + name + `/issues/` + strconv.Itoa(number) + `",` +
			`"created_at":"2019-05-15T15:20:18Z","updated_at":"2019-05-15T15:20:18Z","closed_at":null}`
	}
	sender := `"sender":{"login":"octocat","id":1,"type":"User"}`
	type delivery struct{ event, guid, body string }
	tests := []struct {
		name           string
		before, change delivery
		gone, present  []string
	}{
		{
			name: "repository renamed",
			before: delivery{"repository", "10000000-0000-0000-0000-000000000001",
				`{"action":"created","repository":` + repo("octo", "hello-old") + `,` + sender + `}`},
			change: delivery{"repository", "10000000-0000-0000-0000-000000000002",
				`{"action":"renamed","changes":{"repository":{"name":{"from":"hello-old"}}},"repository":` + repo("octo", "hello") + `,` + sender + `}`},
			gone:    []string{gh.RepoRID("octo/hello-old")},
			present: []string{gh.RepoRID("octo/hello")},
		},
		{
			name: "repository transferred",
			before: delivery{"push", "20000000-0000-0000-0000-000000000001",
				`{"ref":"refs/heads/main","commits":[],"head_commit":null,"repository":` + repo("octocat", "spoon-knife") + `,` + sender + `}`},
			change: delivery{"repository", "20000000-0000-0000-0000-000000000002",
				`{"action":"transferred","changes":{"owner":{"from":{"user":{"login":"octocat","id":1,"type":"User"}}}},"repository":` +
					repo("octo-org", "spoon-knife") + `,` + sender + `}`},
			gone:    []string{gh.RepoRID("octocat/spoon-knife")},
			present: []string{gh.RepoRID("octo-org/spoon-knife")},
		},
		{
			name: "issue transferred",
			before: delivery{"issues", "30000000-0000-0000-0000-000000000001",
				`{"action":"opened","issue":` + issue("octo", "issues-old", 1) + `,"repository":` + repo("octo", "issues-old") + `,` + sender + `}`},
			change: delivery{"issues", "30000000-0000-0000-0000-000000000002",
				`{"action":"transferred","changes":{"new_issue":` + issue("octo", "issues-new", 4) + `,"new_repository":` + repo("octo", "issues-new") + `},` +
					`"issue":` + issue("octo", "issues-old", 1) + `,"repository":` + repo("octo", "issues-old") + `,` + sender + `}`},
			gone:    []string{gh.IssueRID("octo/issues-old", 1)},
			present: []string{gh.IssueRID("octo/issues-new", 4), gh.RepoRID("octo/issues-old")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signedPost(t, n.Addr(), secret, tt.before.event, tt.before.guid, []byte(tt.before.body))
			waitCached(t, n, tt.gone...)
			signedPost(t, n.Addr(), secret, tt.change.event, tt.change.guid, []byte(tt.change.body))
			waitCached(t, n, append([]string{gh.EventRID(ownerOf(tt.change.body), tt.change.guid)}, tt.present...)...)
			waitGone(t, n, tt.gone...)
			waitDrained(t, n)

			held := koiRIDs(t, n.Addr(), gh.TypeRepo, gh.TypeIssue)
			for _, rid := range tt.gone {
				if slices.Contains(held, rid) {
					t.Errorf("rids/fetch still lists %s: %v", rid, held)
				}
				if got := nodeEvents(t, n)[rid]; len(got) != 2 || got[0].typ != koinet.EventNew || got[1].typ != koinet.EventForget {
					t.Errorf("events of %s: %v, want NEW then FORGET", rid, got)
				}
			}
			for _, rid := range tt.present {
				if !slices.Contains(held, rid) {
					t.Errorf("rids/fetch lacks %s: %v", rid, held)
				}
			}
		})
	}
}

// ownerOf returns the repository full_name of a test delivery, the owner
// part of its event RID.
func ownerOf(body string) string {
	var p struct {
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	_ = json.Unmarshal([]byte(body), &p)
	return p.Repository.FullName
}
