package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/spf13/cobra"
)

// maxPublishInput bounds what publish reads from stdin: far above what a
// node accepts, so the node's size limit, not this one, is what a user
// meets.
const maxPublishInput = 1 << 30

// publishFlags are the flags of koistream publish.
type publishFlags struct {
	pubsub, path, repoDir string
	gitHook               bool
	timeout               time.Duration
}

func newPublishCmd() *cobra.Command {
	var f publishFlags
	cmd := &cobra.Command{
		Use:   "publish (--path /p | --git-hook [--path /p] [--repo-dir DIR])",
		Short: "Publish a JSON object read on stdin to a node's stream, or a git push's commits as a post-receive hook",
		Long: `Publish to a running node's stream listener (PUT /<path>).

With --path, read one JSON object on stdin (of any length, over any number of lines), send it
as it is, and print the node's answer ({"id","path","timestamp"}). A refusal prints the node's
error and exits 1; stdin that is not one JSON object exits 2 and sends nothing.

With --git-hook, act as a git post-receive hook: read "old new ref" lines on stdin and publish
one message for every commit the push made new to the repository, oldest first and in order,
each in the shape of ASF's GitPubSub ({"commit":{"repository":"git","project",...}}). A new
branch publishes the commits no other ref had, a fast-forward those of old..new, a force push
the new commits marked "forced": true, a deletion one {"ref":{...,"deleted":true}} message.
The repository is --repo-dir, else $GIT_DIR or the current directory as git gives hooks; the
project is its directory name without ".git"; --path defaults to /git/<project>/commit.
Install it as hooks/post-receive:

    #!/bin/sh
    exec koistream publish --git-hook --pubsub 127.0.0.1:2069`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return publish(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.pubsub, "pubsub", defaultPubSub, "the node's stream listener: host:port or an http(s) URL (serve's --pubsub-listen)")
	fl.StringVar(&f.path, "path", "", "the stream path to publish to (required without --git-hook; default with it: /git/<project>/commit)")
	fl.BoolVar(&f.gitHook, "git-hook", false, "act as a git post-receive hook: publish every new commit of the push read on stdin")
	fl.StringVar(&f.repoDir, "repo-dir", "", "with --git-hook: the repository (default: $GIT_DIR or the current directory)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the node's answer to each message")
	return cmd
}

// publish runs koistream publish.
func publish(cmd *cobra.Command, f publishFlags) error {
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", f.timeout)
	}
	if f.path != "" {
		if err := checkStreamPath(f.path); err != nil {
			return err
		}
	}
	if !f.gitHook && f.repoDir != "" {
		return errors.New("--repo-dir goes with --git-hook")
	}
	c, err := newStreamClient(f.pubsub)
	if err != nil {
		return err
	}
	if f.gitHook {
		return runGitHook(cmd.Context(), c, f, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	if f.path == "" {
		return errors.New("--path is required (or --git-hook)")
	}
	body, err := readObject(cmd.InOrStdin())
	if err != nil {
		return configError(fmt.Errorf("koistream publish: stdin: %w", err))
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	answer, err := c.put(ctx, f.path, body)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream publish: %w", err)}
	}
	out := cmd.OutOrStdout()
	out.Write(bytes.TrimRight(answer, "\r\n"))
	_, err = io.WriteString(out, "\n")
	return err
}

// readObject reads all of r and checks it holds exactly one JSON object
// (surrounding white space allowed), returned as read.
func readObject(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxPublishInput+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxPublishInput {
		return nil, fmt.Errorf("more than %d bytes", maxPublishInput)
	}
	// Only the shape is checked here; what the strings hold is the node's
	// to judge.
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
	if dec.PeekKind() != '{' {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, errors.New("empty; give one JSON object")
		}
		return nil, errors.New("not a JSON object; give one {...}")
	}
	if err := dec.SkipValue(); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errors.New("more than one JSON value; give one object")
	}
	return body, nil
}

// publishError is a publish the node refused or failed; Body is its
// answer.
type publishError struct {
	Status string
	Body   []byte
}

func (e *publishError) Error() string {
	return "the node answered " + e.Status + ": " + strings.TrimSpace(string(e.Body))
}

// put publishes body at path and returns the node's answer to a 2xx; any
// other answer is a *publishError carrying the node's body.
func (c *streamClient) put(ctx context.Context, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.pathURL(path), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is the node's stream listener running? %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", c.base, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &publishError{Status: resp.Status, Body: answer}
	}
	return answer, nil
}
