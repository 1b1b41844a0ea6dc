package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/topicstest"
)

// runWithStdin runs a one-shot koistream command with stdin and returns
// its stdout, stderr and exit code.
func runWithStdin(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if exitErr, ok := errors.AsType[*exec.ExitError](err); ok {
		return stdout.String(), stderr.String(), exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("koistream %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), 0
}

// streamLines decodes JSON lines.
func streamLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for line := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("a line that is not a JSON object: %v\n%s", err, line)
		}
		evs = append(evs, v)
	}
	return evs
}

// TestStreamCommandsThroughNode: against a real node, tail started before
// three publishes (multi-line, with members named "error" and
// "stillalive") prints them in order, replay --since a time before them
// prints exactly them, in order, and ends by itself, and replay --cursor
// prints those after the cursor.
func TestStreamCommandsThroughNode(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir())
	since := time.Now()

	tail := exec.Command(binary, "tail", "--pubsub", n.pubsub, "--path", "/demo")
	var tailOut, tailErr syncBuffer
	tail.Stdout, tail.Stderr = &tailOut, &tailErr
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stopTail := func() {
		once.Do(func() {
			tail.Process.Signal(os.Interrupt)
			tail.Wait()
		})
	}
	t.Cleanup(stopTail)

	for i := 1; i <= 3; i++ {
		// Members named as the node's own objects are the message's: it
		// is still an event, neither a ping nor a cut-off.
		body := fmt.Sprintf("{\n  \"n\": %d,\n  \"error\": \"message %d\",\n  \"stillalive\": true\n}\n", i, i)
		out, errOut, code := runWithStdin(t, body, "publish", "--pubsub", n.pubsub, "--path", "/demo/x")
		if code != 0 {
			t.Fatalf("publish %d: exit %d\n%s", i, code, errOut)
		}
		var answer struct {
			ID   string `json:"id"`
			Path string `json:"path"`
		}
		if err := json.Unmarshal([]byte(out), &answer); err != nil || answer.ID == "" || answer.Path != "/demo/x" {
			t.Fatalf("publish answer %q: %v", out, err)
		}
	}
	check := func(what string, evs []map[string]any) {
		t.Helper()
		if len(evs) != 3 {
			t.Fatalf("%s printed %d events, want 3", what, len(evs))
		}
		for i, ev := range evs {
			if ev["n"] != float64(i+1) || ev["error"] != fmt.Sprintf("message %d", i+1) || ev["pubsub_path"] != "/demo/x" || ev["pubsub_cursor"] == nil {
				t.Errorf("%s event %d: %v, want n=%d on /demo/x with a cursor", what, i, ev, i+1)
			}
		}
	}
	topicstest.WaitFor(t, 60*time.Second, "tail prints the three messages", func() bool {
		return strings.Count(tailOut.String(), "\n") >= 3
	})
	stopTail()
	if code := tail.ProcessState.ExitCode(); code != 0 {
		t.Errorf("tail exited %d after SIGINT, want 0\n%s", code, tailErr.String())
	}
	tailEvents := streamLines(t, tailOut.String())
	check("tail", tailEvents)

	out, errOut, code := runWithStdin(t, "", "replay", "--pubsub", n.pubsub, "--path", "/demo", "--since", since.UTC().Format(time.RFC3339Nano))
	if code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, errOut)
	}
	replayed := streamLines(t, out)
	check("replay", replayed)
	// (Cursors are positions of a subscription across partitions, not
	// names of events: tail's and replay's may differ for one event.)

	// From the first event's cursor: the two after it.
	out, errOut, code = runWithStdin(t, "", "replay", "--pubsub", "http://"+n.pubsub, "--path", "/demo", "--cursor", replayed[0]["pubsub_cursor"].(string))
	if code != 0 {
		t.Fatalf("replay --cursor: exit %d\n%s", code, errOut)
	}
	if after := streamLines(t, out); len(after) != 2 || after[0]["n"] != float64(2) || after[1]["n"] != float64(3) {
		t.Errorf("replay --cursor printed %v, want events 2 and 3", after)
	}
}

// TestGitPushThroughNode: a real git push to a bare repository whose
// post-receive hook runs koistream publish --git-hook makes the node's
// stream show every new commit, oldest first, the force push marked.
func TestGitPushThroughNode(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir())
	since := time.Now()
	dir := t.TempDir()
	env := append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+filepath.Join(dir, "gitconfig"),
		"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=a@example.org", "GIT_COMMITTER_NAME=A U Thor", "GIT_COMMITTER_EMAIL=a@example.org")
	git := func(in string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = in, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	bare, work := filepath.Join(dir, "site.git"), filepath.Join(dir, "work")
	git(dir, "init", "-q", "--bare", "-b", "main", bare)
	hook := fmt.Sprintf("#!/bin/sh\nexec '%s' publish --git-hook --pubsub '%s'\n", binary, n.pubsub)
	if err := os.WriteFile(filepath.Join(bare, "hooks", "post-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	git(dir, "init", "-q", "-b", "main", work)
	git(work, "remote", "add", "origin", bare)
	var want []string
	commit := func(msg string) {
		git(work, "commit", "-q", "--allow-empty", "-m", msg)
		want = append(want, git(work, "rev-parse", "HEAD"))
	}
	commit("one")
	commit("two")
	git(work, "push", "-q", "origin", "main")
	commit("three")
	git(work, "push", "-q", "origin", "main")
	git(work, "reset", "-q", "--hard", "HEAD~1")
	commit("four, forced")
	git(work, "push", "-q", "--force", "origin", "main")

	var got []map[string]any
	topicstest.WaitFor(t, 60*time.Second, "the stream shows the four commits", func() bool {
		out, errOut, code := runWithStdin(t, "", "replay", "--pubsub", n.pubsub, "--path", "/git/site/commit", "--since", since.UTC().Format(time.RFC3339Nano))
		if code != 0 {
			t.Fatalf("replay: exit %d\n%s", code, errOut)
		}
		got = streamLines(t, out)
		return len(got) >= len(want)
	})
	if len(got) != len(want) {
		t.Fatalf("the stream shows %d commits, want %d", len(got), len(want))
	}
	for i, ev := range got {
		c, _ := ev["commit"].(map[string]any)
		forced, _ := c["forced"].(bool)
		if c["sha"] != want[i] || c["project"] != "site" || c["ref"] != "refs/heads/main" || forced != (i == 3) {
			t.Errorf("event %d: %v, want commit %s of site on refs/heads/main (forced %v)", i, ev, want[i], i == 3)
		}
	}
}
