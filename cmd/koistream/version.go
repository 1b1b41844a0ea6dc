package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and VCS revision of this build",
		Long: `Print the module version, the VCS revision the binary was built from (with "modified"
when the work tree had uncommitted changes), the commit time and the Go toolchain, as the
Go toolchain recorded them in the binary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, ok := debug.ReadBuildInfo()
			if !ok {
				return &exitError{code: exitFailure, err: errors.New("koistream version: this binary carries no build information")}
			}
			fmt.Fprint(cmd.OutOrStdout(), formatVersion(info))
			return nil
		},
	}
}

// formatVersion renders the version report of a build:
//
//	koistream v1.2.3
//	revision 0123abcd… (modified)
//	committed 2026-08-06T12:00:00Z
//	built with go1.26.8 for linux/amd64
//
// "(devel)" is the version of a build from a checkout rather than from a
// tagged module. Builds without VCS stamping (-buildvcs=false, or a git
// worktree, which the go command does not stamp) say so.
func formatVersion(info *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	version := info.Main.Version
	if version == "" {
		version = "(unknown)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "koistream %s\n", version)
	if rev := settings["vcs.revision"]; rev != "" {
		modified := ""
		if settings["vcs.modified"] == "true" {
			modified = " (modified)"
		}
		fmt.Fprintf(&b, "revision %s%s\n", rev, modified)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, "committed %s\n", t)
		}
	} else {
		b.WriteString("revision unknown (built without VCS information)\n")
	}
	goos, goarch := settings["GOOS"], settings["GOARCH"]
	fmt.Fprintf(&b, "built with %s for %s/%s\n", info.GoVersion, goos, goarch)
	return b.String()
}
