package github_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

// testdataFile is one payload under testdata/, named <event>.<name>.json.
type testdataFile struct {
	name  string // file name
	event string // X-GitHub-Event, the part before the first '.'
	body  []byte
}

func readTestdata(tb testing.TB) []testdataFile {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(paths) == 0 {
		tb.Fatal("no testdata")
	}
	var files []testdataFile
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		name := filepath.Base(p)
		event, _, _ := strings.Cut(name, ".")
		files = append(files, testdataFile{name: name, event: event, body: body})
	}
	return files
}

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func jsonInput(event string, body []byte) github.Input {
	return github.Input{
		Event:       event,
		Delivery:    delivery,
		ContentType: "application/json",
		Body:        body,
		ReceivedAt:  time.Date(2019, 5, 15, 15, 20, 0, 0, time.UTC),
	}
}

type ridOp struct {
	RID string
	Op  observed.Op
}

func ridOps(obs []observed.Observation) []ridOp {
	out := make([]ridOp, len(obs))
	for i, o := range obs {
		out[i] = ridOp{o.RID, o.Op}
	}
	return out
}

const (
	pond      = "koi-garden/pond-sensor"
	prototype = "koi-garden/pond-sensor-prototype"
)

func ev(ownerRepo string) ridOp {
	return ridOp{"orn:github.event:" + ownerRepo + ":" + delivery, observed.OpUpsert}
}

func up(rid string) ridOp     { return ridOp{rid, observed.OpUpsert} }
func forget(rid string) ridOp { return ridOp{rid, observed.OpForget} }

func TestNormalizeTestdata(t *testing.T) {
	repo := up("orn:github.repo:" + pond)
	want := map[string][]ridOp{
		"push.multiple-commits.json": {ev(pond), repo,
			up("orn:github.commit:" + pond + ":2f22765d04931a078909145ca628d2264c852d7d"),
			up("orn:github.commit:" + pond + ":6b1f53303a732ccc8c6aae6640399827c15250e3"),
			up("orn:github.commit:" + pond + ":a625406f6977d45c1391b078f4d3656e0b75bfcb"),
		},
		"push.new-branch.json": {ev(pond), repo,
			up("orn:github.commit:" + pond + ":ecbfa235adde27cf8f809e409786f61a01018f00"),
		},
		"push.tag-deleted.json":                      {ev(pond), repo},
		"issues.opened.json":                         {ev(pond), repo, up("orn:github.issue:" + pond + ":7")},
		"issues.deleted.json":                        {ev(pond), repo, forget("orn:github.issue:" + pond + ":5")},
		"pull_request.opened.json":                   {ev(pond), repo, up("orn:github.pr:" + pond + ":12")},
		"issue_comment.created.json":                 {ev(pond), repo, up("orn:github.issue:" + pond + ":7")},
		"issue_comment.created-on-pull-request.json": {ev(pond), repo},
		"create.tag.json":                            {ev(pond), repo},
		"delete.tag.json":                            {ev(pond), repo},
		"release.published.json":                     {ev(pond), repo},
		"star.created.json":                          {ev(pond), repo},
		"watch.started.json":                         {ev(pond), repo},
		"ping.repo.json":                             {ev(pond), repo},
		"ping.org.json":                              {ev("koi-garden")},
		"repository.deleted.json":                    {ev(prototype), forget("orn:github.repo:" + prototype)},
		"organization.member_added.json":             {ev("koi-garden")},
		"installation.created.json":                  {ev("koi-garden")},
		"repository_insight.synchronized.json":       {ev(pond), repo},
	}
	files := readTestdata(t)
	if len(files) != len(want) {
		t.Errorf("testdata has %d files, table has %d", len(files), len(want))
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			obs, err := github.Normalize(jsonInput(f.event, f.body))
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			w, ok := want[f.name]
			if !ok {
				t.Fatalf("no expectation for %s; got %v", f.name, ridOps(obs))
			}
			if got := ridOps(obs); !reflect.DeepEqual(got, w) {
				t.Errorf("observations:\n got %v\nwant %v", got, w)
			}
			checkObservations(t, obs)
			if want := "evt." + f.event; obs[0].Routing != want {
				t.Errorf("event routing %q, want %q", obs[0].Routing, want)
			}
			checkEventContents(t, f.event, f.body, obs[0].Contents)
		})
	}
}

// checkObservations checks the invariants every result must meet.
func checkObservations(t *testing.T, obs []observed.Observation) {
	t.Helper()
	if len(obs) == 0 {
		t.Fatal("no observations")
	}
	if !strings.HasPrefix(obs[0].RID, "orn:github.event:") {
		t.Errorf("first observation %q is not the event", obs[0].RID)
	}
	for i, o := range obs {
		if o.RID == "" {
			t.Error("empty RID")
		}
		// The event is immutable and routed by its event name; an entity
		// is routed by its type, the keys the events topic always had.
		typ, err := koi.RIDType(o.RID)
		if err != nil {
			t.Errorf("%s: %v", o.RID, err)
		}
		if (i == 0) != o.Immutable {
			t.Errorf("%s: immutable %v", o.RID, o.Immutable)
		}
		if i > 0 && o.Routing != "ent."+strings.TrimPrefix(typ, "orn:github.") {
			t.Errorf("%s: routing %q", o.RID, o.Routing)
		}
		if i == 0 && !strings.HasPrefix(o.Routing, "evt.") {
			t.Errorf("%s: routing %q", o.RID, o.Routing)
		}
		switch o.Op {
		case observed.OpUpsert:
			var m map[string]any
			if err := json.Unmarshal(o.Contents, &m); err != nil {
				t.Errorf("%s: contents are not a JSON object: %v\n%s", o.RID, err, o.Contents)
			}
			if cap(o.Contents) != len(o.Contents) {
				t.Errorf("%s: contents have spare capacity %d", o.RID, cap(o.Contents)-len(o.Contents))
			}
		case observed.OpForget:
			if o.Contents != nil {
				t.Errorf("%s: forget with contents", o.RID)
			}
		default:
			t.Errorf("%s: op %q", o.RID, o.Op)
		}
	}
}

// checkEventContents checks the event observation's contents against the
// payload it came from.
func checkEventContents(t *testing.T, event string, payload, contents []byte) {
	t.Helper()
	if !bytes.Contains(contents, payload) {
		t.Error("event contents do not contain the payload byte for byte")
	}
	if !bytes.HasSuffix(contents, append(append([]byte(`,"payload":`), payload...), '}')) {
		t.Error(`event contents do not end with ,"payload":<payload>}`)
	}
	var got struct {
		Type       string          `json:"webhook_event_type"`
		Action     *string         `json:"action"`
		Repository json.RawMessage `json:"repository"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(contents, &got); err != nil {
		t.Fatalf("event contents: %v", err)
	}
	var p struct {
		Action     *string         `json:"action"`
		Repository json.RawMessage `json:"repository"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	if got.Type != event {
		t.Errorf("webhook_event_type = %q, want %q", got.Type, event)
	}
	if !reflect.DeepEqual(got.Action, p.Action) {
		t.Errorf("action = %v, want %v", got.Action, p.Action)
	}
	if !bytes.Equal(got.Repository, p.Repository) {
		t.Errorf("repository differs from the payload's")
	}
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(contents))
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	wantKeys := []string{"webhook_event_type"}
	if p.Action != nil {
		wantKeys = append(wantKeys, "action")
	}
	if p.Repository != nil && string(p.Repository) != "null" {
		wantKeys = append(wantKeys, "repository")
	}
	wantKeys = append(wantKeys, "payload")
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("event contents keys %v, want %v", keys, wantKeys)
	}
}

func TestEventContentsExact(t *testing.T) {
	tests := []struct {
		name, event, payload, want string
	}{
		{
			name:    "action and repository",
			event:   "issues",
			payload: `{"action":"opened","issue":{"number":3,"title":"x"},"repository":{"full_name":"o/r"},"sender":{"login":"u"}}`,
			want:    `{"webhook_event_type":"issues","action":"opened","repository":{"full_name":"o/r"},"payload":{"action":"opened","issue":{"number":3,"title":"x"},"repository":{"full_name":"o/r"},"sender":{"login":"u"}}}`,
		},
		{
			name:    "no action, whitespace kept",
			event:   "ping",
			payload: " {\"zen\":\"Keep it logically awesome.\",\n \"repository\": {\"full_name\": \"o/r\"}}\n",
			want:    "{\"webhook_event_type\":\"ping\",\"repository\":{\"full_name\": \"o/r\"},\"payload\": {\"zen\":\"Keep it logically awesome.\",\n \"repository\": {\"full_name\": \"o/r\"}}\n}",
		},
		{
			name:    "null action and repository omitted",
			event:   "organization",
			payload: `{"action":null,"repository":null,"organization":{"login":"octo"}}`,
			want:    `{"webhook_event_type":"organization","payload":{"action":null,"repository":null,"organization":{"login":"octo"}}}`,
		},
		{
			name:    "escaped action kept raw, event escaped",
			event:   "we\"ird\n",
			payload: `{"action":"\u0063reated"}`,
			want:    `{"webhook_event_type":"we\"ird\n","action":"\u0063reated","payload":{"action":"\u0063reated"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := github.Normalize(jsonInput(tt.event, []byte(tt.payload)))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(obs[0].Contents); got != tt.want {
				t.Errorf("contents\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// contentsOf returns the contents of the observation with the given RID.
func contentsOf(t *testing.T, obs []observed.Observation, rid string) string {
	t.Helper()
	for _, o := range obs {
		if o.RID == rid {
			return string(o.Contents)
		}
	}
	t.Fatalf("no observation %s in %v", rid, ridOps(obs))
	return ""
}

const pondRepoContents = `{"full_name":"koi-garden/pond-sensor","name":"pond-sensor","owner":"koi-garden",` +
	`"description":"Sensor node that watches a koi pond and reports to KOI-net 🐟","private":false,"fork":false,"archived":false,` +
	`"html_url":"https://github.com/koi-garden/pond-sensor","default_branch":"main","language":"Go",` +
	`"topics":["iot","koi-net","sensors"],"stargazers_count":42,"forks_count":5,"open_issues_count":3,` +
	`"created_at":"2024-02-03T11:42:17Z","pushed_at":"2024-03-12T09:14:05Z","updated_at":"2024-03-12T09:02:51Z"}`

func TestEntityContents(t *testing.T) {
	tests := []struct {
		file, rid, want string
	}{
		{
			// Push payloads give created_at and pushed_at as Unix seconds.
			file: "push.multiple-commits.json",
			rid:  "orn:github.repo:" + pond,
			want: pondRepoContents,
		},
		{
			// The same repository state from an issues event, with ISO
			// timestamps and no push-only members, is byte-identical.
			file: "issues.opened.json",
			rid:  "orn:github.repo:" + pond,
			want: pondRepoContents,
		},
		{
			file: "push.multiple-commits.json",
			rid:  "orn:github.commit:" + pond + ":6b1f53303a732ccc8c6aae6640399827c15250e3",
			want: `{"sha":"6b1f53303a732ccc8c6aae6640399827c15250e3",` +
				`"message":"Fix temperature rounding (°C → 0.1 precision)\n\nThe DS18B20 reports 1/16 °C steps; we printed \"21.0625\".\nCo-authored-by: Nadia Koivisto <nadia@koi-garden.example.org>",` +
				`"author":{"name":"Tomasz Wiśniewski","email":"3310872+tomasz-w@users.noreply.github.com"},` +
				`"committer":{"name":"Nadia Koivisto","email":"nadia@koi-garden.example.org"},` +
				`"timestamp":"2024-03-12T09:07:02Z",` +
				`"html_url":"https://github.com/koi-garden/pond-sensor/commit/6b1f53303a732ccc8c6aae6640399827c15250e3"}`,
		},
		{
			file: "push.multiple-commits.json",
			rid:  "orn:github.commit:" + pond + ":a625406f6977d45c1391b078f4d3656e0b75bfcb",
			want: `{"sha":"a625406f6977d45c1391b078f4d3656e0b75bfcb",` +
				`"message":"Merge pull request #12 from koi-garden/turbidity\n\nAdd turbidity sensor",` +
				`"author":{"name":"Nadia Koivisto","email":"nadia@koi-garden.example.org"},` +
				`"committer":{"name":"GitHub","email":"noreply@github.com"},` +
				`"timestamp":"2024-03-12T09:14:03Z",` +
				`"html_url":"https://github.com/koi-garden/pond-sensor/commit/a625406f6977d45c1391b078f4d3656e0b75bfcb"}`,
		},
		{
			file: "issues.opened.json",
			rid:  "orn:github.issue:" + pond + ":7",
			want: `{"number":7,"title":"Turbidity spikes to 4095 NTU","state":"open","state_reason":null,` +
				`"body":"The turbidity readings jump to 4095 NTU every few minutes, then go back to ~12.\r\n\r\n` +
				`Steps:\r\n1. Start the node with ` + "`--sensors=turbidity`" + `\r\n2. Watch ` + "`/metrics`" + ` for a while\r\n\r\n` +
				`Looks like an ADC overflow; maybe the cable is too long? <details>logs attached</details>",` +
				`"user":"tomasz-w","labels":["bug","hardware"],"assignees":["nadia-koi"],"milestone":"v0.3 — spring thaw",` +
				`"locked":false,"comments":0,"html_url":"https://github.com/koi-garden/pond-sensor/issues/7",` +
				`"created_at":"2024-03-12T09:20:33Z","updated_at":"2024-03-12T09:20:33Z","closed_at":null}`,
		},
		{
			file: "pull_request.opened.json",
			rid:  "orn:github.pr:" + pond + ":12",
			want: `{"number":12,"title":"Add turbidity sensor","state":"open","draft":false,"merged":false,` +
				`"body":"Adds a driver for the SEN0189 turbidity sensor.\r\n\r\nCloses #7.","user":"nadia-koi",` +
				`"labels":["hardware"],"assignees":["tomasz-w"],` +
				`"head":{"ref":"turbidity","sha":"0871077cb134c7c1adc39c9a9d9b7b013f575dc9"},` +
				`"base":{"ref":"main","sha":"816f420698de0acb7ae85f4b9d96a3f668b3a5f3"},` +
				`"html_url":"https://github.com/koi-garden/pond-sensor/pull/12",` +
				`"created_at":"2024-03-11T15:02:44Z","updated_at":"2024-03-11T15:02:44Z","closed_at":null,"merged_at":null,"merge_commit_sha":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.rid, func(t *testing.T) {
			event, _, _ := strings.Cut(tt.file, ".")
			obs, err := github.Normalize(jsonInput(event, readFile(t, tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			if got := contentsOf(t, obs, tt.rid); got != tt.want {
				t.Errorf("contents\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestIssueCommentSameIssueAsIssues(t *testing.T) {
	// The issue object of issue_comment.created is the issue of
	// issues.opened after one comment: the field set is the same and only
	// comments and updated_at differ.
	rid := "orn:github.issue:" + pond + ":7"
	a, err := github.Normalize(jsonInput("issues", readFile(t, "issues.opened.json")))
	if err != nil {
		t.Fatal(err)
	}
	b, err := github.Normalize(jsonInput("issue_comment", readFile(t, "issue_comment.created.json")))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		`"comments":0`, `"comments":1`,
		`"updated_at":"2024-03-12T09:20:33Z"`, `"updated_at":"2024-03-12T17:45:10Z"`,
	).Replace(contentsOf(t, a, rid))
	if got := contentsOf(t, b, rid); got != want {
		t.Errorf("issue from issue_comment\n got %s\nwant %s", got, want)
	}
}

func TestTimestamps(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"epoch seconds", `1557933565`, `"2019-05-15T15:19:25Z"`},
		{"epoch zero", `0`, `"1970-01-01T00:00:00Z"`},
		{"utc", `"2019-05-15T15:19:25Z"`, `"2019-05-15T15:19:25Z"`},
		{"offset", `"2019-05-15T08:19:25-07:00"`, `"2019-05-15T15:19:25Z"`},
		{"plus zero offset", `"2019-05-15T15:19:25+00:00"`, `"2019-05-15T15:19:25Z"`},
		{"fraction", `"2019-05-15T15:19:25.1234567Z"`, `"2019-05-15T15:19:25.123456Z"`},
		{"zero fraction dropped", `"2019-05-15T15:19:25.000Z"`, `"2019-05-15T15:19:25Z"`},
		{"escaped string", `"2019-05-15T15:19:25\u005a"`, `"2019-05-15T15:19:25Z"`},
		{"null", `null`, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := `{"repository":{"full_name":"o/r","created_at":` + tt.value + `}}`
			obs, err := github.Normalize(jsonInput("star", []byte(payload)))
			if err != nil {
				t.Fatal(err)
			}
			got := contentsOf(t, obs, "orn:github.repo:o/r")
			if want := `"created_at":` + tt.want + `,`; !strings.Contains(got, want) {
				t.Errorf("contents %s do not contain %s", got, want)
			}
		})
	}
}

func TestMissingFieldsAreNull(t *testing.T) {
	obs, err := github.Normalize(jsonInput("issues", []byte(
		`{"action":"edited","issue":{"number":9},"repository":{"full_name":"o/r"}}`)))
	if err != nil {
		t.Fatal(err)
	}
	const wantRepo = `{"full_name":"o/r","name":null,"owner":null,"description":null,"private":null,"fork":null,"archived":null,` +
		`"html_url":null,"default_branch":null,"language":null,"topics":[],"stargazers_count":null,"forks_count":null,` +
		`"open_issues_count":null,"created_at":null,"pushed_at":null,"updated_at":null}`
	const wantIssue = `{"number":9,"title":null,"state":null,"state_reason":null,"body":null,"user":null,"labels":[],` +
		`"assignees":[],"milestone":null,"locked":null,"comments":null,"html_url":null,"created_at":null,"updated_at":null,"closed_at":null}`
	if got := contentsOf(t, obs, "orn:github.repo:o/r"); got != wantRepo {
		t.Errorf("repo\n got %s\nwant %s", got, wantRepo)
	}
	if got := contentsOf(t, obs, "orn:github.issue:o/r:9"); got != wantIssue {
		t.Errorf("issue\n got %s\nwant %s", got, wantIssue)
	}
}

func TestEventOwnerFallback(t *testing.T) {
	tests := []struct {
		name, payload, owner string
	}{
		{"repository wins", `{"repository":{"full_name":"o/r"},"organization":{"login":"org"},"sender":{"login":"s"}}`, "o/r"},
		{"organization", `{"organization":{"login":"org"},"installation":{"account":{"login":"acct"}},"sender":{"login":"s"}}`, "org"},
		{"installation account", `{"installation":{"id":1,"account":{"login":"acct"}},"sender":{"login":"s"}}`, "acct"},
		{"installation without account", `{"installation":{"id":1,"node_id":"x"},"sender":{"login":"s"}}`, "s"},
		{"sender", `{"sender":{"login":"dependabot[bot]"}}`, "dependabot[bot]"},
		{"null repository", `{"repository":null,"sender":{"login":"s"}}`, "s"},
		{"empty login skipped", `{"organization":{"login":""},"sender":{"login":"s"}}`, "s"},
		{"nothing", `{"zen":"Design for failure."}`, "_"},
		{"empty object", `{}`, "_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := github.Normalize(jsonInput("some_event", []byte(tt.payload)))
			if err != nil {
				t.Fatal(err)
			}
			if want := "orn:github.event:" + tt.owner + ":" + delivery; obs[0].RID != want {
				t.Errorf("event RID %s, want %s", obs[0].RID, want)
			}
		})
	}
}

func TestPushCommits(t *testing.T) {
	const (
		a = "1111111111111111111111111111111111111111"
		b = "2222222222222222222222222222222222222222"
		c = "3333333333333333333333333333333333333333"
	)
	commit := func(id string) string { return `{"id":"` + id + `","message":"m","timestamp":"2020-01-01T00:00:00Z"}` }
	tests := []struct {
		name, commits, head string
		want                []string
	}{
		{"head among commits", commit(a) + "," + commit(b), commit(b), []string{a, b}},
		{"head not among commits", commit(a), commit(c), []string{a, c}},
		{"no commits, head only", "", commit(c), []string{c}},
		{"duplicate in commits", commit(a) + "," + commit(a), "null", []string{a}},
		{"nothing", "", "null", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := `{"ref":"refs/heads/main","repository":{"full_name":"o/r"},"commits":[` + tt.commits + `],"head_commit":` + tt.head + `}`
			obs, err := github.Normalize(jsonInput("push", []byte(payload)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range obs[2:] {
				got = append(got, strings.TrimPrefix(o.RID, "orn:github.commit:o/r:"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("commits %v, want %v", got, tt.want)
			}
		})
	}
}

func TestManyCommitsDeduplicated(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"repository":{"full_name":"o/r"},"commits":[`)
	const n = 100
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":"` + strings.Repeat(string("0123456789abcdef"[i%16]), 38) + string("0123456789abcdef"[i/16]) + `0"}`)
	}
	sb.WriteString(`],"head_commit":{"id":"` + strings.Repeat("0", 38) + `00"}}`)
	obs, err := github.Normalize(jsonInput("push", []byte(sb.String())))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(obs), 2+n; got != want {
		t.Errorf("%d observations, want %d", got, want)
	}
}

func TestRepositoryDeletedOnlyForRepositoryEvent(t *testing.T) {
	payload := []byte(`{"action":"deleted","repository":{"full_name":"o/r"}}`)
	for _, tt := range []struct {
		event string
		op    observed.Op
	}{
		{"repository", observed.OpForget},
		{"star", observed.OpUpsert}, // star deleted: the repository still exists
	} {
		t.Run(tt.event, func(t *testing.T) {
			obs, err := github.Normalize(jsonInput(tt.event, payload))
			if err != nil {
				t.Fatal(err)
			}
			if len(obs) != 2 || obs[1].Op != tt.op {
				t.Errorf("got %v, want repo %s", ridOps(obs), tt.op)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	for _, f := range readTestdata(t) {
		t.Run(f.name, func(t *testing.T) {
			first, err := github.Normalize(jsonInput(f.event, f.body))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for range 5 {
						again, err := github.Normalize(jsonInput(f.event, bytes.Clone(f.body)))
						if err != nil {
							t.Error(err)
							return
						}
						if !reflect.DeepEqual(first, again) {
							t.Error("second run differs")
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

func TestContentsDoNotAliasBody(t *testing.T) {
	for _, f := range readTestdata(t) {
		t.Run(f.name, func(t *testing.T) {
			body := bytes.Clone(f.body)
			obs, err := github.Normalize(jsonInput(f.event, body))
			if err != nil {
				t.Fatal(err)
			}
			var before [][]byte
			var rids []string
			for _, o := range obs {
				before = append(before, bytes.Clone(o.Contents))
				rids = append(rids, strings.Clone(o.RID))
			}
			for i := range body {
				body[i] = 'X'
			}
			for i, o := range obs {
				if !bytes.Equal(o.Contents, before[i]) || o.RID != rids[i] {
					t.Errorf("%s changed when the body was overwritten", rids[i])
				}
			}
		})
	}
}

func TestFormEncodedEquivalence(t *testing.T) {
	for _, f := range readTestdata(t) {
		t.Run(f.name, func(t *testing.T) {
			want, err := github.Normalize(jsonInput(f.event, f.body))
			if err != nil {
				t.Fatal(err)
			}
			in := jsonInput(f.event, []byte(url.Values{"payload": {string(f.body)}}.Encode()))
			in.ContentType = "application/x-www-form-urlencoded"
			got, err := github.Normalize(in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Error("form-encoded body gives other observations than the JSON body")
			}
		})
	}
}

// TestNormalizeBadBodies: bodies the webhook source's DecodeBody refuses
// (topics/github) are refused by Normalize too, whether the payload
// extraction or the decoder finds the fault.
func TestNormalizeBadBodies(t *testing.T) {
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	tests := []struct {
		name, contentType, body string
	}{
		{"no content type", "", `{}`},
		{"text/plain", "text/plain", `{}`},
		{"multipart", "multipart/form-data; boundary=x", `{}`},
		{"json suffix type", "application/vnd.github+json", `{}`},
		{"form without payload", "application/x-www-form-urlencoded", "a=1&b=2"},
		{"empty form", "application/x-www-form-urlencoded", ""},
		{"form bad escape", "application/x-www-form-urlencoded", "payload=%7B%7"},
		{"form payload not json", "application/x-www-form-urlencoded", "payload=hello"},
		{"empty", "application/json", ""},
		{"whitespace", "application/json", " \n"},
		{"array", "application/json", `[{}]`},
		{"string", "application/json", `"{}"`},
		{"null", "application/json", `null`},
		{"number", "application/json", `1`},
		{"truncated", "application/json", `{"zen":"x","hook":{"id":1`},
		{"two objects", "application/json", `{} {}`},
		{"trailing garbage", "application/json", `{}x`},
		{"invalid utf-8", "application/json", "{\"zen\":\"\xff\"}"},
		{"control character", "application/json", "{\"zen\":\"a\x01b\"}"},
		{"too deep", "application/json", `{"a":` + deep + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := jsonInput("push", []byte(tt.body))
			in.ContentType = tt.contentType
			if _, err := github.Normalize(in); !errors.Is(err, github.ErrBadPayload) {
				t.Errorf("Normalize error %v does not wrap ErrBadPayload", err)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	const repo = `"repository":{"full_name":"o/r"}`
	tests := []struct {
		name, event, delivery, payload string
	}{
		{"empty event", "", delivery, `{}`},
		{"event not utf-8", "p\xffush", delivery, `{}`},
		{"empty delivery", "push", "", `{}`},
		{"delivery with colon", "push", "a:b", `{}`},
		{"delivery with slash", "push", "a/b", `{}`},
		{"delivery with space", "push", "a b", `{}`},
		{"action number", "issues", delivery, `{"action":1,` + repo + `}`},
		{"repository string", "star", delivery, `{"repository":"o/r"}`},
		{"repository array", "star", delivery, `{"repository":[]}`},
		{"full_name missing", "star", delivery, `{"repository":{"name":"r"}}`},
		{"full_name number", "star", delivery, `{"repository":{"full_name":1}}`},
		{"full_name without slash", "star", delivery, `{"repository":{"full_name":"or"}}`},
		{"full_name with colon", "star", delivery, `{"repository":{"full_name":"o/r:x"}}`},
		{"full_name two slashes", "star", delivery, `{"repository":{"full_name":"o/r/x"}}`},
		{"private string", "star", delivery, `{"repository":{"full_name":"o/r","private":"no"}}`},
		{"stargazers float", "star", delivery, `{"repository":{"full_name":"o/r","stargazers_count":1.5}}`},
		{"topics not array", "star", delivery, `{"repository":{"full_name":"o/r","topics":"go"}}`},
		{"topic number", "star", delivery, `{"repository":{"full_name":"o/r","topics":[1]}}`},
		{"owner string", "star", delivery, `{"repository":{"full_name":"o/r","owner":"o"}}`},
		{"created_at bad string", "star", delivery, `{"repository":{"full_name":"o/r","created_at":"yesterday"}}`},
		{"created_at bool", "star", delivery, `{"repository":{"full_name":"o/r","created_at":true}}`},
		{"created_at float", "star", delivery, `{"repository":{"full_name":"o/r","created_at":1557933565.5}}`},
		{"created_at negative", "star", delivery, `{"repository":{"full_name":"o/r","created_at":-1}}`},
		{"created_at too large", "star", delivery, `{"repository":{"full_name":"o/r","created_at":99999999999999}}`},
		{"sender login number", "organization", delivery, `{"sender":{"login":7}}`},
		{"organization login with colon", "organization", delivery, `{"organization":{"login":"a:b"}}`},
		{"organization string", "organization", delivery, `{"organization":"octo"}`},
		{"commits not array", "push", delivery, `{` + repo + `,"commits":{}}`},
		{"commits string", "push", delivery, `{` + repo + `,"commits":"x"}`},
		{"commit null", "push", delivery, `{` + repo + `,"commits":[null]}`},
		{"commit id number", "push", delivery, `{` + repo + `,"commits":[{"id":1}]}`},
		{"commit id not hex", "push", delivery, `{` + repo + `,"commits":[{"id":"not-a-sha"}]}`},
		{"commit id short", "push", delivery, `{` + repo + `,"commits":[{"id":"abc123"}]}`},
		{"commit message number", "push", delivery, `{` + repo + `,"commits":[{"id":"` + strings.Repeat("a", 40) + `","message":1}]}`},
		{"commit author string", "push", delivery, `{` + repo + `,"commits":[{"id":"` + strings.Repeat("a", 40) + `","author":"me"}]}`},
		{"head_commit array", "push", delivery, `{` + repo + `,"head_commit":[]}`},
		{"push commits without repository", "push", delivery, `{"commits":[{"id":"` + strings.Repeat("a", 40) + `"}]}`},
		{"issue number string", "issues", delivery, `{"action":"opened",` + repo + `,"issue":{"number":"1"}}`},
		{"issue number float", "issues", delivery, `{"action":"opened",` + repo + `,"issue":{"number":1.0}}`},
		{"issue number zero", "issues", delivery, `{"action":"opened",` + repo + `,"issue":{"number":0}}`},
		{"issue number missing", "issues", delivery, `{"action":"opened",` + repo + `,"issue":{"title":"t"}}`},
		{"issue number overflow", "issues", delivery, `{"action":"opened",` + repo + `,"issue":{"number":99999999999999999999}}`},
		{"issue missing", "issues", delivery, `{"action":"opened",` + repo + `}`},
		{"issue without repository", "issues", delivery, `{"action":"opened","issue":{"number":1}}`},
		{"issue labels object", "issues", delivery, `{"action":"opened",` + repo + `,"issue":{"number":1,"labels":{}}}`},
		{"issue label strings", "issues", delivery, `{"action":"opened",` + repo + `,"issue":{"number":1,"labels":["bug"]}}`},
		{"issue locked string", "issues", delivery, `{"action":"opened",` + repo + `,"issue":{"number":1,"locked":"no"}}`},
		{"issue comments string", "issues", delivery, `{"action":"opened",` + repo + `,"issue":{"number":1,"comments":"2"}}`},
		{"issue_comment issue string", "issue_comment", delivery, `{"action":"created",` + repo + `,"issue":"x"}`},
		{"pr missing", "pull_request", delivery, `{"action":"opened",` + repo + `}`},
		{"pr number string", "pull_request", delivery, `{"action":"opened",` + repo + `,"pull_request":{"number":"2"}}`},
		{"pr head string", "pull_request", delivery, `{"action":"opened",` + repo + `,"pull_request":{"number":2,"head":"main"}}`},
		{"pr merged string", "pull_request", delivery, `{"action":"opened",` + repo + `,"pull_request":{"number":2,"merged":"false"}}`},
		{"pr merged_at number", "pull_request", delivery, `{"action":"opened",` + repo + `,"pull_request":{"number":2,"merged_at":1.5}}`},
		{"truncated", "push", delivery, `{"commits":[`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := jsonInput(tt.event, []byte(tt.payload))
			in.Delivery = tt.delivery
			obs, err := github.Normalize(in)
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload (observations %v)", err, ridOps(obs))
			}
			if obs != nil {
				t.Errorf("observations returned with an error: %v", ridOps(obs))
			}
			t.Log(err)
			if len(err.Error()) > 300 {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestErrorMessagesStayShort(t *testing.T) {
	payload := `{"repository":{"full_name":"o/r"},"commits":"` + strings.Repeat("x", 100000) + `"}`
	_, err := github.Normalize(jsonInput("push", []byte(payload)))
	if !errors.Is(err, github.ErrBadPayload) {
		t.Fatalf("error %v", err)
	}
	if len(err.Error()) > 300 {
		t.Errorf("error message is %d bytes long", len(err.Error()))
	}
}

func TestUnusedMembersAreNotTypeChecked(t *testing.T) {
	// Only the members an event type uses are decoded: a star event with
	// odd "commits" or "issue" members is fine.
	payload := []byte(`{"action":"created","commits":"x","issue":7,"pull_request":[],"repository":{"full_name":"o/r"}}`)
	obs, err := github.Normalize(jsonInput("star", payload))
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 2 {
		t.Errorf("got %v", ridOps(obs))
	}
}

func TestCaseSensitiveMembers(t *testing.T) {
	// "Repository" is not "repository": other consumers of the payload
	// index members case-sensitively, so must we.
	obs, err := github.Normalize(jsonInput("star", []byte(`{"Repository":{"full_name":"o/r"},"sender":{"login":"s"}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if want := []ridOp{ev("s")}; !reflect.DeepEqual(ridOps(obs), want) {
		t.Errorf("got %v, want %v", ridOps(obs), want)
	}
}
