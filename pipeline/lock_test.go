package pipeline_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline"
)

// TestDataLock: a data folder has one owner at a time, a refused owner
// changes nothing, and Check notices the folder or its lock file going.
func TestDataLock(t *testing.T) {
	t.Run("a second lock is refused, naming the owner", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		l, err := pipeline.LockDataDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		before, _ := os.ReadFile(filepath.Join(dir, pipeline.LockFileName))
		_, err = pipeline.LockDataDir(dir)
		inUse, ok := errors.AsType[*pipeline.InUseError](err)
		if !ok || inUse.PID != os.Getpid() || inUse.Dir != dir {
			t.Fatalf("second lock: %v, want an *InUseError naming pid %d", err, os.Getpid())
		}
		if want := "data folder " + dir + " is in use by process " + strconv.Itoa(os.Getpid()); err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
		if after, _ := os.ReadFile(filepath.Join(dir, pipeline.LockFileName)); string(after) != string(before) {
			t.Fatalf("lock file changed from %q to %q", before, after)
		}
	})

	t.Run("released, the folder can be locked again", func(t *testing.T) {
		dir := t.TempDir()
		l, err := pipeline.LockDataDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Release(); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(); err != nil {
			t.Fatalf("second release: %v", err)
		}
		l2, err := pipeline.LockDataDir(dir)
		if err != nil {
			t.Fatalf("lock after release: %v", err)
		}
		l2.Release()
	})

	cases := []struct {
		name    string
		do      func(t *testing.T, dir string)
		wantErr string // "" = Check passes
	}{
		{"intact", func(*testing.T, string) {}, ""},
		{"other files deleted", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
			os.Remove(filepath.Join(dir, "x"))
		}, ""},
		{"folder deleted", func(t *testing.T, dir string) { os.RemoveAll(dir) }, "is gone"},
		{"lock file deleted", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, pipeline.LockFileName)) }, "is gone"},
		{"folder moved", func(t *testing.T, dir string) { os.Rename(dir, dir+".old") }, "is gone"},
		{"folder replaced", func(t *testing.T, dir string) {
			os.Rename(dir, dir+".old")
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, pipeline.LockFileName), []byte("1\n"), 0o644)
		}, "was replaced"},
	}
	for _, c := range cases {
		t.Run("check: "+c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			l, err := pipeline.LockDataDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
			c.do(t, dir)
			err = l.Check()
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), dir)):
				t.Fatalf("Check: %v, want an error naming %s that says %q", err, dir, c.wantErr)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if c.wantErr == "" {
				if err := l.Watch(ctx, pipeline.WatchdogInterval); err != nil {
					t.Fatalf("Watch: %v", err)
				}
			}
		})
	}
}

// TestStartLocksDataFolder: a second node on a running node's data folder
// does not start, in the same process too, and says whose folder it is.
func TestStartLocksDataFolder(t *testing.T) {
	dir := t.TempDir()
	cfg := pipeline.Config{
		DataDir: dir, Listen: "127.0.0.1:0", KafkaListen: "127.0.0.1:0", Partitions: 1,
		Streams: pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
		Logger:  slog.New(slog.DiscardHandler),
	}
	n, err := pipeline.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	n2, err := pipeline.Start(context.Background(), cfg)
	if _, ok := errors.AsType[*pipeline.InUseError](err); !ok {
		if n2 != nil {
			n2.Shutdown(context.Background())
		}
		t.Fatalf("second Start: %v, want an *InUseError", err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Shut down, the node no longer owns the folder.
	n3, err := pipeline.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	if err := n3.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
