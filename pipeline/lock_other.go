//go:build !unix

package pipeline

import (
	"errors"
	"os"
)

// tryLock cannot lock where there is no flock: every caller gets the
// folder, as before the lock existed.
func tryLock(*os.File) (bool, error) { return true, nil }

// freeBytes is unknown here.
func freeBytes(string) (uint64, error) { return 0, errors.ErrUnsupported }
