package pipeline_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/pipeline/webhook"
	gh "github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/events"
	koinet "github.com/koistream/koistream/topics/koi"
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
	// Requests, pages, quota and waits are on /metrics per repository.
	resp, err := http.Get("http://" + n.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`koistream_backfill_requests_total{`, `koistream_backfill_pages_total{`, `koistream_backfill_items_total{`,
		`koistream_backfill_not_modified_total{`, `koistream_backfill_waits_total{`, `koistream_backfill_waited_seconds_total{`,
		`koistream_backfill_quota_remaining{`, `repository="octo/hello"`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "koistream_backfill_pages_total{") && strings.HasSuffix(line, " 0") {
			t.Errorf("no page counted after a pass: %s", line)
		}
	}
}

// gateTransport is the fetcher's transport in tests that need the node up
// before its first pass reaches GitHub: requests wait until open is
// closed. Requests whose URL path contains stall (when not empty) never
// get an answer: they wait until their context ends, like a GitHub that
// hangs.
type gateTransport struct {
	open  chan struct{}
	stall string
}

func newGate(opened bool, stall string) *gateTransport {
	g := &gateTransport{open: make(chan struct{}), stall: stall}
	if opened {
		close(g.open)
	}
	return g
}

func (g *gateTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.stall != "" && strings.Contains(req.URL.Path, g.stall) {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	select {
	case <-g.open:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// repoPath is the path of the test repository's object: every pass
// starts with a GET of it.
const repoPath = "/repos/octo/hello"

// passStarts returns the indices in reqs of the GETs of the repository
// object: where each pass began.
func passStarts(reqs []fakegithub.Request) []int {
	var out []int
	for i, r := range reqs {
		if r.Method == http.MethodGet && strings.EqualFold(r.URI, repoPath) { // as configured, in any case
			out = append(out, i)
		}
	}
	return out
}

// waitPassDone waits until the node's k-th pass (1-based) over the
// repository has ended, delivery recovery included: the next pass has
// begun. It returns the requests of pass k.
func waitPassDone(t *testing.T, fake *fakegithub.Server, k int) []fakegithub.Request {
	t.Helper()
	var reqs []fakegithub.Request
	var starts []int
	topicstest.WaitFor(t, 60*time.Second, "the end of backfill pass "+string(rune('0'+k)), func() bool {
		reqs = fake.Requests()
		starts = passStarts(reqs)
		return len(starts) > k
	})
	return reqs[starts[k-1]:starts[k]]
}

// nodeEvent is one record of the node's events topic.
type nodeEvent struct {
	typ  koinet.EventType
	hash string
}

// nodeEvents reads the node's events topic read_committed and returns
// each RID's events in log order (per partition; an RID has one).
func nodeEvents(t *testing.T, n *pipeline.Node) map[string][]nodeEvent {
	t.Helper()
	out := map[string][]nodeEvent{}
	for _, r := range topicstest.ReadAll(t, n.KafkaAddrs()[0], n.Topics().Events) {
		v, err := events.ParseValue(r.Value)
		if err != nil {
			t.Fatalf("events record %d/%d: %v", r.Partition, r.Offset, err)
		}
		e := nodeEvent{typ: v.EventType}
		if v.EventType != koinet.EventForget {
			var m koinet.Manifest
			if err := json.Unmarshal(v.Manifest, &m); err != nil {
				t.Fatalf("events record %d/%d: manifest: %v", r.Partition, r.Offset, err)
			}
			e.hash = m.SHA256Hash
		}
		out[v.RID] = append(out[v.RID], e)
	}
	return out
}

// endOffsetSum is the sum of topic's end offsets.
func endOffsetSum(t *testing.T, n *pipeline.Node, topic string) int64 {
	t.Helper()
	var sum int64
	for _, o := range topicstest.EndOffsets(t, n.KafkaAddrs()[0], topic) {
		sum += o
	}
	return sum
}

// githubRIDs returns the cached RIDs of GitHub entities (repo, issue, pr,
// commit), sorted.
func githubRIDs(t *testing.T, n *pipeline.Node) []string {
	t.Helper()
	all, err := n.Cache().RIDs(nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range all {
		for _, p := range []string{gh.TypeRepo + ":", gh.TypeIssue + ":", gh.TypePR + ":", gh.TypeCommit + ":"} {
			if strings.HasPrefix(r, p) {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestBackfillSecondPassCostsOnly304s: a node's first pass yields exactly
// the repository's entity RIDs; its next pass over the unchanged
// repository sends only conditional requests, each answered 304, and
// appends nothing: the raw and events topics' end offsets do not move and
// each entity was announced once.
func TestBackfillSecondPassCostsOnly304s(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(fakegithub.Options{})
	t.Cleanup(fake.Close)
	fake.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "hello", Issues: 5, Pulls: 3, Commits: 4, Events: 3})
	n := startStreamsNode(t, func(c *pipeline.Config) {
		c.Backfill = pipeline.BackfillConfig{APIURL: fake.URL, Repos: []string{"octo/hello"}, Tokens: []string{"t1"},
			Interval: time.Second}
	})
	want := []string{"orn:github.repo:octo/hello"}
	for i := 1; i <= 5; i++ {
		want = append(want, gh.IssueRID("octo/hello", int64(i)))
	}
	for i := 6; i <= 8; i++ {
		want = append(want, gh.PRRID("octo/hello", int64(i)))
	}
	for _, sha := range fake.CommitSHAs("octo/hello") {
		want = append(want, gh.CommitRID("octo/hello", sha))
	}
	slices.Sort(want)

	first := waitPassDone(t, fake, 1)
	topicstest.WaitFor(t, 60*time.Second, "the first pass's entities in the cache", func() bool {
		return len(githubRIDs(t, n)) >= len(want)
	})
	waitDrained(t, n)
	if got := githubRIDs(t, n); !slices.Equal(got, want) {
		t.Fatalf("cached entity RIDs after the first pass\n got %v\nwant %v", got, want)
	}
	var full int
	for _, r := range first {
		if r.Status == http.StatusOK {
			full++
		}
	}
	if full < 5 {
		t.Fatalf("first pass: %d 200 answers, want the repository, events, issues, pulls and commits: %+v", full, first)
	}
	rawEnd, eventsEnd := endOffsetSum(t, n, n.Topics().Raw), endOffsetSum(t, n, n.Topics().Events)

	// Pass 2 is complete once pass 3 has begun.
	second := waitPassDone(t, fake, 2)
	lists := map[string]bool{}
	for _, r := range second {
		// Nothing else either: delivery recovery, whose list requests no
		// ETag saves, runs at the first pass and then hourly.
		if r.IfNoneMatch == "" || r.Status != http.StatusNotModified {
			t.Errorf("second pass: %s %s with If-None-Match %q answered %d, want a conditional request answered 304",
				r.Method, r.URI, r.IfNoneMatch, r.Status)
		}
		u, _ := url.Parse(r.URI)
		lists[u.Path] = true
	}
	for _, p := range []string{repoPath, repoPath + "/issues", repoPath + "/pulls", repoPath + "/commits"} {
		if !lists[p] {
			t.Errorf("second pass made no request of %s: %+v", p, second)
		}
	}
	waitDrained(t, n)
	if got := endOffsetSum(t, n, n.Topics().Raw); got != rawEnd {
		t.Errorf("raw topic end offsets moved from %d to %d over the unchanged pass", rawEnd, got)
	}
	if got := endOffsetSum(t, n, n.Topics().Events); got != eventsEnd {
		t.Errorf("events topic end offsets moved from %d to %d over the unchanged pass", eventsEnd, got)
	}
	evs := nodeEvents(t, n)
	for _, rid := range want {
		if got := evs[rid]; len(got) != 1 || got[0].typ != koinet.EventNew {
			t.Errorf("events of %s: %v, want one NEW", rid, got)
		}
	}
	var announced []string
	for rid := range evs {
		if strings.HasPrefix(rid, "orn:github.") {
			announced = append(announced, rid)
		}
	}
	slices.Sort(announced)
	if !slices.Equal(announced, want) {
		t.Errorf("events name GitHub RIDs\n got %v\nwant %v", announced, want)
	}
}

// signedPost posts body to the node's webhook as GitHub would and fails
// the test unless it is accepted.
func signedPost(t *testing.T, addr, secret, event, guid string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+pipeline.DefaultWebhookPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", guid)
	req.Header.Set("User-Agent", "GitHub-Hookshot/test")
	req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("webhook %s %s: %d %s", event, guid, resp.StatusCode, b)
	}
}

// issuesPayload is an issues webhook payload showing issue n of
// octo/hello and the repository as the fake's API serves them now.
func issuesPayload(fake *fakegithub.Server, action string, n int) []byte {
	return []byte(`{"action":"` + action + `","issue":` + string(fake.IssueJSON("octo/hello", n)) +
		`,"repository":` + string(fake.RepoJSON("octo/hello")) + `,"sender":{"login":"user1","id":1,"type":"User"}}`)
}

func waitCached(t *testing.T, n *pipeline.Node, rids ...string) {
	t.Helper()
	topicstest.WaitFor(t, 60*time.Second, "RIDs cached: "+strings.Join(rids, ", "), func() bool {
		for _, rid := range rids {
			if _, found, err := n.Cache().Manifest(rid); err != nil || !found {
				return false
			}
		}
		return true
	})
}

// TestBackfillAfterWebhookSameStateNoUpdate: an issue delivered by webhook
// and then backfilled in the same state is announced once (one NEW, no
// UPDATE): both views hash the same. An edit on GitHub, brought in by the
// next pass, is exactly one UPDATE however many passes and webhooks see
// it. The other order, a webhook of a state already backfilled, announces
// nothing of the issue either.
func TestBackfillAfterWebhookSameStateNoUpdate(t *testing.T) {
	t.Parallel()
	const secret = "backfill-webhook-secret"
	fake := fakegithub.New(fakegithub.Options{})
	t.Cleanup(fake.Close)
	fake.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "hello", Issues: 2, Pulls: 1, Commits: 2})
	gate := newGate(false, "")
	n := startStreamsNode(t, func(c *pipeline.Config) {
		c.WebhookSecrets = [][]byte{[]byte(secret)}
		c.Backfill = pipeline.BackfillConfig{APIURL: fake.URL, Repos: []string{"octo/hello"}, Tokens: []string{"t1"},
			Interval: time.Second, HTTPClient: &http.Client{Transport: gate}}
	})
	issue := gh.IssueRID("octo/hello", 1)
	repo := gh.RepoRID("octo/hello")
	signedPost(t, n.Addr(), secret, "issues", "11111111-1111-1111-1111-111111111111", issuesPayload(fake, "opened", 1))
	waitCached(t, n, issue, repo)
	if reqs := fake.Requests(); len(reqs) != 0 {
		t.Fatalf("the backfill reached GitHub before the gate opened: %+v", reqs)
	}
	close(gate.open)
	waitPassDone(t, fake, 1)
	waitCached(t, n, gh.IssueRID("octo/hello", 2), gh.PRRID("octo/hello", 3))
	waitDrained(t, n)
	evs := nodeEvents(t, n)
	for _, rid := range []string{issue, repo} {
		if got := evs[rid]; len(got) != 1 || got[0].typ != koinet.EventNew {
			t.Errorf("events of %s after the webhook and the backfill of the same state: %v, want one NEW", rid, got)
		}
	}

	// The other way round: a delivery of what the backfill brought in
	// announces its event, not the issue again.
	issue2 := gh.IssueRID("octo/hello", 2)
	signedPost(t, n.Addr(), secret, "issues", "22222222-2222-2222-2222-222222222222", issuesPayload(fake, "labeled", 2))
	waitCached(t, n, gh.EventRID("octo/hello", "22222222-2222-2222-2222-222222222222"))
	waitDrained(t, n)
	if got := nodeEvents(t, n)[issue2]; len(got) != 1 || got[0].typ != koinet.EventNew {
		t.Errorf("events of %s after the backfill and a webhook of the same state: %v, want one NEW", issue2, got)
	}

	fake.EditIssue("octo/hello", 1, "Edited on GitHub")
	edited := fake.Requests()
	topicstest.WaitFor(t, 60*time.Second, "the edit backfilled", func() bool {
		b, found, err := n.Cache().Bundle(issue)
		return err == nil && found && strings.Contains(string(b), "Edited on GitHub")
	})
	// Two full passes after the edit: the one that brought it and one
	// that sees it again.
	k := len(passStarts(edited)) + 2
	waitPassDone(t, fake, k)
	// The edit's webhook, arriving after the backfill saw it, changes
	// nothing either.
	signedPost(t, n.Addr(), secret, "issues", "33333333-3333-3333-3333-333333333333", issuesPayload(fake, "edited", 1))
	waitCached(t, n, gh.EventRID("octo/hello", "33333333-3333-3333-3333-333333333333"))
	waitDrained(t, n)
	evs = nodeEvents(t, n)
	got := evs[issue]
	if len(got) != 2 || got[0].typ != koinet.EventNew || got[1].typ != koinet.EventUpdate || got[0].hash == got[1].hash {
		t.Errorf("events of %s after the edit: %v, want NEW then one UPDATE with a new hash", issue, got)
	}
	if got := evs[repo]; len(got) != 1 {
		t.Errorf("events of %s: %v, want the one NEW (the repository did not change)", repo, got)
	}
}

// webhookForwarder is a webhook URL known before the node starts (the
// fake GitHub takes it at New), forwarding to the node once it is set.
type webhookForwarder struct {
	srv    *httptest.Server
	target atomic.Pointer[url.URL]
}

func newWebhookForwarder(t *testing.T) *webhookForwarder {
	f := &webhookForwarder{}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		if u := f.target.Load(); u != nil {
			pr.SetURL(u)
		}
	}}
	f.srv = httptest.NewServer(proxy)
	t.Cleanup(f.srv.Close)
	return f
}

// TestBackfillRecoversOnlyMissingDeliveries: GitHub holds failed
// deliveries, one the node already has and two it lacks, and a successful
// one the node lacks; the node's pass asks GitHub to redeliver exactly the
// two failed ones it lacks, they reach the cache as event RIDs, and later
// passes ask for nothing more. Nothing is announced twice.
//
// The repository may be configured in another case than GitHub spells it
// (the README's blockscience/koi-net is GitHub's BlockScience/koi-net):
// the delivery's event RID is GitHub's spelling, and the node still knows
// what it has.
func TestBackfillRecoversOnlyMissingDeliveries(t *testing.T) {
	t.Parallel()
	for _, configured := range []string{"octo/hello", "OCTO/Hello"} {
		t.Run(configured, func(t *testing.T) {
			t.Parallel()
			testRecoversOnlyMissingDeliveries(t, configured)
		})
	}
}

func testRecoversOnlyMissingDeliveries(t *testing.T, configured string) {
	const secret = "recovery-secret"
	fw := newWebhookForwarder(t)
	fake := fakegithub.New(fakegithub.Options{WebhookURL: fw.srv.URL + pipeline.DefaultWebhookPath, WebhookSecret: secret})
	t.Cleanup(fake.Close)
	fake.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "hello", Issues: 4, Commits: 1})
	gate := newGate(false, "")
	n := startStreamsNode(t, func(c *pipeline.Config) {
		c.WebhookSecrets = [][]byte{[]byte(secret)}
		c.Backfill = pipeline.BackfillConfig{APIURL: fake.URL, Repos: []string{configured}, Tokens: []string{"t1"},
			Interval: time.Second, HTTPClient: &http.Client{Transport: gate}}
	})
	fw.target.Store(&url.URL{Scheme: "http", Host: n.Addr()})

	const (
		had     = "aaaaaaaa-0000-0000-0000-000000000001" // failed, but the node has it
		lost1   = "aaaaaaaa-0000-0000-0000-000000000002" // failed with a 5xx
		lost2   = "aaaaaaaa-0000-0000-0000-000000000003" // failed without an answer
		success = "aaaaaaaa-0000-0000-0000-000000000004" // succeeded: not GitHub's to redeliver
	)
	signedPost(t, n.Addr(), secret, "issues", had, issuesPayload(fake, "opened", 1))
	waitCached(t, n, gh.EventRID("octo/hello", had))
	for i, d := range []fakegithub.Delivery{
		{GUID: had, StatusCode: 502},
		{GUID: lost1, StatusCode: 500},
		{GUID: lost2, StatusCode: 0},
		{GUID: success, StatusCode: 200},
	} {
		d.Event, d.Action, d.Body = "issues", "opened", issuesPayload(fake, "opened", i+1)
		fake.AddDelivery("octo/hello", 77, d)
	}
	close(gate.open)
	waitCached(t, n, gh.EventRID("octo/hello", lost1), gh.EventRID("octo/hello", lost2))
	// Two more passes, whose recoveries find nothing missing.
	waitPassDone(t, fake, 3)
	waitDrained(t, n)
	got := fake.Redelivered()
	slices.Sort(got)
	if want := []string{lost1, lost2}; !slices.Equal(got, want) {
		t.Errorf("redelivered %v, want %v (each failed delivery the node lacks, once)", got, want)
	}
	if _, found, err := n.Cache().Manifest(gh.EventRID("octo/hello", success)); err != nil || found {
		t.Errorf("the successful delivery %s is cached (%v): it was never redelivered", success, err)
	}
	evs := nodeEvents(t, n)
	for _, guid := range []string{had, lost1, lost2} {
		rid := gh.EventRID("octo/hello", guid)
		if got := evs[rid]; len(got) != 1 || got[0].typ != koinet.EventNew {
			t.Errorf("events of %s: %v, want one NEW", rid, got)
		}
	}
	for rid, es := range evs {
		seen := map[string]bool{}
		for _, e := range es {
			if seen[e.hash] {
				t.Errorf("%s announced twice with hash %s: %v", rid, e.hash, es)
			}
			seen[e.hash] = true
		}
	}
}

// koiFetch posts a fetch_bundles request to the node's KOI-net API.
func koiFetch(t *testing.T, addr string, rids ...string) (bundles map[string]json.RawMessage, notFound, deferred []string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"type": "fetch_bundles", "rids": rids})
	resp, err := http.Post("http://"+addr+koiapi.DefaultPath+"/bundles/fetch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bundles/fetch %v: %d %s", rids, resp.StatusCode, raw)
	}
	var p struct {
		Bundles []struct {
			Manifest koinet.Manifest `json:"manifest"`
			Contents json.RawMessage `json:"contents"`
		} `json:"bundles"`
		NotFound []string `json:"not_found"`
		Deferred []string `json:"deferred"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("bundles/fetch: %v: %s", err, raw)
	}
	bundles = map[string]json.RawMessage{}
	for _, b := range p.Bundles {
		bundles[b.Manifest.RID] = b.Contents
	}
	slices.Sort(p.NotFound)
	slices.Sort(p.Deferred)
	return bundles, p.NotFound, p.Deferred
}

// TestBackfillDereferenceThroughKOINet: a KOI-net fetch of GitHub RIDs the
// cache lacks is answered from GitHub: the entities it has come back as
// bundles (and are cached), those it does not have are not_found, and one
// GitHub does not answer within the dereference timeout is deferred.
func TestBackfillDereferenceThroughKOINet(t *testing.T) {
	t.Parallel()
	fake := fakegithub.New(fakegithub.Options{})
	t.Cleanup(fake.Close)
	fake.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "hello", Issues: 3, Pulls: 1, Commits: 2})
	n := startStreamsNode(t, func(c *pipeline.Config) {
		// No monitored repository: nothing is cached but what is asked for.
		c.Backfill = pipeline.BackfillConfig{APIURL: fake.URL, Tokens: []string{"t1"},
			DereferenceTimeout: 1500 * time.Millisecond,
			HTTPClient:         &http.Client{Transport: newGate(true, "/issues/3")}}
	})
	commit := gh.CommitRID("octo/hello", fake.CommitSHAs("octo/hello")[1])
	for _, tc := range []struct {
		name               string
		rids               []string
		found              []string
		notFound, deferred []string
	}{
		{name: "answered", rids: []string{gh.IssueRID("octo/hello", 2), gh.PRRID("octo/hello", 4), commit, gh.RepoRID("octo/hello")},
			found: []string{gh.IssueRID("octo/hello", 2), gh.PRRID("octo/hello", 4), commit, gh.RepoRID("octo/hello")}},
		{name: "not on GitHub", rids: []string{gh.IssueRID("octo/hello", 99), gh.IssueRID("octo/missing", 1),
			gh.CommitRID("octo/hello", strings.Repeat("ab", 20))},
			notFound: []string{gh.CommitRID("octo/hello", strings.Repeat("ab", 20)), gh.IssueRID("octo/hello", 99), gh.IssueRID("octo/missing", 1)}},
		{name: "GitHub stalls", rids: []string{gh.IssueRID("octo/hello", 3)}, deferred: []string{gh.IssueRID("octo/hello", 3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundles, notFound, deferred := koiFetch(t, n.Addr(), tc.rids...)
			for _, rid := range tc.found {
				c, ok := bundles[rid]
				if !ok {
					t.Errorf("no bundle of %s (not_found %v, deferred %v)", rid, notFound, deferred)
					continue
				}
				cached, found, err := n.Cache().Bundle(rid)
				if err != nil || !found || !bytes.Contains(cached, c) {
					t.Errorf("%s answered but not cached as answered (found %v, err %v)", rid, found, err)
				}
			}
			if len(bundles) != len(tc.found) {
				t.Errorf("%d bundles, want %d", len(bundles), len(tc.found))
			}
			if !slices.Equal(notFound, tc.notFound) {
				t.Errorf("not_found %v, want %v", notFound, tc.notFound)
			}
			if !slices.Equal(deferred, tc.deferred) {
				t.Errorf("deferred %v, want %v", deferred, tc.deferred)
			}
		})
	}
	if b, _, _ := koiFetch(t, n.Addr(), gh.IssueRID("octo/hello", 2)); !strings.Contains(string(b[gh.IssueRID("octo/hello", 2)]), "Issue 2") {
		t.Errorf("issue 2's bundle does not show its title: %s", b[gh.IssueRID("octo/hello", 2)])
	}
}
