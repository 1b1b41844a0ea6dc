package fakegithub_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
)

type client struct {
	t   *testing.T
	srv *fakegithub.Server
}

// get requests path (or an absolute URL) with the headers given as
// name, value pairs; "Authorization" defaults to "Bearer t1".
func (c client) get(path string, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	return c.do(http.MethodGet, path, hdr...)
}

func (c client) do(method, path string, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = c.srv.URL + path
	}
	req, _ := http.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer t1")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header[http.CanonicalHeaderKey(hdr[i])] = []string{hdr[i+1]}
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func setup(t *testing.T, opts fakegithub.Options) (client, *fakegithub.Clock) {
	clock := fakegithub.NewClock(fakegithub.DefaultBase.Add(40 * 24 * time.Hour))
	opts.Clock = clock
	s := fakegithub.New(opts)
	t.Cleanup(s.Close)
	s.AddRepo(fakegithub.RepoSpec{Owner: "o", Name: "r", ID: 77, Issues: 6, Pulls: 4, Commits: 5, Events: 10})
	return client{t, s}, clock
}

func numbers(t *testing.T, b []byte) []int {
	var items []struct {
		Number int `json:"number"`
	}
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatalf("decode %.100s: %v", b, err)
	}
	var out []int
	for _, i := range items {
		out = append(out, i.Number)
	}
	return out
}

func TestAuthorizationRequired(t *testing.T) {
	c, _ := setup(t, fakegithub.Options{Tokens: []string{"t1"}})
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer t1", 200}, {"token t1", 200}, {"Basic dDE=", 401}, {"Bearer nope", 401}} {
		if resp, _ := c.get("/repos/o/r", "Authorization", tc.auth); resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
	}
}

// ETags are compared byte for byte: the tag as sent matches, a tag missing
// its W/ or quotes does not; a 304 costs no quota; an edit changes the tag.
func TestETagsAndConditionalRequests(t *testing.T) {
	c, clock := setup(t, fakegithub.Options{})
	resp, _ := c.get("/repos/o/r/issues?state=all")
	tag := resp.Header.Get("ETag")
	if !strings.HasPrefix(tag, `W/"`) {
		t.Fatalf("list ETag %q is not weak", tag)
	}
	used := resp.Header.Get("X-Ratelimit-Used")
	for _, tc := range []struct {
		inm  string
		want int
	}{{tag, 304}, {strings.TrimPrefix(tag, "W/"), 200}, {strings.Trim(strings.TrimPrefix(tag, "W/"), `"`), 200}, {`"x", ` + tag, 304}} {
		before := c.srv.Remaining("t1")
		r, _ := c.get("/repos/o/r/issues?state=all", "If-None-Match", tc.inm)
		if r.StatusCode != tc.want {
			t.Errorf("If-None-Match %q: %d, want %d", tc.inm, r.StatusCode, tc.want)
		}
		spent := before - c.srv.Remaining("t1")
		if want := map[int]int{304: 0, 200: 1}[tc.want]; spent != want {
			t.Errorf("If-None-Match %q spent %d, want %d", tc.inm, spent, want)
		}
	}
	_ = used
	r, _ := c.get("/repos/o/r")
	strong, lm := r.Header.Get("ETag"), r.Header.Get("Last-Modified")
	if strings.HasPrefix(strong, "W/") || lm == "" {
		t.Errorf("repository ETag %q Last-Modified %q, want a strong tag and a date", strong, lm)
	}
	if r, _ := c.get("/repos/o/r", "If-Modified-Since", lm); r.StatusCode != 304 {
		t.Errorf("If-Modified-Since the Last-Modified: %d, want 304", r.StatusCode)
	}
	clock.Advance(time.Minute)
	c.srv.EditIssue("o/r", 2, "changed")
	if r, _ := c.get("/repos/o/r/issues?state=all", "If-None-Match", tag); r.StatusCode != 200 || r.Header.Get("ETag") == tag {
		t.Errorf("after an edit: %d with tag %q, want 200 and a new tag", r.StatusCode, r.Header.Get("ETag"))
	}
	if r, _ := c.get("/repos/o/r/issues/2"); !strings.HasPrefix(r.Header.Get("ETag"), `"`) {
		t.Errorf("single issue ETag %q is not strong", r.Header.Get("ETag"))
	}
}

// Issues: state, since, sort and direction as documented, pull requests
// included with a pull_request key; Link pages use /repositories/{id}
// and that route serves them.
func TestIssuesSemanticsAndLinks(t *testing.T) {
	c, _ := setup(t, fakegithub.Options{})
	// Issue n is created at Base+n h and updated 30 min later; every
	// third is closed.
	cases := []struct {
		query string
		want  string
	}{
		{"", "[10 8 7 5 4 2 1]"},
		{"?state=all", "[10 9 8 7 6 5 4 3 2 1]"},
		{"?state=closed&direction=asc", "[3 6 9]"},
		{"?state=all&sort=updated&direction=asc&since=2026-01-01T07:30:00Z", "[7 8 9 10]"},
		{"?state=all&since=2026-01-01T07:30:01Z&sort=updated", "[10 9 8]"},
	}
	for _, tc := range cases {
		_, b := c.get("/repos/o/r/issues" + tc.query)
		if got := sprint(numbers(t, b)); got != tc.want {
			t.Errorf("issues%s = %s, want %s", tc.query, got, tc.want)
		}
	}
	if r, _ := c.get("/repos/o/r/issues?sort=comments-bogus"); r.StatusCode != 422 {
		t.Errorf("bad sort: %d, want 422", r.StatusCode)
	}
	_, b := c.get("/repos/o/r/issues/8")
	if !strings.Contains(string(b), `"pull_request":{`) {
		t.Errorf("issue 8 (a pull request) has no pull_request key: %.200s", b)
	}
	r, b := c.get("/repos/o/r/issues?state=all&per_page=4")
	var all []int
	all = append(all, numbers(t, b)...)
	pages := 1
	for {
		link := r.Header.Get("Link")
		next := ""
		for _, l := range strings.Split(link, ", ") {
			if strings.HasSuffix(l, `rel="next"`) {
				next = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
			}
		}
		if pages == 1 && !strings.Contains(link, `rel="last"`) {
			t.Errorf("page 1 Link %q has no last", link)
		}
		if next == "" {
			break
		}
		if !strings.HasPrefix(next, c.srv.URL+"/repositories/77/issues?") || !strings.Contains(next, "per_page=4") {
			t.Errorf("next link %q", next)
		}
		r, b = c.get(next)
		all = append(all, numbers(t, b)...)
		pages++
	}
	if pages != 3 || sprint(all) != "[10 9 8 7 6 5 4 3 2 1]" {
		t.Errorf("%d pages holding %v", pages, all)
	}
}

func TestPullsCommitsEvents(t *testing.T) {
	c, clock := setup(t, fakegithub.Options{PollInterval: 90})
	for _, tc := range []struct{ path, want string }{
		{"/repos/o/r/pulls?state=all", "[10 9 8 7]"},
		{"/repos/o/r/pulls?state=all&sort=updated", "[7 8 9 10]"}, // asc when sort is not created
		{"/repos/o/r/pulls?state=all&sort=updated&direction=desc", "[10 9 8 7]"},
	} {
		if _, b := c.get(tc.path); sprint(numbers(t, b)) != tc.want {
			t.Errorf("%s = %v, want %s", tc.path, numbers(t, b), tc.want)
		}
	}
	if r, b := c.get("/repos/o/r/pulls/9"); r.StatusCode != 200 || !strings.Contains(string(b), `"merged":`) || !strings.Contains(string(b), `"head":{`) {
		t.Errorf("pull 9: %d %.200s", r.StatusCode, b)
	}
	if r, _ := c.get("/repos/o/r/pulls/2"); r.StatusCode != 404 {
		t.Errorf("pull 2 (an issue): %d, want 404", r.StatusCode)
	}
	var commits []struct {
		SHA string `json:"sha"`
	}
	_, b := c.get("/repos/o/r/commits?sha=main&since=2026-01-01T02:00:00Z&until=2026-01-01T04:00:00Z")
	json.Unmarshal(b, &commits)
	shas := c.srv.CommitSHAs("o/r")
	if len(commits) != 3 || commits[0].SHA != shas[3] || commits[2].SHA != shas[1] {
		t.Errorf("commits since 02:00 until 04:00 = %v, want commits 4, 3, 2", commits)
	}
	r, b := c.get("/repos/o/r/events?per_page=4")
	if r.Header.Get("X-Poll-Interval") != "90" {
		t.Errorf("X-Poll-Interval %q", r.Header.Get("X-Poll-Interval"))
	}
	var evs []map[string]any
	json.Unmarshal(b, &evs)
	if len(evs) != 4 || evs[0]["id"] != "77000010" {
		t.Errorf("events page 1 = %v", evs)
	}
	clock.Advance(30*24*time.Hour - 5*time.Minute + 30*time.Second) // the oldest five fall out of the 30 days
	_, b = c.get("/repos/o/r/events?per_page=100")
	json.Unmarshal(b, &evs)
	if len(evs) != 5 {
		t.Errorf("%d events within 30 days, want 5", len(evs))
	}
	for i := 0; i < 400; i++ {
		c.srv.AddEvent("o/r", "WatchEvent")
	}
	_, b = c.get("/repos/o/r/events?per_page=100&page=3")
	json.Unmarshal(b, &evs)
	if len(evs) != 100 {
		t.Errorf("page 3 has %d events, want 100", len(evs))
	}
	if r, _ := c.get("/repos/o/r/events?per_page=100&page=4"); r.StatusCode != 422 {
		t.Errorf("page 4 of the events: %d, want 422 (300 at most)", r.StatusCode)
	}
}

// Rate-limit headers per token; the primary limit answers 403 (or 429)
// with remaining 0 until the reset (epoch seconds); faults and secondary
// limits come as injected.
func TestRateLimits(t *testing.T) {
	c, clock := setup(t, fakegithub.Options{Limit: 3})
	for i := 1; i <= 4; i++ {
		r, _ := c.get("/repos/o/r")
		want := map[bool]int{true: 200, false: 403}[i <= 3]
		if r.StatusCode != want || r.Header.Get("X-Ratelimit-Remaining") != strconv.Itoa(max(0, 3-i)) || r.Header.Get("X-Ratelimit-Resource") != "core" {
			t.Errorf("request %d: %d remaining %q", i, r.StatusCode, r.Header.Get("X-Ratelimit-Remaining"))
		}
		if i == 4 {
			reset, _ := strconv.ParseInt(r.Header.Get("X-Ratelimit-Reset"), 10, 64)
			if got := time.Unix(reset, 0); got.Before(clock.Now()) || got.After(clock.Now().Add(time.Hour)) {
				t.Errorf("reset %v is not within the hour after %v", got, clock.Now())
			}
		}
	}
	if r, _ := c.get("/repos/o/r", "Authorization", "token t2"); r.StatusCode != 200 || r.Header.Get("X-Ratelimit-Remaining") != "2" {
		t.Errorf("another token has its own quota: %d %q", r.StatusCode, r.Header.Get("X-Ratelimit-Remaining"))
	}
	clock.Advance(time.Hour)
	if r, _ := c.get("/repos/o/r"); r.StatusCode != 200 {
		t.Errorf("after the reset: %d", r.StatusCode)
	}
	c.srv.SecondaryLimit(1, 429, "")
	c.srv.SecondaryLimit(1, 403, "17")
	c.srv.FailNext(1, 502)
	r, b := c.get("/repos/o/r")
	if r.StatusCode != 429 || r.Header.Get("Retry-After") != "" || !strings.Contains(string(b), "You have exceeded a secondary rate limit") {
		t.Errorf("secondary without Retry-After: %d %q %s", r.StatusCode, r.Header.Get("Retry-After"), b)
	}
	if r, _ := c.get("/repos/o/r"); r.StatusCode != 403 || r.Header.Get("Retry-After") != "17" {
		t.Errorf("secondary with Retry-After: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r, _ := c.get("/repos/o/r"); r.StatusCode != 502 {
		t.Errorf("injected 5xx: %d", r.StatusCode)
	}
	if got := c.srv.CountByToken(); got["t1"] != 8 || got["t2"] != 1 {
		t.Errorf("counts by token %v", got)
	}
}

// The signature of a redelivery is GitHub's: the documented test vector.
func TestSignVector(t *testing.T) {
	if got := fakegithub.Sign("It's a Secret to Everybody", []byte("Hello, World!")); got != "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" {
		t.Errorf("Sign = %s", got)
	}
}

// Deliveries list newest first with status filter and cursor Links;
// POST .../attempts answers 202 and records a redelivery of the same GUID.
func TestDeliveries(t *testing.T) {
	c, _ := setup(t, fakegithub.Options{})
	for i, code := range []int{200, 500, 502, 200, 0} {
		c.srv.AddDelivery("o/r", 5, fakegithub.Delivery{GUID: "g" + strconv.Itoa(i), Event: "push", StatusCode: code})
	}
	r, b := c.get("/repos/o/r/hooks/5/deliveries?status=failure&per_page=2")
	var ds []struct {
		ID   int64  `json:"id"`
		GUID string `json:"guid"`
	}
	json.Unmarshal(b, &ds)
	if len(ds) != 2 || ds[0].GUID != "g4" || ds[1].GUID != "g2" || !strings.Contains(r.Header.Get("Link"), "cursor=") {
		t.Fatalf("failures page 1 = %+v, Link %q", ds, r.Header.Get("Link"))
	}
	next := strings.TrimSuffix(strings.TrimPrefix(r.Header.Get("Link"), "<"), `>; rel="next"`)
	_, b = c.get(next)
	json.Unmarshal(b, &ds)
	if len(ds) != 1 || ds[0].GUID != "g1" {
		t.Errorf("failures page 2 = %+v", ds)
	}
	if r, b := c.get("/repos/o/r/hooks/5/deliveries/" + strconv.FormatInt(ds[0].ID, 10)); r.StatusCode != 200 || !strings.Contains(string(b), `"guid":"g1"`) {
		t.Errorf("one delivery: %d %s", r.StatusCode, b)
	}
	if r, _ := c.do(http.MethodPost, "/repos/o/r/hooks/5/deliveries/"+strconv.FormatInt(ds[0].ID, 10)+"/attempts"); r.StatusCode != 202 {
		t.Errorf("redeliver: %d, want 202", r.StatusCode)
	}
	if got := c.srv.Redelivered(); sprint(got) != `["g1"]` {
		t.Errorf("redelivered %v", got)
	}
	if r, b := c.get("/repos/o/r/hooks"); r.StatusCode != 200 || !strings.Contains(string(b), `"id":5`) {
		t.Errorf("hooks: %d %s", r.StatusCode, b)
	}
}

func sprint(v any) string {
	b, _ := json.Marshal(v)
	return strings.NewReplacer(",", " ").Replace(string(b))
}

// The JSON helpers serve the same bytes as the API.
func TestEntityJSONHelpers(t *testing.T) {
	c, _ := setup(t, fakegithub.Options{})
	for _, tc := range []struct {
		path string
		want []byte
	}{
		{"/repos/o/r", c.srv.RepoJSON("o/r")},
		{"/repos/o/r/issues/3", c.srv.IssueJSON("o/r", 3)},
		{"/repos/o/r/pulls/8", c.srv.PullJSON("o/r", 8)},
	} {
		if _, b := c.get(tc.path); string(b) != string(tc.want) {
			t.Errorf("%s served %.100s, helper says %.100s", tc.path, b, tc.want)
		}
	}
}

// AfterRequests runs its action once, after the n-th matching request was
// answered and before the client can send the next one: the answer it
// follows shows the state before the action, the next request the state
// after it; requests that do not match do not count.
func TestAfterRequests(t *testing.T) {
	const list = "/repos/o/r/issues?state=all&sort=updated&direction=asc"
	for _, tc := range []struct {
		name  string
		path  string
		n     int
		asked []string // requests made in turn
		want  []string // the numbers of each answer (fmt of []int)
		runs  int
	}{
		{"after the second list request", "/issues?", 2,
			[]string{"/repos/o/r", list, "/repos/o/r/issues/1", list, list, list},
			[]string{"", "[1 2 3 4 5 6 7 8 9 10]", "", "[1 2 3 4 5 6 7 8 9 10]", "[2 3 4 5 6 7 8 9 10 1]", "[2 3 4 5 6 7 8 9 10 1]"}, 1},
		{"after the first request of any path", "", 1,
			[]string{"/repos/o/r", list},
			[]string{"", "[2 3 4 5 6 7 8 9 10 1]"}, 1},
		{"not yet due", "/issues?", 3,
			[]string{list, list},
			[]string{"[1 2 3 4 5 6 7 8 9 10]", "[1 2 3 4 5 6 7 8 9 10]"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, clock := setup(t, fakegithub.Options{})
			runs := 0
			c.srv.AfterRequests(tc.path, tc.n, func() {
				runs++
				clock.Advance(time.Hour)
				c.srv.EditIssue("o/r", 1, "edited between two requests")
			})
			for i, p := range tc.asked {
				resp, b := c.get(p)
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d", p, resp.StatusCode)
				}
				got := ""
				if strings.Contains(p, "?") {
					got = sprint(numbers(t, b))
				}
				if got != tc.want[i] {
					t.Errorf("request %d (%s) answered %s, want %s", i+1, p, got, tc.want[i])
				}
			}
			if runs != tc.runs {
				t.Errorf("the action ran %d times, want %d", runs, tc.runs)
			}
		})
	}
}
