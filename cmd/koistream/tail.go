package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func newTailCmd() *cobra.Command {
	var f streamFlags
	cmd := &cobra.Command{
		Use:   "tail [--path /p] [--key pattern]",
		Short: "Follow a node's stream live, printing each event as a JSON line",
		Long: `Follow a running node's stream listener, printing each event as one JSON object a line on
stdout, exactly as the node sends it, until SIGINT or SIGTERM (then exit 0). --path and --key
select events as a subscription does.

When the connection drops or the node cuts a slow reader off, tail reconnects from the cursor of
the last event it printed (waiting 0, 2, 6, 14, then 30 s between attempts, as asfpy does), so
nothing is missed or printed twice. A refused request (a bad --path or --key) ends it with exit 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := runTail(ctx, c, streamQuery{path: f.path, key: f.key}, cmd.OutOrStdout(), cmd.ErrOrStderr()); err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("koistream tail: %w", err)}
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// runTail follows q until ctx is done (then it returns nil), writing each
// event's line to out as it arrives and reconnecting with asfpy's backoff
// from the last cursor seen; the backoff starts over once a connection
// brings something (a node that answers and closes at once is not asked
// again and again without a pause). Until the first event, connections ask for the history since
// runTail started, so nothing published after that is lost. Reconnections are told on errOut. It returns an error only
// when the node refuses the request (4xx) or out fails.
func runTail(ctx context.Context, c *streamClient, q streamQuery, out, errOut io.Writer) error {
	w := bufio.NewWriter(out)
	// Until an event gives a cursor, every connection, the first one too,
	// asks for everything since tail started: nothing published after that
	// is lost, neither in the moment the node takes to register a new
	// subscriber (GitPubSub's race, PUBSUB.md 1.8) nor to a drop before the
	// first event.
	q.since = epochString(time.Now())
	attempt := 0
	var outErr error
	for {
		err := c.stream(ctx, q, func() { attempt = 0 }, func(line []byte, ev streamEvent) error {
			if ev.Cursor != "" {
				q.cursor = ev.Cursor
			}
			w.Write(line)
			w.WriteByte('\n')
			// Each event is shown as it comes: tail is watched live.
			if err := w.Flush(); err != nil {
				outErr = err
				return err
			}
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if outErr != nil {
			return outErr
		}
		if isFinal(err) {
			return err
		}
		if co, ok := errors.AsType[*cutOffError](err); ok {
			if co.Cursor != "" {
				q.cursor = co.Cursor
			}
			fmt.Fprintf(errOut, "koistream tail: %v; resuming\n", err)
			continue
		}
		if err == nil {
			err = errors.New("the node ended the stream")
		}
		fmt.Fprintf(errOut, "koistream tail: %v; reconnecting in %s\n", err, reconnectBackoff[min(attempt, len(reconnectBackoff)-1)])
		if backoffWait(ctx, attempt) != nil {
			return nil
		}
		attempt++
	}
}
