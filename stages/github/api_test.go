package github_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/githubapi"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

const pondRepo = "koi-garden/pond-sensor"

var apiReceivedAt = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// apiRecord returns the raw record the backfill writes for a response of
// resource fetched from rawURL: built with githubapi.NewMessage and read
// back with raw.Parse, as the fetcher and the normalize stage do.
func apiRecord(tb testing.TB, repo, resource, rawURL string, body []byte) raw.Record {
	tb.Helper()
	m, err := githubapi.NewMessage(githubapi.Input{
		Repo: repo, Resource: resource, URL: rawURL, Status: 200, Body: body,
		ContentType: "application/json; charset=utf-8", ReceivedAt: apiReceivedAt,
	})
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := raw.Parse(m)
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

// apiURL returns the URL of resource of the pond-sensor repository.
func apiURL(resource string) string {
	base := "https://api.github.com/repos/" + pondRepo
	switch resource {
	case githubapi.ResourceRepo:
		return base
	case githubapi.ResourceIssue:
		return base + "/issues/7"
	case githubapi.ResourcePull:
		return base + "/pulls/12"
	case githubapi.ResourceCommit:
		return base + "/commits/a625406f6977d45c1391b078f4d3656e0b75bfcb"
	case githubapi.ResourceIssues:
		return base + "/issues?state=all&sort=updated&direction=asc&per_page=100"
	case githubapi.ResourcePulls:
		return base + "/pulls?state=all&sort=updated&direction=desc&per_page=100"
	}
	return base + "/" + resource + "?per_page=100"
}

func parseAPIFile(tb testing.TB, resource, file string) []observed.Observation {
	tb.Helper()
	body := readFile(tb, filepath.Join("api", file))
	obs, err := github.ParseAPI(context.Background(), apiRecord(tb, pondRepo, resource, apiURL(resource), body))
	if err != nil {
		tb.Fatalf("ParseAPI(%s): %v", file, err)
	}
	return obs
}

func byRID(obs []observed.Observation) map[string]observed.Observation {
	m := make(map[string]observed.Observation, len(obs))
	for _, o := range obs {
		m[o.RID] = o
	}
	return m
}

func rids(obs []observed.Observation) []string {
	out := make([]string, len(obs))
	for i, o := range obs {
		out[i] = o.RID
	}
	return out
}

// TestParseAPISameStateAsWebhook: for each entity type, a webhook delivery
// and the REST view of the same state (testdata/api/README.md) give the
// same RID, Op, routing, path and byte-identical contents, so the same
// manifest hash: a backfill of what webhooks delivered emits nothing new.
// It covers both representations of each list (page and single object),
// the pulls list's missing merged, the push payload's Unix-second
// repository timestamps and its commit timestamps with offsets.
func TestParseAPISameStateAsWebhook(t *testing.T) {
	const (
		merge  = "a625406f6977d45c1391b078f4d3656e0b75bfcb"
		fix    = "6b1f53303a732ccc8c6aae6640399827c15250e3"
		driver = "2f22765d04931a078909145ca628d2264c852d7d"
	)
	for _, tc := range []struct {
		name, event, delivery string // webhook side
		resource, apiFile     string // API side
		rids                  []string
	}{
		{"repo/issues delivery", "issues", "issues.opened.json", githubapi.ResourceRepo, "repo.json",
			[]string{github.RepoRID(pondRepo)}},
		{"repo/push delivery with epoch timestamps", "push", "push.multiple-commits.json", githubapi.ResourceRepo, "repo.json",
			[]string{github.RepoRID(pondRepo)}},
		{"repo/pull_request delivery", "pull_request", "pull_request.opened.json", githubapi.ResourceRepo, "repo.json",
			[]string{github.RepoRID(pondRepo)}},
		{"issue/single", "issues", "issues.opened.json", githubapi.ResourceIssue, "issue.json",
			[]string{github.IssueRID(pondRepo, 7)}},
		{"issue/page", "issues", "issues.opened.json", githubapi.ResourceIssues, "issues.mixed.json",
			[]string{github.IssueRID(pondRepo, 7)}},
		{"pr/single", "pull_request", "pull_request.opened.json", githubapi.ResourcePull, "pull.json",
			[]string{github.PRRID(pondRepo, 12)}},
		{"pr/page without merged", "pull_request", "pull_request.opened.json", githubapi.ResourcePulls, "pulls.json",
			[]string{github.PRRID(pondRepo, 12)}},
		{"commit/page", "push", "push.multiple-commits.json", githubapi.ResourceCommits, "commits.json",
			[]string{github.CommitRID(pondRepo, driver), github.CommitRID(pondRepo, fix), github.CommitRID(pondRepo, merge)}},
		{"commit/single", "push", "push.multiple-commits.json", githubapi.ResourceCommit, "commit.json",
			[]string{github.CommitRID(pondRepo, merge)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hook, err := github.Normalize(jsonInput(tc.event, readFile(t, tc.delivery)))
			if err != nil {
				t.Fatal(err)
			}
			api := parseAPIFile(t, tc.resource, tc.apiFile)
			hookBy, apiBy := byRID(hook), byRID(api)
			for _, rid := range tc.rids {
				h, ok := hookBy[rid]
				if !ok {
					t.Fatalf("webhook path made no %s (got %v)", rid, rids(hook))
				}
				a, ok := apiBy[rid]
				if !ok {
					t.Fatalf("API path made no %s (got %v)", rid, rids(api))
				}
				if a.Op != h.Op || a.Routing != h.Routing || a.Path != h.Path || a.Immutable != h.Immutable {
					t.Errorf("%s: API op/routing/path/immutable %s %s %s %v, webhook %s %s %s %v",
						rid, a.Op, a.Routing, a.Path, a.Immutable, h.Op, h.Routing, h.Path, h.Immutable)
				}
				if !bytes.Equal(a.Contents, h.Contents) {
					t.Errorf("%s: contents differ\n API     %s\n webhook %s", rid, a.Contents, h.Contents)
				}
				ha, errA := koi.Hash(a.Contents)
				hh, errH := koi.Hash(h.Contents)
				if errA != nil || errH != nil || ha != hh {
					t.Errorf("%s: manifest hashes %s (%v) and %s (%v)", rid, ha, errA, hh, errH)
				}
			}
		})
	}
}

// TestParseAPICommitTimestampIsAuthorDate: the canonical timestamp of a
// REST commit is commit.author.date, which the testdata's committer dates
// differ from; were it the committer date, the contents would say so.
func TestParseAPICommitTimestampIsAuthorDate(t *testing.T) {
	obs := parseAPIFile(t, githubapi.ResourceCommit, "commit.json")
	if len(obs) != 1 {
		t.Fatalf("%d observations, want 1", len(obs))
	}
	want := `{"sha":"a625406f6977d45c1391b078f4d3656e0b75bfcb","message":"Merge pull request #12 from koi-garden/turbidity\n\nAdd turbidity sensor",` +
		`"author":{"name":"Nadia Koivisto","email":"nadia@koi-garden.example.org"},"committer":{"name":"GitHub","email":"noreply@github.com"},` +
		`"timestamp":"2024-03-12T09:14:03Z","html_url":"https://github.com/koi-garden/pond-sensor/commit/a625406f6977d45c1391b078f4d3656e0b75bfcb"}`
	if got := string(obs[0].Contents); got != want {
		t.Errorf("contents\n got %s\nwant %s", got, want)
	}
	if obs[0].Path != "/git/koi-garden/pond-sensor/commit" || obs[0].Routing != "ent.commit" || obs[0].Immutable {
		t.Errorf("path %q routing %q immutable %v", obs[0].Path, obs[0].Routing, obs[0].Immutable)
	}
}

// TestParseAPIIssuesWithPullRequests: the issues endpoint lists pull
// requests as issues with a pull_request key; they yield nothing (neither an
// issue nor a pull request observation), in a page and as a single issue,
// while the real issues around them are kept in page order.
func TestParseAPIIssuesWithPullRequests(t *testing.T) {
	for _, tc := range []struct {
		name, resource string
		body           func(t *testing.T) []byte
		want           []string
	}{
		{"page", githubapi.ResourceIssues, func(t *testing.T) []byte { return readFile(t, "api/issues.mixed.json") },
			[]string{github.IssueRID(pondRepo, 7), github.IssueRID(pondRepo, 5)}},
		{"single pull request", githubapi.ResourceIssue, func(t *testing.T) []byte {
			var page []json.RawMessage
			if err := json.Unmarshal(readFile(t, "api/issues.mixed.json"), &page); err != nil {
				t.Fatal(err)
			}
			return page[1]
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs, err := github.ParseAPI(context.Background(), apiRecord(t, pondRepo, tc.resource, apiURL(tc.resource), tc.body(t)))
			if err != nil {
				t.Fatal(err)
			}
			if got := rids(obs); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("RIDs %v, want %v", got, tc.want)
			}
			for _, o := range obs {
				if o.Routing != "ent.issue" || o.Op != observed.OpUpsert {
					t.Errorf("%s: routing %q op %q", o.RID, o.Routing, o.Op)
				}
			}
		})
	}
}

// TestParseAPIRepositoryName: an RID's <owner>/<repo> is the repository as
// GitHub spells it in the object (its API url, GitHub Enterprise's /api/v3
// prefix included), whatever the record's repository header says (a
// configuration's case, a name from before a rename); only an object
// without url falls back to the header.
func TestParseAPIRepositoryName(t *testing.T) {
	const sha = "2f22765d04931a078909145ca628d2264c852d7d"
	for _, tc := range []struct {
		name, header, resource, body, want string
	}{
		{"issue url", "KOI-Garden/Pond-Sensor", githubapi.ResourceIssues,
			`[{"url":"https://api.github.com/repos/koi-garden/pond-sensor/issues/7","number":7}]`, github.IssueRID(pondRepo, 7)},
		{"renamed repository", "koi-garden/old-name", githubapi.ResourcePull,
			`{"url":"https://api.github.com/repos/koi-garden/pond-sensor/pulls/12","number":12}`, github.PRRID(pondRepo, 12)},
		{"GitHub Enterprise", "KOI-GARDEN/pond-sensor", githubapi.ResourceCommits,
			`[{"url":"https://ghe.example.org/api/v3/repos/koi-garden/pond-sensor/commits/` + sha + `","sha":"` + sha + `"}]`, github.CommitRID(pondRepo, sha)},
		{"no url", "Koi-Garden/Pond-Sensor", githubapi.ResourceIssue, `{"number":7}`, github.IssueRID("Koi-Garden/Pond-Sensor", 7)},
		{"null url", "koi-garden/pond-sensor", githubapi.ResourceCommit, `{"url":null,"sha":"` + sha + `"}`, github.CommitRID(pondRepo, sha)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs, err := github.ParseAPI(context.Background(), apiRecord(t, tc.header, tc.resource, apiURL(tc.resource), []byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			if len(obs) != 1 || obs[0].RID != tc.want {
				t.Errorf("RIDs %v, want [%s]", rids(obs), tc.want)
			}
		})
	}
}

type fixturePage struct {
	File string `json:"file"`
	URL  string `json:"url"`
	Link string `json:"link"`
	ETag string `json:"etag"`
}

// TestParseAPIPaginatedIssues: the five recorded pages of @octokit/fixtures'
// paginate-issues, pages 2 to 5 fetched by Link URLs that name the
// repository by id only, and the repository header spelled in another case
// than GitHub's (as a configuration may): the RIDs carry the repository as
// the issues' own URLs spell it, and the 13 issues come out in page order.
func TestParseAPIPaginatedIssues(t *testing.T) {
	var pages []fixturePage
	if err := json.Unmarshal(readFile(t, "api/octokit/paginate-issues.headers.json"), &pages); err != nil {
		t.Fatal(err)
	}
	if len(pages) != 5 {
		t.Fatalf("%d pages, want 5", len(pages))
	}
	var got []string
	for i, p := range pages {
		t.Run(p.File, func(t *testing.T) {
			body := readFile(t, filepath.Join("api", "octokit", p.File))
			m, err := githubapi.NewMessage(githubapi.Input{
				Repo: "Octokit-Fixture-Org/Paginate-Issues", Resource: githubapi.ResourceIssues, URL: p.URL, Status: 200,
				ETag: p.ETag, Link: p.Link, Body: body, ReceivedAt: apiReceivedAt,
			})
			if err != nil {
				t.Fatal(err)
			}
			rec, err := raw.Parse(m)
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 && !strings.Contains(p.URL, "/repositories/1000/") {
				t.Fatalf("page %d URL %s does not name the repository by id", i+1, p.URL)
			}
			obs, err := github.ParseAPI(context.Background(), rec)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range obs {
				if o.Path != "/github/octokit-fixture-org/paginate-issues/issue" {
					t.Errorf("%s: path %q", o.RID, o.Path)
				}
			}
			got = append(got, rids(obs)...)
		})
	}
	var want []string
	for n := 13; n >= 1; n-- {
		want = append(want, github.IssueRID("octokit-fixture-org/paginate-issues", int64(n)))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("RIDs\n got %v\nwant %v", got, want)
	}
}

// TestParseAPIRecordedBodies: real GitHub responses recorded by
// @octokit/fixtures map to the canonical field set as documented (golden
// contents), whatever members GitHub adds around them.
func TestParseAPIRecordedBodies(t *testing.T) {
	for _, tc := range []struct {
		file, resource, repo, rawURL, rid, contents string
	}{
		{
			"octokit/get-repository.json", githubapi.ResourceRepo, "octokit-fixture-org/hello-world",
			"https://api.github.com/repos/octokit-fixture-org/hello-world", "orn:github.repo:octokit-fixture-org/hello-world",
			`{"full_name":"octokit-fixture-org/hello-world","name":"hello-world","owner":"octokit-fixture-org","description":null,` +
				`"private":false,"fork":false,"archived":false,"html_url":"https://github.com/octokit-fixture-org/hello-world",` +
				`"default_branch":"master","language":null,"topics":["fixtures","hello","hello-world"],"stargazers_count":42,"forks_count":42,"open_issues_count":42,` +
				`"created_at":"2017-10-10T16:00:00Z","pushed_at":"2017-10-10T16:00:00Z","updated_at":"2017-10-10T16:00:00Z"}`,
		},
		{
			"octokit/paginate-issues.page1.json", githubapi.ResourceIssues, "octokit-fixture-org/paginate-issues",
			"https://api.github.com/repos/octokit-fixture-org/paginate-issues/issues?per_page=3", "orn:github.issue:octokit-fixture-org/paginate-issues:13",
			`{"number":13,"title":"Test issue 13","state":"open","state_reason":null,"body":null,"user":"octokit-fixture-user-a",` +
				`"labels":[],"assignees":[],"milestone":null,"locked":false,"comments":42,` +
				`"html_url":"https://github.com/octokit-fixture-org/paginate-issues/issues/13",` +
				`"created_at":"2017-10-10T16:00:00Z","updated_at":"2017-10-10T16:00:00Z","closed_at":null}`,
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			obs, err := github.ParseAPI(context.Background(), apiRecord(t, tc.repo, tc.resource, tc.rawURL, readFile(t, filepath.Join("api", tc.file))))
			if err != nil {
				t.Fatal(err)
			}
			o, ok := byRID(obs)[tc.rid]
			if !ok {
				t.Fatalf("no %s in %v", tc.rid, rids(obs))
			}
			if string(o.Contents) != tc.contents {
				t.Errorf("contents\n got %s\nwant %s", o.Contents, tc.contents)
			}
		})
	}
}

// TestParseAPIEvents: an events page is a change signal only: it is
// checked and yields no observation (no event RIDs from Events-API ids).
func TestParseAPIEvents(t *testing.T) {
	obs, err := github.ParseAPI(context.Background(), apiRecord(t, pondRepo, githubapi.ResourceEvents, apiURL(githubapi.ResourceEvents), readFile(t, "api/events.json")))
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 0 {
		t.Errorf("events page gave %v, want nothing", rids(obs))
	}
}

// bigPage returns a JSON array of at least size bytes of small issues.
func bigPage(size int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 1; b.Len() < size; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`{"number":` + strconv.Itoa(i) + `,"title":"t"}`)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// TestParseAPIRefuses: malformed responses and records fail with an error
// that wraps ErrBadAPIResponse and says what is wrong, and nothing is
// returned with it.
func TestParseAPIRefuses(t *testing.T) {
	issue := func(members string) string {
		return `[{"url":"https://api.github.com/repos/koi-garden/pond-sensor/issues/1","number":1` + members + `}]`
	}
	for _, tc := range []struct {
		name, resource, body, want string
	}{
		{"html error page", githubapi.ResourceIssues, "<!DOCTYPE html><html><body>Unicorn!</body></html>", `want a JSON array (a page), got not JSON (starts with "<!DOCTYP")`},
		{"truncated", githubapi.ResourceIssues, `[{"number":1,"title":"a`, "issues.0: unterminated string"},
		{"invalid JSON in an item", githubapi.ResourceIssues, `[{"number":1,"title":tru}]`, "bad API response"},
		{"whitespace only", githubapi.ResourceRepo, " \n\t", "body is only whitespace"},
		{"object for a page", githubapi.ResourceIssues, `{"message":"Not Found"}`, "want a JSON array (a page), got object"},
		{"array for an object", githubapi.ResourceRepo, `[{"full_name":"a/b"}]`, "want a JSON object, got array"},
		{"string for a page", githubapi.ResourceCommits, `"x"`, "want a JSON array (a page), got string"},
		{"item not an object", githubapi.ResourcePulls, `[1]`, "pulls.0: want an object, got number 1"},
		{"null item", githubapi.ResourceIssues, `[{"number":1},null]`, "issues.1: want an object, got null"},
		{"trailing comma", githubapi.ResourceIssues, `[{"number":1},]`, "trailing comma"},
		{"missing comma", githubapi.ResourceIssues, `[{"number":1} {"number":2}]`, "want ',' or ']' after the item"},
		{"data after the value", githubapi.ResourceRepo, `{"full_name":"a/b"} {}`, "data after the JSON value"},
		{"issue without number", githubapi.ResourceIssues, `[{"title":"x"}]`, "issues.0.number: 0 is not positive"},
		{"issue number as string", githubapi.ResourceIssues, `[{"number":"7"}]`, "number: want integer, got string"},
		{"issue number negative", githubapi.ResourceIssue, `{"number":-3}`, "issue.number: -3 is not positive"},
		{"issue title a number", githubapi.ResourceIssues, issue(`,"title":5`), "issues.0.title: want string or null, got number 5"},
		{"issue bad timestamp", githubapi.ResourceIssues, issue(`,"created_at":"yesterday"`), `issues.0.created_at: invalid timestamp "yesterday"`},
		{"issue url of another issue", githubapi.ResourceIssues, `[{"url":"https://api.github.com/repos/o/r/issues/2","number":1}]`, "does not end in /repos/<owner>/<repo>/issues/1"},
		{"issue url of a pull", githubapi.ResourceIssues, `[{"url":"https://api.github.com/repos/o/r/pulls/1","number":1}]`, "does not end in /repos/<owner>/<repo>/issues/1"},
		{"issue url not a string", githubapi.ResourceIssues, `[{"url":1,"number":1}]`, "issues.0.url: want string or null, got number 1"},
		{"pull without number", githubapi.ResourcePulls, `[{"title":"x","head":{"ref":"a","sha":"b"}}]`, "pulls.0.number: 0 is not positive"},
		{"pull head not an object", githubapi.ResourcePull, `{"number":1,"head":"main"}`, "head: want object or null, got string"},
		{"pull merged_at a boolean", githubapi.ResourcePulls, `[{"number":1,"merged_at":true}]`, "pulls.0.merged_at: want timestamp or null, got boolean"},
		{"commit without sha", githubapi.ResourceCommits, `[{"commit":{"message":"m"}}]`, `commits.0.sha: "" is not a full lowercase hex commit sha`},
		{"commit short sha", githubapi.ResourceCommit, `{"sha":"a625406"}`, `commit.sha: "a625406" is not a full lowercase hex commit sha`},
		{"commit message a number", githubapi.ResourceCommits, `[{"sha":"a625406f6977d45c1391b078f4d3656e0b75bfcb","commit":{"message":1}}]`, "commits.0.message: want string or null, got number 1"},
		{"repo without full_name", githubapi.ResourceRepo, `{"name":"pond-sensor"}`, `repository full_name "" is not <owner>/<repo>`},
		{"repo full_name with colon", githubapi.ResourceRepo, `{"full_name":"a:b/c"}`, `repository full_name "a:b/c" is not <owner>/<repo>`},
		{"repo topics not strings", githubapi.ResourceRepo, `{"full_name":"a/b","topics":[1]}`, "repo.topics[]: want string, got number 1"},
		{"event without id", githubapi.ResourceEvents, `[{"type":"PushEvent"}]`, "events.0: an event needs a non-empty string id and type"},
		{"event id a number", githubapi.ResourceEvents, `[{"id":1,"type":"PushEvent"}]`, "id: want string, got number 1"},
		{"10 MB array", githubapi.ResourceIssues, string(bigPage(10 << 20)), "more than 100 items: not a GitHub page"},
		{"101 items", githubapi.ResourceCommits, "[" + strings.Repeat(`{},`, 100) + `{}]`, "more than 100 items"},
		{"deep nesting", githubapi.ResourceRepo, `{"full_name":"a/b","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "nested more than 64 deep"},
		{"deep nesting in a page", githubapi.ResourceIssues, `[{"x":` + strings.Repeat(`{"a":`, 1e5) + `1` + strings.Repeat("}", 1e5) + `}]`, "issues.0: nested more than 64 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs, err := github.ParseAPI(context.Background(), apiRecord(t, pondRepo, tc.resource, apiURL(tc.resource), []byte(tc.body)))
			if !errors.Is(err, github.ErrBadAPIResponse) {
				t.Fatalf("error %v, want one wrapping ErrBadAPIResponse", err)
			}
			if obs != nil {
				t.Errorf("observations %v returned with the error", rids(obs))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error is %d bytes long; errors must not carry the body", len(err.Error()))
			}
		})
	}
}

// TestParseAPIRefusesRecords: a record that is not a valid github-api record
// (another status, an unknown resource, no repository, another source kind)
// fails with an error wrapping both ErrBadAPIResponse and
// githubapi.ErrInvalid.
func TestParseAPIRefusesRecords(t *testing.T) {
	good := func(t *testing.T) raw.Record {
		return apiRecord(t, pondRepo, githubapi.ResourceRepo, apiURL(githubapi.ResourceRepo), readFile(t, "api/repo.json"))
	}
	for _, tc := range []struct {
		name   string
		change func(*raw.Record)
	}{
		{"status 304", func(r *raw.Record) { r.Metadata.Set(githubapi.HeaderStatus, "304") }},
		{"unknown resource", func(r *raw.Record) { r.Metadata.Set(githubapi.HeaderResource, "gists") }},
		{"no repository", func(r *raw.Record) { delete(r.Metadata, githubapi.HeaderRepo) }},
		{"webhook source kind", func(r *raw.Record) { r.Source = "github-webhook" }},
		{"empty body", func(r *raw.Record) { r.Body = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := good(t)
			if _, err := github.ParseAPI(context.Background(), rec); err != nil {
				t.Fatalf("unchanged record: %v", err)
			}
			tc.change(&rec)
			obs, err := github.ParseAPI(context.Background(), rec)
			if !errors.Is(err, github.ErrBadAPIResponse) || !errors.Is(err, githubapi.ErrInvalid) || obs != nil {
				t.Errorf("got %v, %v; want no observations and an error wrapping ErrBadAPIResponse and githubapi.ErrInvalid", rids(obs), err)
			}
		})
	}
}

// TestParseAPIInNormalizeStage: the parser is registered for the
// github-api source kind, the normalize stage stamps its observations with
// the record's source kind, key, receive time and log position, and a
// malformed response is a permanent error (the stage dead-letters it
// without retrying).
func TestParseAPIInNormalizeStage(t *testing.T) {
	parsers := stages.BuiltinParsers()
	if _, ok := parsers.Lookup(githubapi.SourceKind); !ok {
		t.Fatalf("no parser for %q in %v", githubapi.SourceKind, parsers.Kinds())
	}
	st := stages.NewNormalizeWith(parsers)
	ctx := topics.ContextWithPosition(context.Background(), topics.Position{Topic: "koistream.raw", Partition: 3, Offset: 17})
	body, err := os.ReadFile("testdata/api/commits.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		body    []byte
		wantObs int
	}{
		{"commits page", body, 3},
		{"not JSON", []byte("<html>502 Bad Gateway</html>"), -1},
		{"commit without sha", []byte(`[{"commit":{}}]`), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := apiURL(githubapi.ResourceCommits)
			m, err := githubapi.NewMessage(githubapi.Input{
				Repo: pondRepo, Resource: githubapi.ResourceCommits, URL: url, Status: 200, Body: tc.body, ReceivedAt: apiReceivedAt,
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := st.Process(ctx, m)
			if tc.wantObs < 0 {
				if !stages.IsPermanent(err) || !errors.Is(err, github.ErrBadAPIResponse) {
					t.Fatalf("error %v, want a permanent one wrapping ErrBadAPIResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != tc.wantObs {
				t.Fatalf("%d observations, want %d", len(out), tc.wantObs)
			}
			key := githubapi.Key(pondRepo, url, tc.body)
			for _, msg := range out {
				o, err := observed.Parse(msg)
				if err != nil {
					t.Fatal(err)
				}
				if o.Source != githubapi.SourceKind || o.SourceKey != key || !o.ReceivedAt.Equal(apiReceivedAt) || o.RawPartition != 3 || o.RawOffset != 17 {
					t.Errorf("%s: source %q key %q received %v position %d/%d", o.RID, o.Source, o.SourceKey, o.ReceivedAt, o.RawPartition, o.RawOffset)
				}
			}
		})
	}
}

// BenchmarkParseAPI measures a page of each list the backfill fetches,
// compacted as GitHub sends it.
func BenchmarkParseAPI(b *testing.B) {
	for _, bm := range []struct{ resource, file string }{
		{githubapi.ResourceCommits, "commits.json"},
		{githubapi.ResourceIssues, "issues.mixed.json"},
		{githubapi.ResourcePulls, "pulls.json"},
		{githubapi.ResourceIssues, "octokit/paginate-issues.page1.json"},
	} {
		b.Run(bm.file, func(b *testing.B) {
			var compact bytes.Buffer
			if err := json.Compact(&compact, readFile(b, filepath.Join("api", bm.file))); err != nil {
				b.Fatal(err)
			}
			rec := apiRecord(b, pondRepo, bm.resource, apiURL(bm.resource), compact.Bytes())
			b.SetBytes(int64(compact.Len()))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := github.ParseAPI(context.Background(), rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
