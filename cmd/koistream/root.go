package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes of the command.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // a usage or configuration mistake: nothing ran
)

// exitError ends a command with an exit code. Err, when set, is printed
// to stderr as it is, on its own: a configuration mistake is then exactly
// its one "file:line: ..." line. A nil Err means the failure was already
// reported (logged).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// failed is a runtime failure already reported: exit code 1.
func failed() error { return &exitError{code: exitFailure} }

// configError is a configuration mistake: err printed alone, exit code 2.
func configError(err error) error { return &exitError{code: exitUsage, err: err} }

// newRootCmd builds the koistream command tree. Commands report usage
// mistakes (unknown flag or command, bad flag value) as plain errors and
// everything else as *exitError; run maps them to exit codes.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "koistream <command> [flags]",
		Short: "A GitHub sensor node for KOI-net and an event hub over a durable Kafka log",
		Long: `koistream turns GitHub activity into a replayable, subscribable stream of knowledge:
webhooks land unchanged in a Kafka log, pass through stages that normalize, dedupe and
RID-ify them, and are served to KOI-net nodes from a Pebble cache.

Exit codes: 0 success, 1 a runtime failure, 2 a usage or configuration mistake.`,
		// run prints errors and usage itself, so that each kind of failure
		// reads as it should (one line for a configuration mistake).
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddCommand(newServeCmd(), newBrokerCmd(), newRebuildCmd(), newIdentityCmd(), newPeersCmd(), newBenchCmd(), newVersionCmd())
	root.AddCommand(newReplayCmd(), newTailCmd(), newPublishCmd(), newBackfillCmd())
	// cobra adds "completion" on Execute; add it now so it gets the fix
	// below.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		// cobra prints a command group's help for any argument, so
		// "completion tcsh" would succeed; make an unknown subcommand a
		// usage mistake, as it is at the top.
		if !c.Runnable() && c.HasSubCommands() {
			c.Args = cobra.NoArgs
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
	}
	return root
}

// run executes the command line args and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	if e, ok := errors.AsType[*exitError](err); ok {
		if e.err != nil {
			fmt.Fprintln(stderr, e.err)
		}
		return e.code
	}
	// Anything else is a usage mistake found by cobra or a command's flag
	// checks: an unknown command or flag, a missing flag value, an
	// unexpected argument, a value out of range.
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	fmt.Fprintf(stderr, "Usage: %s\nRun '%s --help' for the flags.\n", cmd.UseLine(), cmd.CommandPath())
	return exitUsage
}
