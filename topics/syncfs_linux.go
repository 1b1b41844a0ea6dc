package topics

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fsSyncer returns a function that flushes the whole file system holding
// dir to stable storage with syncfs(2): every file the broker appended to
// (any partition's segment and index, the group log) in one call, without
// knowing their names. ok is false where the platform has no such call.
func fsSyncer(dir string) (syncFn func() error, closeFn func() error, ok bool, err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, nil, true, fmt.Errorf("open %s for syncfs: %w", dir, err)
	}
	syncFn = func() error {
		if err := unix.Syncfs(int(d.Fd())); err != nil {
			return fmt.Errorf("syncfs %s: %w", dir, err)
		}
		return nil
	}
	return syncFn, d.Close, true, nil
}
