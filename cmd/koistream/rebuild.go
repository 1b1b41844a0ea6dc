package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/projections"
)

func newRebuildCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Delete the projections of a stopped node; the next serve rebuilds them from the log",
		Long: `Delete the projections (the cache) of a stopped node, so the next serve rebuilds them from
the events topic. It refuses when the data folder holds no embedded broker log, since the
projections could then not be rebuilt from it; set KOISTREAM_FORCE=1 when the node runs
against an external cluster that holds the log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return rebuild(cmd, dataDir) },
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", pipeline.DefaultDataDir, "the stopped node's data folder")
	return cmd
}

// rebuild resets the projection store under dataDir. It takes the data
// folder's lock first (pipeline.LockDataDir), so a running node's folder is
// refused, naming the node's pid, before anything in it is touched.
func rebuild(cmd *cobra.Command, dataDir string) error {
	dir := pipeline.ProjectionsDir(dataDir)
	if _, err := os.Stat(filepath.Join(dataDir, "broker")); err != nil && len(os.Getenv("KOISTREAM_FORCE")) == 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream rebuild: %s has no embedded broker log; refusing to delete projections that could not be rebuilt from it (set KOISTREAM_FORCE=1 with an external cluster)", dataDir)}
	}
	if _, err := os.Stat(dataDir); errors.Is(err, fs.ErrNotExist) {
		// Nothing to reset, and no folder to create for the lock.
		fmt.Fprintf(cmd.ErrOrStderr(), "%s does not exist; nothing to reset\n", dataDir)
		return nil
	}
	lock, err := pipeline.LockDataDir(dataDir)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream rebuild: %w", err)}
	}
	defer lock.Release()
	if err := projections.Reset(dir); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream rebuild: %w", err)}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "reset %s; the next serve rebuilds the projections from the events topic\n", dir)
	return nil
}
