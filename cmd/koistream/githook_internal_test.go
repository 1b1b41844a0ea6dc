package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// gitEnv makes the test's git runs independent of the machine's
// configuration and clock.
func gitEnv(home string) []string {
	return append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+filepath.Join(home, "gitconfig"),
		"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=author@example.org",
		"GIT_COMMITTER_NAME=C O Mitter", "GIT_COMMITTER_EMAIL=committer@example.org",
		"GIT_AUTHOR_DATE=2026-11-28T10:00:00Z", "GIT_COMMITTER_DATE=2026-11-28T11:00:00+01:00",
	)
}

// gitRun runs git in dir and returns its trimmed stdout.
func gitRun(t *testing.T, env []string, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// hookRepo is a bare repository whose post-receive hook records what git
// gives it on stdin, and a work clone pushing to it.
type hookRepo struct {
	t               *testing.T
	env             []string
	bare, work, log string
}

func newHookRepo(t *testing.T) *hookRepo {
	t.Helper()
	dir := t.TempDir()
	h := &hookRepo{t: t, env: gitEnv(dir), bare: filepath.Join(dir, "demo.git"), work: filepath.Join(dir, "work"), log: filepath.Join(dir, "push.log")}
	gitRun(t, h.env, dir, "init", "-q", "--bare", "-b", "main", h.bare)
	hook := "#!/bin/sh\ncat > '" + h.log + "'\n"
	if err := os.WriteFile(filepath.Join(h.bare, "hooks", "post-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	gitRun(t, h.env, dir, "init", "-q", "-b", "main", h.work)
	gitRun(t, h.env, h.work, "remote", "add", "origin", h.bare)
	return h
}

// git runs git in the work clone.
func (h *hookRepo) git(args ...string) string {
	h.t.Helper()
	return gitRun(h.t, h.env, h.work, args...)
}

// commit writes files (name, content pairs) and commits them with msg;
// it returns the new commit's name.
func (h *hookRepo) commit(msg string, files ...string) string {
	h.t.Helper()
	for i := 0; i < len(files); i += 2 {
		p := filepath.Join(h.work, files[i])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			h.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[i+1]), 0o644); err != nil {
			h.t.Fatal(err)
		}
		h.git("add", files[i])
	}
	h.git("commit", "-q", "--allow-empty", "-m", msg)
	return h.git("rev-parse", "HEAD")
}

// push pushes and returns what the post-receive hook read.
func (h *hookRepo) push(args ...string) string {
	h.t.Helper()
	os.Remove(h.log)
	h.git(append([]string{"push", "-q", "origin"}, args...)...)
	b, err := os.ReadFile(h.log)
	if err != nil {
		h.t.Fatalf("the post-receive hook did not run: %v", err)
	}
	return string(b)
}

// published is what the test compares of one published message.
type published struct {
	Kind, Ref, Sha string // Kind "commit" or "deleted"; Sha is old for a deletion
	Forced         bool
}

// TestGitHookPublishesEveryNewCommit pushes to a real bare repository
// (new branch, fast-forward with an empty commit, a second branch, a
// merge, a force push with a message that is not UTF-8, an annotated tag
// of a new commit, two branches at one new commit, a deletion), feeds
// what git gave its post-receive hook to publish --git-hook, and checks
// the exact sequence of messages the stand-in listener received.
func TestGitHookPublishesEveryNewCommit(t *testing.T) {
	t.Parallel()
	h := newHookRepo(t)
	srv := newStandIn(t)
	hookRun := func(input string) {
		t.Helper()
		code, out, errOut := runIn(t, input, "publish", "--git-hook", "--pubsub", srv.addr(), "--repo-dir", h.bare)
		if code != 0 {
			t.Fatalf("publish --git-hook: exit %d\nstdout %s\nstderr %s", code, out, errOut)
		}
	}
	type step struct {
		name string
		do   func() string // returns the hook's input
		want func() []published
	}
	var a, b, c, d, e, f, m, g, tagged, shared string
	commit := func(ref, sha string) published { return published{"commit", ref, sha, false} }
	steps := []step{
		{"new branch", func() string {
			a = h.commit("first", "a.txt", "a\n")
			b = h.commit("second\n\nwith a body\nof two lines", "dir/b.txt", "b\n", "a.txt", "a2\n")
			return h.push("main")
		}, func() []published { return []published{commit("refs/heads/main", a), commit("refs/heads/main", b)} }},
		{"fast-forward with an empty commit", func() string {
			c = h.commit("third", "c.txt", "c\n")
			d = h.commit("empty")
			return h.push("main")
		}, func() []published { return []published{commit("refs/heads/main", c), commit("refs/heads/main", d)} }},
		{"second branch publishes only its own commit", func() string {
			h.git("checkout", "-q", "-b", "feature")
			e = h.commit("feature work", "e.txt", "e\n")
			return h.push("feature")
		}, func() []published { return []published{commit("refs/heads/feature", e)} }},
		{"merge", func() string {
			h.git("checkout", "-q", "main")
			f = h.commit("on main", "f.txt", "f\n")
			h.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
			m = h.git("rev-parse", "HEAD")
			return h.push("main")
		}, func() []published { return []published{commit("refs/heads/main", f), commit("refs/heads/main", m)} }},
		{"force push", func() string {
			// git commit would rewrite bytes that are not UTF-8 as
			// Latin-1; a commit object written as is keeps them.
			raw := "tree " + h.git("rev-parse", d+"^{tree}") + "\nparent " + d +
				"\nauthor A U Thor <author@example.org> 1795860000 +0000\ncommitter C O Mitter <committer@example.org> 1795860000 +0000\n\ncaf\xe9 \xff not UTF-8\n"
			cmd := exec.Command("git", "hash-object", "-w", "-t", "commit", "--stdin")
			cmd.Dir, cmd.Env, cmd.Stdin = h.work, h.env, strings.NewReader(raw)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			g = strings.TrimSpace(string(out))
			h.git("reset", "-q", "--hard", g)
			return h.push("--force", "main")
		}, func() []published { return []published{{"commit", "refs/heads/main", g, true}} }},
		{"annotated tag of a new commit", func() string {
			h.git("checkout", "-q", "--detach")
			// A message in Latin-1, declared: published as UTF-8.
			h.git("config", "i18n.commitEncoding", "ISO-8859-1")
			tagged = h.commit("tagged caf\xe9", "t.txt", "t\n")
			h.git("config", "--unset", "i18n.commitEncoding")
			h.git("tag", "-a", "-m", "release", "v1")
			h.git("checkout", "-q", "main")
			return h.push("v1")
		}, func() []published { return []published{commit("refs/tags/v1", tagged)} }},
		{"tag of a known commit publishes nothing", func() string {
			h.git("tag", "-a", "-m", "old", "v0", a)
			return h.push("v0")
		}, func() []published { return nil }},
		{"two branches at one new commit publish it once", func() string {
			h.git("checkout", "-q", "-b", "x")
			shared = h.commit("shared", "s.txt", "s\n")
			h.git("branch", "y")
			h.git("checkout", "-q", "main")
			return h.push("x", "y")
		}, func() []published { return []published{commit("refs/heads/x", shared)} }},
		{"deletion", func() string { return h.push(":feature") },
			func() []published { return []published{{"deleted", "refs/heads/feature", e, false}} }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := len(srv.recorded())
			input := s.do()
			hookRun(input)
			var got []published
			for _, r := range srv.recorded()[before:] {
				if r.Method != http.MethodPut || r.Path != "/git/demo/commit" {
					t.Fatalf("request %s %s, want PUT /git/demo/commit", r.Method, r.Path)
				}
				var msg struct {
					Commit *gitCommit     `json:"commit"`
					Ref    *gitRefDeleted `json:"ref"`
				}
				if err := json.Unmarshal(r.Body, &msg); err != nil {
					t.Fatalf("published body is not JSON: %v\n%s", err, r.Body)
				}
				switch {
				case msg.Commit != nil:
					got = append(got, published{"commit", msg.Commit.Ref, msg.Commit.Sha, msg.Commit.Forced})
				case msg.Ref != nil && msg.Ref.Deleted:
					got = append(got, published{"deleted", msg.Ref.Ref, msg.Ref.Old, false})
				default:
					t.Fatalf("published neither a commit nor a deletion: %s", r.Body)
				}
			}
			if want := s.want(); !reflect.DeepEqual(got, want) {
				t.Fatalf("published\n%v\nwant\n%v", got, want)
			}
		})
	}

	// The whole of two messages, as JSON: a commit with a body, and the
	// merge, whose files are those it brought to main.
	var bodies []map[string]any
	for _, r := range srv.recorded() {
		var v map[string]any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, v)
	}
	wantB := map[string]any{"commit": map[string]any{
		"repository": "git", "project": "demo", "ref": "refs/heads/main", "hash": b[:7], "sha": b,
		"date": "2026-11-28T10:00:00+00:00", "authored": "2026-11-28T10:00:00+00:00",
		"author": "A U Thor", "email": "author@example.org",
		"committer": "C O Mitter", "commited": "2026-11-28T11:00:00+01:00",
		"subject": "second", "log": "second\n\nwith a body\nof two lines", "body": "with a body\nof two lines",
		"files": []any{"a.txt", "dir/b.txt"},
	}}
	if !reflect.DeepEqual(bodies[1], wantB) {
		t.Errorf("second commit's message\n%v\nwant\n%v", bodies[1], wantB)
	}
	if files := bodies[6]["commit"].(map[string]any)["files"]; !reflect.DeepEqual(files, []any{"e.txt"}) {
		t.Errorf("merge files %v, want [e.txt]", files)
	}
	if files := bodies[3]["commit"].(map[string]any)["files"]; !reflect.DeepEqual(files, []any{}) {
		t.Errorf("empty commit's files %v, want []", files)
	}
	if subj := bodies[7]["commit"].(map[string]any)["subject"]; subj != "caf\ufffd \ufffd not UTF-8" {
		t.Errorf("non-UTF-8 subject %q, want the bad bytes as U+FFFD", subj)
	}
	if subj := bodies[8]["commit"].(map[string]any)["subject"]; subj != "tagged café" {
		t.Errorf("Latin-1 subject %q, want it in UTF-8", subj)
	}
	if _, ok := bodies[1]["commit"].(map[string]any)["forced"]; ok {
		t.Errorf("a commit of a fast-forward carries \"forced\"")
	}
	if del := bodies[len(bodies)-1]; !reflect.DeepEqual(del, map[string]any{"ref": map[string]any{"repository": "git", "project": "demo", "ref": "refs/heads/feature", "old": e, "deleted": true}}) {
		t.Errorf("deletion message %v", del)
	}
}

// TestGitHookStopsAtTheFirstRefusal: when the node refuses a message, the
// hook publishes nothing after it (order is kept), says what was not
// published, and exits 1.
func TestGitHookStopsAtTheFirstRefusal(t *testing.T) {
	t.Parallel()
	h := newHookRepo(t)
	h.commit("one", "1", "1")
	h.commit("two", "2", "2")
	h.commit("three", "3", "3")
	input := h.push("main")
	srv := newStandIn(t)
	srv.putFail = 1
	code, _, errOut := runIn(t, input, "publish", "--git-hook", "--pubsub", srv.URL, "--repo-dir", h.bare, "--path", "/custom/path")
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	if n := len(srv.recorded()); n != 2 {
		t.Errorf("%d requests, want 2 (stop at the refused one)", n)
	}
	for _, want := range []string{"400 Bad Request", "not a JSON object", "1 of 3 messages published"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if p := srv.recorded()[0].Path; p != "/custom/path" {
		t.Errorf("published to %s, want --path /custom/path", p)
	}
}
