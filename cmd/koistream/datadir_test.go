package main_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/topicstest"
)

// checksums returns the sha256 of every file under dir by its path.
func checksums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[path] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDataFolderLock: while a node runs, every command that would open its
// data folder (a second serve, rebuild, broker) exits at once with code 1
// naming the owner's pid, and changes no byte of any file in the folder;
// the first node keeps serving. Before the lock a second node's broker
// loaded the first node's log and rewrote its files on closing.
func TestDataFolderLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := startNode(t, dir)
	first := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
	if code, body := post(t, n.http, first, testSecret); code != http.StatusAccepted {
		t.Fatalf("status %d %s", code, body)
	}
	topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drained(t, n) })
	before := checksums(t, dir)
	want := fmt.Sprintf("data folder %s is in use by process %d", dir, n.cmd.Process.Pid)

	cases := []struct {
		name string
		args []string
	}{
		{"serve", []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0"}},
		{"serve with the folder's own ports", []string{"serve", "--data-dir", dir, "--listen", n.http, "--kafka-listen", n.kafka}},
		{"rebuild", []string{"rebuild", "--data-dir", dir}},
		{"broker", []string{"broker", "--data-dir", dir, "--kafka-listen", "127.0.0.1:0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, c.args...)
			cmd.Env = append(os.Environ(), "GITHUB_WEBHOOK_SECRET="+testSecret)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want code 1\n%s", err, out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("output does not say %q:\n%s", want, out)
			}
			if took > 10*time.Second {
				t.Errorf("took %s to refuse", took)
			}
			if after := checksums(t, dir); !maps.Equal(after, before) {
				for p, sum := range after {
					if before[p] != sum {
						t.Errorf("%s changed or appeared", p)
					}
				}
				for p := range before {
					if _, ok := after[p]; !ok {
						t.Errorf("%s disappeared", p)
					}
				}
			}
		})
	}

	t.Run("the first node keeps serving", func(t *testing.T) {
		d := loadDelivery(t, filepath.Join(testdata, "issues.opened.json"))
		if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
			t.Fatalf("status %d %s", code, body)
		}
		topicstest.WaitFor(t, 60*time.Second, "the delivery cached", func() bool {
			return rids(t, n.http, "orn:github.event")[eventRID(ownerOf(t, d), d.id)] == 1
		})
	})
	n.stop()
}

// TestDataFolderLost deletes the data folder under a running node that
// holds data in memory (a delivery applied since the last flush): the
// node says so naming the folder and exits non-zero within seconds, by
// itself or on SIGTERM. Before, its databases retried writing into the
// missing folder at 111% CPU, for 13 minutes in production, and SIGTERM
// did not stop it (closing the projection store flushes, and Pebble
// retries a failed flush forever).
func TestDataFolderLost(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		sigterm bool
	}{
		{"deleted", false},
		{"deleted, then SIGTERM", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			n := startNode(t, dir)
			d := loadDelivery(t, filepath.Join(testdata, "push.multiple-commits.json"))
			if code, body := post(t, n.http, d, testSecret); code != http.StatusAccepted {
				t.Fatalf("status %d %s", code, body)
			}
			topicstest.WaitFor(t, 60*time.Second, "pipeline drained", func() bool { return drained(t, n) })

			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if c.sigterm {
				n.cmd.Process.Signal(syscall.SIGTERM)
			}
			select {
			case <-n.exited:
			case <-time.After(15 * time.Second):
				t.Fatalf("node still running 15s after its data folder was deleted")
			}
			t.Logf("exited %s after the deletion: %v", time.Since(start).Round(time.Millisecond), n.waitErr)
			var exit *exec.ExitError
			if !errors.As(n.waitErr, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit: %v, want a non-zero code", n.waitErr)
			}
			logs := n.logs.String()
			if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "data folder "+dir+" is gone") {
				t.Fatalf("no ERROR saying data folder %s is gone:\n%s", dir, logs)
			}
		})
	}
}
