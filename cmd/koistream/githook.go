package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// refUpdate is one line a post-receive hook reads: a ref moved from Old to
// New (either all zeros for a creation or a deletion).
type refUpdate struct {
	Old, New, Ref string
}

// isZeroID reports whether id is git's null object name.
func isZeroID(id string) bool { return strings.Trim(id, "0") == "" }

// parseHookInput reads the "old new ref" lines of a post-receive hook.
// Object names are 40 (SHA-1) or 64 (SHA-256) hex digits.
func parseHookInput(r io.Reader) ([]refUpdate, error) {
	var ups []refUpdate
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || !isObjectName(f[0]) || !isObjectName(f[1]) || len(f[0]) != len(f[1]) {
			return nil, fmt.Errorf("line %d: want \"<old> <new> <ref>\" as git gives a post-receive hook, got %.120q", n, line)
		}
		if isZeroID(f[0]) && isZeroID(f[1]) {
			return nil, fmt.Errorf("line %d: both object names are zero", n)
		}
		ups = append(ups, refUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
	return ups, sc.Err()
}

func isObjectName(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// gitRepo runs git in one repository.
type gitRepo struct {
	dir string   // the working directory of git; "" for the current one
	env []string // nil for the inherited environment
}

// newGitRepo is the repository at dir, or with dir "" the one git finds
// from $GIT_DIR or the current directory (what a hook runs in).
func newGitRepo(dir string) gitRepo {
	if dir == "" {
		return gitRepo{}
	}
	// A hook's environment names its own repository in GIT_DIR; an
	// explicit directory must not be overridden by it.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_DIR=") && !strings.HasPrefix(kv, "GIT_WORK_TREE=") {
			env = append(env, kv)
		}
	}
	return gitRepo{dir: dir, env: env}
}

// git runs git args with stdin and returns its stdout; a failure carries
// git's stderr.
func (g gitRepo) git(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	// Settings of the user or the repository must not change the output
	// parsed here.
	full := append([]string{"-c", "log.showSignature=false", "-c", "core.quotePath=false", "-c", "i18n.logOutputEncoding=UTF-8"}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir, cmd.Env = g.dir, g.env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// project is the repository's name as GitPubSub gives it: the directory's
// name without ".git" (the parent's for a work tree's ".git").
func (g gitRepo) project(ctx context.Context) (string, error) {
	out, err := g.git(ctx, nil, "rev-parse", "--absolute-git-dir")
	if err != nil {
		return "", err
	}
	dir := strings.TrimRight(string(out), "\r\n")
	base := filepath.Base(dir)
	if base == ".git" {
		base = filepath.Base(filepath.Dir(dir))
	}
	return strings.TrimSuffix(base, ".git"), nil
}

// gitCommit is a commit as ASF's production GitPubSub publishes it
// (PUBSUB.md 1.9), with Forced added for force pushes.
type gitCommit struct {
	Repository string   `json:"repository"`
	Project    string   `json:"project"`
	Ref        string   `json:"ref"`
	Hash       string   `json:"hash"` // the first 7 hex digits
	Sha        string   `json:"sha"`
	Date       string   `json:"date"`     // author date, RFC 3339
	Authored   string   `json:"authored"` // author date, RFC 3339
	Author     string   `json:"author"`
	Email      string   `json:"email"`
	Committer  string   `json:"committer"`
	Commited   string   `json:"commited"` // committer date, RFC 3339 (ASF's spelling)
	Subject    string   `json:"subject"`
	Log        string   `json:"log"`  // the whole message
	Body       string   `json:"body"` // the message without its subject
	Files      []string `json:"files"`
	Forced     bool     `json:"forced,omitzero"`
}

// gitRefDeleted is the message of a deleted ref.
type gitRefDeleted struct {
	Repository string `json:"repository"`
	Project    string `json:"project"`
	Ref        string `json:"ref"`
	Old        string `json:"old"`
	Deleted    bool   `json:"deleted"`
}

// commit reads commit sha for ref.
func (g gitRepo) commit(ctx context.Context, project, ref, sha string) (gitCommit, error) {
	// %B last: the fields before it hold no NUL, so the split is exact.
	out, err := g.git(ctx, nil, "show", "-s", "--encoding=UTF-8", "--format=%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%cI%x00%s%x00%b%x00%B", sha, "--")
	if err != nil {
		return gitCommit{}, err
	}
	f := strings.SplitN(string(out), "\x00", 10)
	if len(f) != 10 {
		return gitCommit{}, fmt.Errorf("git show %s: unexpected output %.200q", sha, out)
	}
	c := gitCommit{
		Repository: "git", Project: project, Ref: ref,
		Sha: f[0], Hash: f[0][:min(7, len(f[0]))],
		Author: f[2], Email: f[3], Date: f[4], Authored: f[4],
		Committer: f[5], Commited: f[6], Subject: f[7],
		Body: strings.TrimRight(f[8], "\n"),
		// git show ends the format with a newline of its own.
		Log: strings.TrimRight(f[9], "\n"),
	}
	// A merge's files are those it changed on the branch it was merged
	// into: the diff against its first parent.
	args := []string{"diff-tree", "-r", "-z", "--name-only", "--no-commit-id", "--no-renames", "--root"}
	if parents := strings.Fields(f[1]); len(parents) > 1 {
		args = append(args, parents[0])
	}
	out, err = g.git(ctx, nil, append(args, sha, "--")...)
	if err != nil {
		return gitCommit{}, err
	}
	c.Files = []string{}
	for name := range strings.SplitSeq(string(out), "\x00") {
		if name != "" {
			c.Files = append(c.Files, name)
		}
	}
	return c, nil
}

// gitMessage is one message the hook publishes.
type gitMessage struct {
	Ref  string
	Desc string // for the hook's report: a commit's short hash or "deleted"
	Body []byte
}

// hookMessages returns the messages of a push, in the order to publish
// them: for each update in order, its commits new to the repository,
// oldest first (a commit made new by two refs of the push goes with the
// first), or its deletion.
func (g gitRepo) hookMessages(ctx context.Context, project string, ups []refUpdate) ([]gitMessage, error) {
	// What the repository had before the push: every ref the push did not
	// move, and the old value of those it did (in post-receive the refs
	// already point at their new values).
	moved := map[string]bool{}
	for _, u := range ups {
		moved[u.Ref] = true
	}
	refs, err := g.git(ctx, nil, "for-each-ref", "--format=%(objectname) %(refname)")
	if err != nil {
		return nil, err
	}
	var before []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			before = append(before, "^"+id)
		}
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(refs)), "\n") {
		id, name, ok := strings.Cut(line, " ")
		if ok && !moved[name] {
			add(id)
		}
	}
	for _, u := range ups {
		if !isZeroID(u.Old) {
			add(u.Old)
		}
	}
	done := map[string]bool{}
	var msgs []gitMessage
	for _, u := range ups {
		if isZeroID(u.New) {
			b, err := marshalMessage(map[string]any{"ref": gitRefDeleted{Repository: "git", Project: project, Ref: u.Ref, Old: u.Old, Deleted: true}})
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, gitMessage{Ref: u.Ref, Desc: "deleted", Body: b})
			continue
		}
		forced := false
		if !isZeroID(u.Old) {
			// Exit 1 means "not an ancestor"; any other failure (a tag of
			// a tree, say) is no force push of commits either.
			_, err := g.git(ctx, nil, "merge-base", "--is-ancestor", u.Old, u.New)
			if exitErr, ok := errors.AsType[*exec.ExitError](err); ok && exitErr.ExitCode() == 1 {
				forced = true
			}
		}
		stdin := strings.Join(append([]string{u.New}, before...), "\n") + "\n"
		out, err := g.git(ctx, []byte(stdin), "rev-list", "--reverse", "--topo-order", "--stdin")
		if err != nil {
			return nil, err
		}
		for sha := range strings.FieldsSeq(string(out)) {
			if done[sha] {
				continue
			}
			done[sha] = true
			c, err := g.commit(ctx, project, u.Ref, sha)
			if err != nil {
				return nil, err
			}
			c.Forced = forced
			b, err := marshalMessage(map[string]any{"commit": c})
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, gitMessage{Ref: u.Ref, Desc: c.Hash, Body: b})
		}
	}
	return msgs, nil
}

// marshalMessage encodes a message; bytes of a commit that are not UTF-8
// (a message in another encoding with no encoding header) become U+FFFD,
// so the message is valid JSON.
func marshalMessage(v any) ([]byte, error) {
	return json.Marshal(v, jsontext.AllowInvalidUTF8(true), json.Deterministic(true))
}

// runGitHook runs publish --git-hook: it reads the push on in and
// publishes its messages one after the other, each after the node
// accepted the one before, so they reach subscribers in order. It stops at
// the first failure and says what was not published.
func runGitHook(ctx context.Context, c *streamClient, f publishFlags, in io.Reader, out, errOut io.Writer) error {
	fail := func(err error) error {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream publish --git-hook: %w", err)}
	}
	ups, err := parseHookInput(in)
	if err != nil {
		return configError(fmt.Errorf("koistream publish --git-hook: stdin: %w", err))
	}
	g := newGitRepo(f.repoDir)
	project, err := g.project(ctx)
	if err != nil {
		return fail(err)
	}
	path := f.path
	if path == "" {
		path = "/git/" + project + "/commit"
		if err := checkStreamPath(path); err != nil {
			return fail(fmt.Errorf("the project name %q makes no stream path; give --path: %w", project, err))
		}
	}
	msgs, err := g.hookMessages(ctx, project, ups)
	if err != nil {
		return fail(err)
	}
	for i, m := range msgs {
		pctx, cancel := context.WithTimeout(ctx, f.timeout)
		_, err := c.put(pctx, path, m.Body)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("%s %s: %w (%d of %d messages published; the rest were not)", m.Ref, m.Desc, err, i, len(msgs)))
		}
	}
	fmt.Fprintf(out, "koistream: published %d messages to %s%s\n", len(msgs), c.base, path)
	return nil
}
