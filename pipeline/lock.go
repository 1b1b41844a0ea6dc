package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LockFileName is the file in a data folder whose lock says which process
// owns the folder; it holds that process's id.
const LockFileName = "LOCK"

// DataLock is the exclusive ownership of a data folder by this process: an
// flock(2) on <data>/LOCK, held as long as the DataLock is open (the lock
// goes with the process, so a crash frees it). Everything that opens files
// in a data folder (the embedded broker, the stage state, the projections)
// takes it first: a second node on the same folder had its broker load the
// first node's log and, on closing, rewrite the first node's files under
// it. Its methods are safe for concurrent use.
type DataLock struct {
	dir  string
	path string
	f    *os.File
	info os.FileInfo // of f, to tell the file from one put in its place
}

// InUseError is what LockDataDir returns when another process holds the
// folder's lock.
type InUseError struct {
	// Dir is the data folder as given to LockDataDir.
	Dir string
	// PID is the owner's process id as it wrote it in the lock file; 0
	// when it could not be read (an owner between locking and writing it).
	PID int
}

func (e *InUseError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("data folder %s is in use by another process", e.Dir)
	}
	return fmt.Sprintf("data folder %s is in use by process %d", e.Dir, e.PID)
}

// LockDataDir creates dir if needed and takes its lock, without waiting: if
// another process (or another DataLock in this one) holds it, it returns an
// *InUseError naming the owner's pid and has changed nothing in dir. On
// success the lock file holds this process's id until Release.
func LockDataDir(dir string) (*DataLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFileName)
	// O_RDWR without O_TRUNC: a process that does not get the lock must
	// leave the owner's pid in place.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: open lock: %w", dir, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("data folder %s: lock %s: %w", dir, path, err)
	}
	if !held {
		pid := readPID(f)
		f.Close()
		return nil, &InUseError{Dir: dir, PID: pid}
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("data folder %s: write lock: %w", dir, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("data folder %s: lock: %w", dir, err)
	}
	return &DataLock{dir: dir, path: path, f: f, info: info}, nil
}

func readPID(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// Dir returns the data folder as given to LockDataDir.
func (l *DataLock) Dir() string { return l.dir }

// Check returns nil while the data folder is still there: its lock file is
// the one this lock holds. It returns an error naming the folder once the
// folder or the lock file was deleted, moved or replaced: the node's
// storage is gone (its open files still take writes, which then vanish
// with them), and nothing it writes from then on can be found again.
func (l *DataLock) Check() error {
	now, err := os.Stat(l.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data folder %s is gone: %s no longer exists", l.dir, l.path)
	case err != nil:
		return fmt.Errorf("data folder %s is unreachable: %w", l.dir, err)
	case !os.SameFile(now, l.info):
		return fmt.Errorf("data folder %s was replaced: %s is not the file this process locked", l.dir, l.path)
	}
	return nil
}

// WatchdogInterval is how often Watch checks the data folder: a second,
// so that a node whose folder was deleted stops within a few seconds,
// where it went on for 13 minutes at 111% CPU, its databases retrying
// writes into the missing folder; a stat a second costs nothing.
const WatchdogInterval = time.Second

// Watch checks the data folder every interval until ctx ends (returning
// nil) or Check fails (returning its error).
func (l *DataLock) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := l.Check(); err != nil {
				return err
			}
		}
	}
}

// Release gives the lock up: another process may then own the folder. The
// pid stays in the file; it means nothing without the lock. Release is
// idempotent.
func (l *DataLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
	return err
}
