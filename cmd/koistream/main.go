// Command koistream runs a koistream node: a GitHub sensor for KOI-net and
// an event hub over a durable Kafka log.
//
//	koistream serve [flags]       run a node (embedded broker unless --brokers)
//	koistream broker [flags]      run only the embedded broker, for serve --brokers nodes to share
//	koistream rebuild [flags]     drop the projections so the next serve rebuilds them from the log
//	koistream bench [flags]       measure throughput end to end and the ceilings of its parts
//	koistream identity [flags]    print the node's KOI-net RID and profile
//	koistream peers [flags]       list the KOI-net nodes and edges a running node knows
//	koistream replay [flags]      print the stream's history from a time or cursor as JSON lines
//	koistream tail [flags]        follow the stream live
//	koistream publish [flags]     publish a JSON object, or every new commit as a git hook
//	koistream backfill [flags]    one pass of the GitHub backfill over the monitored repositories
//	koistream version             print the version and VCS revision of this build
//	koistream completion SHELL    print a completion script for bash, zsh, fish or powershell
//
// Run "koistream <command> --help" for the flags of a command. Exit codes:
// 0 success, 1 a runtime failure, 2 a usage or configuration mistake.
package main

import (
	"os"
	"runtime/debug"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT says otherwise. Without one the heap may grow to twice the live
// data between collections; with it the collector works harder near the
// limit, which keeps a node's footprint under 1 GiB on a small machine.
const defaultMemoryLimit = 768 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
