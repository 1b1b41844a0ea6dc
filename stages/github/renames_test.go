package github_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/observed"
)

// readExample reads one of GitHub's own webhook examples, stored under
// testdata/octokit-webhooks from @octokit/webhooks-examples 7.6.1 (see the
// README there).
func readExample(tb testing.TB, name string) []byte {
	tb.Helper()
	return readFile(tb, filepath.Join("octokit-webhooks", name))
}

// entityPaths returns the stream paths of the entity observations.
func entityPaths(obs []observed.Observation) []string {
	var out []string
	for _, o := range obs[1:] {
		out = append(out, o.Path)
	}
	return out
}

// TestRenamesGitHubExamples: GitHub's own renamed and transferred
// deliveries forget the RID the repository or issue had and upsert the one
// it has now, each routed and pathed under its own repository.
func TestRenamesGitHubExamples(t *testing.T) {
	renamed := readExample(t, "repository.renamed.json")
	// GitHub's example renames Hello-World to Hello-World; the same
	// delivery of a real rename differs only in changes.
	renamedFrom := bytes.Replace(renamed, []byte(`"from": "Hello-World"`), []byte(`"from": "Hello-Old"`), 1)
	if bytes.Equal(renamed, renamedFrom) {
		t.Fatal("repository.renamed.json has no changes.repository.name.from to rewrite")
	}
	const (
		octocoders = "Octocoders/Hello-World"
		octoRepo   = "octo-org/octo-repo"
		codertocat = "Codertocat/Hello-World"
	)
	tests := []struct {
		name, event string
		body        []byte
		want        []ridOp
		paths       []string // of the entity observations, in order
	}{
		{
			"repository.renamed as published: the name did not change", "repository", renamed,
			[]ridOp{ev(octocoders), up("orn:github.repo:" + octocoders)},
			[]string{"/github/Octocoders/Hello-World/repo"},
		},
		{
			"repository.renamed from Hello-Old", "repository", renamedFrom,
			[]ridOp{ev(octocoders), up("orn:github.repo:" + octocoders), forget("orn:github.repo:Octocoders/Hello-Old")},
			[]string{"/github/Octocoders/Hello-World/repo", "/github/Octocoders/Hello-Old/repo"},
		},
		{
			"repository.transferred from user octocat", "repository", readExample(t, "repository.transferred.json"),
			[]ridOp{ev(octocoders), up("orn:github.repo:" + octocoders), forget("orn:github.repo:octocat/Hello-World")},
			[]string{"/github/Octocoders/Hello-World/repo", "/github/octocat/Hello-World/repo"},
		},
		{
			"issues.transferred to Codertocat/Hello-World", "issues", readExample(t, "issues.transferred.json"),
			[]ridOp{
				ev(octoRepo), up("orn:github.repo:" + octoRepo),
				forget("orn:github.issue:" + octoRepo + ":1"), up("orn:github.issue:" + codertocat + ":1"),
			},
			[]string{"/github/octo-org/octo-repo/repo", "/github/octo-org/octo-repo/issue", "/github/Codertocat/Hello-World/issue"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := github.Normalize(jsonInput(tt.event, tt.body))
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if got := ridOps(obs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("observations:\n got %v\nwant %v", got, tt.want)
			}
			checkObservations(t, obs)
			if want := "evt." + tt.event; obs[0].Routing != want {
				t.Errorf("event routing %q, want %q", obs[0].Routing, want)
			}
			if got := entityPaths(obs); !reflect.DeepEqual(got, tt.paths) {
				t.Errorf("paths:\n got %v\nwant %v", got, tt.paths)
			}
			checkEventContents(t, tt.event, tt.body, obs[0].Contents)
		})
	}
}

// members decodes a JSON object into its raw members.
func members(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRenamesContentsAsAnyDelivery: the renamed and transferred deliveries
// change only which RIDs are forgotten. The repository upsert is the one the
// same payload gives with another action, and the transferred issue's new
// contents are the ones an issues delivery of new_issue in new_repository
// gives: the same field set, written by the same builder.
func TestRenamesContentsAsAnyDelivery(t *testing.T) {
	t.Run("repository", func(t *testing.T) {
		for _, file := range []string{"repository.renamed.json", "repository.transferred.json"} {
			body := readExample(t, file)
			m := members(t, body)
			m["action"] = json.RawMessage(`"edited"`)
			delete(m, "changes")
			edited, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			rid := "orn:github.repo:Octocoders/Hello-World"
			a, err := github.Normalize(jsonInput("repository", body))
			if err != nil {
				t.Fatal(err)
			}
			b, err := github.Normalize(jsonInput("repository", edited))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := contentsOf(t, a, rid), contentsOf(t, b, rid); got != want {
				t.Errorf("%s: repository contents\n got %s\nwant %s", file, got, want)
			}
		}
	})
	t.Run("issue", func(t *testing.T) {
		body := readExample(t, "issues.transferred.json")
		changes := members(t, members(t, body)["changes"])
		opened, err := json.Marshal(map[string]json.RawMessage{
			"action": json.RawMessage(`"opened"`), "issue": changes["new_issue"], "repository": changes["new_repository"],
		})
		if err != nil {
			t.Fatal(err)
		}
		rid := "orn:github.issue:Codertocat/Hello-World:1"
		a, err := github.Normalize(jsonInput("issues", body))
		if err != nil {
			t.Fatal(err)
		}
		b, err := github.Normalize(jsonInput("issues", opened))
		if err != nil {
			t.Fatal(err)
		}
		got, want := contentsOf(t, a, rid), contentsOf(t, b, rid)
		if got != want {
			t.Errorf("new issue contents\n got %s\nwant %s", got, want)
		}
		if !strings.HasPrefix(got, `{"number":1,"title":"Spelling error in the README file","state":"open",`) {
			t.Errorf("new issue contents are not new_issue's: %s", got)
		}
	})
}

// TestRenamesChanges: what each shape of changes gives. Absent, null or
// empty data keeps the delivery (the upsert, and for an issue the forget,
// which the action alone justifies) without the forget or upsert it would
// have fed; only the renamed and transferred actions of the repository and
// issues events read changes at all.
func TestRenamesChanges(t *testing.T) {
	const (
		repo  = `"repository":{"full_name":"o/r"}`
		issue = `"issue":{"number":3}`
	)
	ridRepo := "orn:github.repo:o/r"
	ridIssue := "orn:github.issue:o/r:3"
	user := func(login string) string { return `{"user":{"login":` + login + `}}` }
	tests := []struct {
		name, event, payload string
		want                 []ridOp
	}{
		// repository renamed
		{"renamed", "repository", `{"action":"renamed",` + repo + `,"changes":{"repository":{"name":{"from":"old"}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget("orn:github.repo:o/old")}},
		{"renamed, case only", "repository", `{"action":"renamed",` + repo + `,"changes":{"repository":{"name":{"from":"R"}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget("orn:github.repo:o/R")}},
		{"renamed, escaped from", "repository", `{"action":"renamed",` + repo + `,"changes":{"repository":{"name":{"from":"\u006fld"}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget("orn:github.repo:o/old")}},
		{"renamed, changes absent", "repository", `{"action":"renamed",` + repo + `}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"renamed, changes null", "repository", `{"action":"renamed",` + repo + `,"changes":null}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"renamed, changes empty", "repository", `{"action":"renamed",` + repo + `,"changes":{}}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"renamed, repository null", "repository", `{"action":"renamed",` + repo + `,"changes":{"repository":null}}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"renamed, from null", "repository", `{"action":"renamed",` + repo + `,"changes":{"repository":{"name":{"from":null}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"renamed, from empty", "repository", `{"action":"renamed",` + repo + `,"changes":{"repository":{"name":{"from":""}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"renamed, from the current name", "repository", `{"action":"renamed",` + repo + `,"changes":{"repository":{"name":{"from":"r"}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"renamed without repository", "repository", `{"action":"renamed","sender":{"login":"s"},"changes":{"repository":{"name":{"from":"old"}}}}`,
			[]ridOp{ev("s")}},
		// repository transferred
		{"transferred from a user", "repository", `{"action":"transferred",` + repo + `,"changes":{"owner":{"from":` + user(`"u"`) + `}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget("orn:github.repo:u/r")}},
		{"transferred from an organization", "repository", `{"action":"transferred",` + repo + `,"changes":{"owner":{"from":{"organization":{"login":"org"}}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget("orn:github.repo:org/r")}},
		{"transferred, user wins over organization", "repository", `{"action":"transferred",` + repo + `,"changes":{"owner":{"from":{"user":{"login":"u"},"organization":{"login":"org"}}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget("orn:github.repo:u/r")}},
		{"transferred, user login null", "repository", `{"action":"transferred",` + repo + `,"changes":{"owner":{"from":{"user":{"login":null},"organization":{"login":"org"}}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget("orn:github.repo:org/r")}},
		{"transferred and renamed", "repository", `{"action":"transferred",` + repo + `,"changes":{"owner":{"from":` + user(`"u"`) + `},"repository":{"name":{"from":"old"}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget("orn:github.repo:u/old")}},
		{"transferred, owner empty", "repository", `{"action":"transferred",` + repo + `,"changes":{"owner":{"from":{}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"transferred, changes absent", "repository", `{"action":"transferred",` + repo + `}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		// other repository actions do not read changes, whatever its shape
		{"edited, changes of another shape", "repository", `{"action":"edited",` + repo + `,"changes":{"owner":"x","repository":[1]}}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"created, renamed-like changes", "repository", `{"action":"created",` + repo + `,"changes":{"repository":{"name":{"from":"old"}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		{"deleted, renamed-like changes", "repository", `{"action":"deleted",` + repo + `,"changes":{"repository":{"name":{"from":"old"}}}}`,
			[]ridOp{ev("o/r"), forget(ridRepo)}},
		{"another event with renamed-like changes", "star", `{"action":"renamed",` + repo + `,"changes":{"repository":{"name":{"from":"old"}}}}`,
			[]ridOp{ev("o/r"), up(ridRepo)}},
		// issues transferred
		{"issue transferred", "issues", `{"action":"transferred",` + repo + `,` + issue + `,"changes":{"new_issue":{"number":9},"new_repository":{"full_name":"n/m"}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget(ridIssue), up("orn:github.issue:n/m:9")}},
		{"issue transferred, changes absent", "issues", `{"action":"transferred",` + repo + `,` + issue + `}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget(ridIssue)}},
		{"issue transferred, changes null", "issues", `{"action":"transferred",` + repo + `,` + issue + `,"changes":null}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget(ridIssue)}},
		{"issue transferred, new_repository absent", "issues", `{"action":"transferred",` + repo + `,` + issue + `,"changes":{"new_issue":{"number":9}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget(ridIssue)}},
		{"issue transferred, new_issue null", "issues", `{"action":"transferred",` + repo + `,` + issue + `,"changes":{"new_issue":null,"new_repository":{"full_name":"n/m"}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget(ridIssue)}},
		{"issue transferred, new full_name empty", "issues", `{"action":"transferred",` + repo + `,` + issue + `,"changes":{"new_issue":{"number":9},"new_repository":{"full_name":""}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), forget(ridIssue)}},
		{"issue transferred onto its own RID", "issues", `{"action":"transferred",` + repo + `,` + issue + `,"changes":{"new_issue":{"number":3},"new_repository":{"full_name":"o/r"}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), up(ridIssue)}},
		{"issue edited, changes of another shape", "issues", `{"action":"edited",` + repo + `,` + issue + `,"changes":{"title":{"from":"t"},"new_issue":"x"}}`,
			[]ridOp{ev("o/r"), up(ridRepo), up(ridIssue)}},
		{"issue_comment with action transferred", "issue_comment", `{"action":"transferred",` + repo + `,` + issue + `,"changes":{"new_issue":{"number":9},"new_repository":{"full_name":"n/m"}}}`,
			[]ridOp{ev("o/r"), up(ridRepo), up(ridIssue)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := github.Normalize(jsonInput(tt.event, []byte(tt.payload)))
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if got := ridOps(obs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("observations:\n got %v\nwant %v", got, tt.want)
			}
			checkObservations(t, obs)
		})
	}
}

// TestRenamesChangesErrors: a changes member of the wrong JSON type, or
// one that yields a name no RID can hold, fails the delivery with
// ErrBadPayload naming the member, like any other malformed member.
func TestRenamesChangesErrors(t *testing.T) {
	const (
		repo  = `"repository":{"full_name":"o/r"}`
		issue = `"issue":{"number":3}`
	)
	renamed := func(changes string) string { return `{"action":"renamed",` + repo + `,"changes":` + changes + `}` }
	transferred := func(changes string) string { return `{"action":"transferred",` + repo + `,"changes":` + changes + `}` }
	moved := func(changes string) string {
		return `{"action":"transferred",` + repo + `,` + issue + `,"changes":` + changes + `}`
	}
	tests := []struct {
		name, event, payload, wantIn string
	}{
		{"renamed, changes string", "repository", renamed(`"x"`), "changes: want object or null, got string"},
		{"renamed, changes array", "repository", renamed(`[]`), "changes: want object or null, got array"},
		{"renamed, repository string", "repository", renamed(`{"repository":"x"}`), "changes.repository"},
		{"renamed, name number", "repository", renamed(`{"repository":{"name":1}}`), "changes.repository.name"},
		{"renamed, from number", "repository", renamed(`{"repository":{"name":{"from":1}}}`), "changes.repository.name.from: want string or null, got number 1"},
		{"renamed, from object", "repository", renamed(`{"repository":{"name":{"from":{}}}}`), "changes.repository.name.from: want string or null, got object"},
		{"renamed, from with slash", "repository", renamed(`{"repository":{"name":{"from":"a/b"}}}`), `previous full name "o/a/b"`},
		{"renamed, from with colon", "repository", renamed(`{"repository":{"name":{"from":"a:b"}}}`), `previous full name "o/a:b"`},
		{"renamed, from with space", "repository", renamed(`{"repository":{"name":{"from":"a b"}}}`), "is not <owner>/<repo>"},
		{"transferred, owner string", "repository", transferred(`{"owner":"u"}`), "changes.owner"},
		{"transferred, from array", "repository", transferred(`{"owner":{"from":[]}}`), "changes.owner.from"},
		{"transferred, user string", "repository", transferred(`{"owner":{"from":{"user":"u"}}}`), "changes.owner.from.user"},
		{"transferred, login number", "repository", transferred(`{"owner":{"from":{"user":{"login":7}}}}`), "changes.owner.from.user.login: want string or null, got number 7"},
		{"transferred, organization login bool", "repository", transferred(`{"owner":{"from":{"organization":{"login":true}}}}`), "changes.owner.from.organization.login: want string or null, got boolean"},
		{"transferred, login with colon", "repository", transferred(`{"owner":{"from":{"user":{"login":"a:b"}}}}`), `previous full name "a:b/r"`},
		{"issue transferred, changes number", "issues", moved(`1`), "changes: want object or null, got number 1"},
		{"issue transferred, new_issue string", "issues", moved(`{"new_issue":"x","new_repository":{"full_name":"n/m"}}`), "changes.new_issue"},
		{"issue transferred, new_repository array", "issues", moved(`{"new_issue":{"number":9},"new_repository":[]}`), "changes.new_repository"},
		{"issue transferred, full_name number", "issues", moved(`{"new_issue":{"number":9},"new_repository":{"full_name":1}}`), "changes.new_repository.full_name"},
		{"issue transferred, full_name without slash", "issues", moved(`{"new_issue":{"number":9},"new_repository":{"full_name":"nm"}}`), `changes.new_repository.full_name "nm" is not <owner>/<repo>`},
		{"issue transferred, number missing", "issues", moved(`{"new_issue":{"title":"t"},"new_repository":{"full_name":"n/m"}}`), "changes.new_issue.number 0 is not positive"},
		{"issue transferred, number string", "issues", moved(`{"new_issue":{"number":"9"},"new_repository":{"full_name":"n/m"}}`), "changes.new_issue.number"},
		{"issue transferred, title number", "issues", moved(`{"new_issue":{"number":9,"title":1},"new_repository":{"full_name":"n/m"}}`), "changes.new_issue.title: want string or null, got number 1"},
		{"issue transferred, labels object", "issues", moved(`{"new_issue":{"number":9,"labels":{}},"new_repository":{"full_name":"n/m"}}`), "changes.new_issue.labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := github.Normalize(jsonInput(tt.event, []byte(tt.payload)))
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload (observations %v)", err, ridOps(obs))
			}
			if obs != nil {
				t.Errorf("observations returned with an error: %v", ridOps(obs))
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not contain %q", err, tt.wantIn)
			}
		})
	}
}

// FuzzNormalizeRenames: for any repository or issues delivery Normalize
// accepts, the RIDs it forgets and the transferred issue it upserts are the
// ones a model of the documented rules computes from the payload decoded
// by encoding/json (not by the package's decoder); whatever it refuses
// fails with ErrBadPayload. Payloads with a repeated member name are left
// out of the comparison: which of the repeats counts is the decoders'
// business, not the rules'.
func FuzzNormalizeRenames(f *testing.F) {
	for _, s := range []struct{ event, file string }{
		{"repository", "repository.renamed.json"},
		{"repository", "repository.transferred.json"},
		{"issues", "issues.transferred.json"},
	} {
		f.Add(s.event, readExample(f, s.file))
	}
	f.Add("repository", []byte(`{"action":"renamed","repository":{"full_name":"o/r"},"changes":{"repository":{"name":{"from":"old"}}}}`))
	f.Add("repository", []byte(`{"action":"transferred","repository":{"full_name":"o/r"},"changes":{"owner":{"from":{"user":{"login":null},"organization":{"login":"g"}}}}}`))
	f.Add("repository", []byte(`{"action":"transferred","repository":{"full_name":"o/r"},"changes":{"owner":{"from":{"user":{"login":"u"}}},"repository":{"name":{"from":"\u0041"}}}}`))
	f.Add("issues", []byte(`{"action":"transferred","repository":{"full_name":"o/r"},"issue":{"number":3},"changes":{"new_issue":{"number":9},"new_repository":{"full_name":"n/m"}}}`))
	f.Add("issues", []byte(`{"action":"transferred","repository":{"full_name":"o/r"},"issue":{"number":3},"changes":{"new_issue":{"number":3},"new_repository":{"full_name":"o/r"}}}`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		obs, err := github.Normalize(jsonInput(event, body))
		if err != nil {
			if !errors.Is(err, github.ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			return
		}
		if event != "repository" && event != "issues" {
			return
		}
		if hasRepeatedMember(body) {
			return
		}
		wantForgets, wantIssues, ok := renameModel(event, body)
		if !ok {
			return
		}
		var forgets, issues []string
		for _, o := range obs[1:] {
			switch {
			case o.Op == observed.OpForget:
				forgets = append(forgets, o.RID)
			case o.Routing == "ent.issue":
				issues = append(issues, o.RID)
			}
		}
		if !reflect.DeepEqual(forgets, wantForgets) || !reflect.DeepEqual(issues, wantIssues) {
			t.Fatalf("forgets %v, issue upserts %v; the model says %v, %v", forgets, issues, wantForgets, wantIssues)
		}
	})
}

// renameModel computes from payload, decoded by encoding/json, what a
// repository or issues delivery Normalize accepted must forget and which
// issue RIDs it must upsert, following the rules documented on Normalize.
// ok is false when the model cannot tell (an issue number encoding/json
// reads differently).
func renameModel(event string, payload []byte) (forgets, issues []string, ok bool) {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, nil, false
	}
	obj := func(v any, keys ...string) any {
		for _, k := range keys {
			o, isObj := v.(map[string]any)
			if !isObj {
				return nil
			}
			v = o[k]
		}
		return v
	}
	str := func(v any) string { s, _ := v.(string); return s }
	num := func(v any) (string, bool) { // a number in plain decimal
		n, isNum := v.(json.Number)
		if !isNum {
			return "", false
		}
		i, err := n.Int64()
		return n.String(), err == nil && n.String() == strconv.FormatInt(i, 10)
	}
	action := str(m["action"])
	full := str(obj(m, "repository", "full_name"))
	changes := m["changes"]
	switch event {
	case "repository":
		switch {
		case action == "deleted" && full != "":
			return []string{github.RepoRID(full)}, nil, true
		case action != "renamed" && action != "transferred", full == "":
			return nil, nil, true
		}
		owner, name, _ := strings.Cut(full, "/")
		if from := str(obj(changes, "repository", "name", "from")); from != "" {
			name = from
		}
		if login := str(obj(changes, "owner", "from", "user", "login")); login != "" {
			owner = login
		} else if login := str(obj(changes, "owner", "from", "organization", "login")); login != "" {
			owner = login
		}
		if old := owner + "/" + name; old != full {
			return []string{github.RepoRID(old)}, nil, true
		}
		return nil, nil, true
	case "issues":
		n, isNum := num(obj(m, "issue", "number"))
		if !isNum {
			return nil, nil, false
		}
		rid := "orn:github.issue:" + full + ":" + n
		switch action {
		case "deleted":
			return []string{rid}, nil, true
		case "transferred":
		default:
			return nil, []string{rid}, true
		}
		newFull := str(obj(changes, "new_repository", "full_name"))
		newIssue := obj(changes, "new_issue")
		if newFull == "" || newIssue == nil {
			return []string{rid}, nil, true
		}
		nn, isNum := num(obj(newIssue, "number"))
		if !isNum {
			return nil, nil, false
		}
		newRID := "orn:github.issue:" + newFull + ":" + nn
		if newRID == rid {
			return nil, []string{newRID}, true
		}
		return []string{rid}, []string{newRID}, true
	}
	return nil, nil, false
}

// hasRepeatedMember reports whether some object of the JSON text b names a
// member twice (after unescaping), or b is not one JSON value.
func hasRepeatedMember(b []byte) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj   bool
		key   bool // the next token of an object is a member name
		names map[string]bool
	}
	var stack []frame
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return len(stack) != 0
		}
		if err != nil {
			return true
		}
		if n := len(stack); n > 0 && stack[n-1].obj {
			top := &stack[n-1]
			if top.key {
				if name, isName := tok.(string); isName {
					if top.names[name] {
						return true
					}
					top.names[name] = true
					top.key = false
					continue
				}
			} else {
				top.key = true // this token is (or opens) the member's value
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{obj: true, key: true, names: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if n := len(stack); n > 0 && stack[n-1].obj {
				stack[n-1].key = true
			}
		}
	}
}
