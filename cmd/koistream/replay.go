package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// streamFlags are the flags replay and tail share.
type streamFlags struct {
	pubsub, path, key string
}

func (f *streamFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.pubsub, "pubsub", defaultPubSub, "the node's stream listener: host:port or an http(s) URL (serve's --pubsub-listen)")
	fl.StringVar(&f.path, "path", "/", "the stream path: events carrying every topic of it (\"/git/demo\", or alternatives \"/a,/b\")")
	fl.StringVar(&f.key, "key", "", "only events whose routing key matches this AMQP pattern (\"evt.push.*\", \"ent.#\")")
}

// client checks the shared flags and returns the listener's client.
func (f *streamFlags) client() (*streamClient, error) {
	if err := checkSubscribePath(f.path); err != nil {
		return nil, err
	}
	return newStreamClient(f.pubsub)
}

// checkSubscribePath checks a subscription's --path: alternatives
// separated by ',', each a stream path.
func checkSubscribePath(p string) error {
	for alt := range splitAlternatives(p) {
		if err := checkStreamPath(alt); err != nil {
			return err
		}
	}
	return nil
}

// splitAlternatives yields the ','-separated alternatives of a
// subscription path; the first keeps its leading "/", the others get one
// when they lack it ("/a,b" is "/a" or "/b").
func splitAlternatives(p string) func(func(string) bool) {
	return func(yield func(string) bool) {
		start := 0
		for i := 0; i <= len(p); i++ {
			if i == len(p) || p[i] == ',' {
				alt := p[start:i]
				if start > 0 && (alt == "" || alt[0] != '/') {
					alt = "/" + alt
				}
				if !yield(alt) {
					return
				}
				start = i + 1
			}
		}
	}
}

// replayFlags are the flags of koistream replay.
type replayFlags struct {
	streamFlags
	since, cursor, until string
}

func newReplayCmd() *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay (--since TIME | --cursor CURSOR) [--until TIME] [--path /p] [--key pattern]",
		Short: "Print the events of a node's stream history as JSON lines, from a time or a cursor",
		Long: `Print the events a running node's stream listener holds, one JSON object a line on stdout,
exactly as the node sends them, from --since (an RFC 3339 time or epoch seconds) or right after
--cursor (a pubsub_cursor of an event printed before), up to --until (default: the moment the
command started), then exit 0. --path and --key select events as a subscription does.

A node that cuts a slow reader off is asked again from the last cursor, so nothing is missed or
printed twice. When stderr is a terminal, a progress bar there shows the span of time covered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return replay(cmd, f) },
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "replay events stamped at or after this RFC 3339 time or epoch seconds")
	fl.StringVar(&f.cursor, "cursor", "", "replay events after this pubsub_cursor")
	fl.StringVar(&f.until, "until", "", "stop after the last event stamped at or before this RFC 3339 time or epoch seconds (default: now)")
	cmd.MarkFlagsMutuallyExclusive("since", "cursor")
	cmd.MarkFlagsOneRequired("since", "cursor")
	return cmd
}

// replayPlan is a checked replay request.
type replayPlan struct {
	client    *streamClient
	query     streamQuery
	sinceTime time.Time // zero with --cursor
	untilTime time.Time
}

// planReplay checks the flags of replay; now is the default --until. Its
// errors are usage mistakes.
func planReplay(f replayFlags, now time.Time) (replayPlan, error) {
	var p replayPlan
	c, err := f.client()
	if err != nil {
		return p, err
	}
	p.client = c
	p.query = streamQuery{path: f.path, key: f.key}
	switch {
	case f.cursor != "" && f.since != "":
		return p, errors.New("give only one of --since and --cursor")
	case f.cursor != "":
		p.query.cursor = f.cursor
	case f.since != "":
		if p.sinceTime, err = parseTimeFlag("since", f.since); err != nil {
			return p, err
		}
		p.query.since = epochString(p.sinceTime)
	default:
		return p, errors.New("give --since or --cursor")
	}
	p.untilTime = now
	if f.until != "" {
		if p.untilTime, err = parseTimeFlag("until", f.until); err != nil {
			return p, err
		}
	}
	if !p.sinceTime.IsZero() && p.untilTime.Before(p.sinceTime) {
		return p, fmt.Errorf("--until %s is before --since %s", p.untilTime.Format(time.RFC3339Nano), p.sinceTime.Format(time.RFC3339Nano))
	}
	p.query.until = p.untilTime.UTC().Format(time.RFC3339Nano)
	return p, nil
}

// replay runs koistream replay.
func replay(cmd *cobra.Command, f replayFlags) error {
	p, err := planReplay(f, time.Now())
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	var progress *replayProgress
	if errFile, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(errFile.Fd())) {
		progress = newReplayProgress(errFile, p.sinceTime, p.untilTime)
	}
	err = runReplay(cmd.Context(), p, out, progress)
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	progress.finish(err == nil)
	if err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("koistream replay: %w", err)}
	}
	return nil
}

// runReplay streams p to out, one object a line, resuming after the last
// cursor when the node cuts the stream off or the connection drops (with
// asfpy's backoff, giving up after as many attempts as it has steps in a
// row without an event). progress may be nil.
func runReplay(ctx context.Context, p replayPlan, out io.Writer, progress *replayProgress) error {
	q := p.query
	failures := 0
	for {
		err := p.client.stream(ctx, q, nil, func(line []byte, ev streamEvent) error {
			failures = 0
			if ev.Cursor != "" {
				q.cursor = ev.Cursor
			}
			progress.event(ev.Timestamp)
			if _, err := out.Write(line); err != nil {
				return err
			}
			_, err := out.Write([]byte{'\n'})
			return err
		})
		if err == nil {
			return nil
		}
		if co, ok := errors.AsType[*cutOffError](err); ok {
			// The node says where to go on; resume at once.
			if co.Cursor != "" {
				q.cursor = co.Cursor
			}
			if q.cursor == "" {
				return fmt.Errorf("%w, and gave no cursor to resume from", err)
			}
			continue
		}
		if isFinal(err) || ctx.Err() != nil {
			return err
		}
		// A connection lost mid-replay: try again from where it got.
		if failures >= len(reconnectBackoff) {
			return err
		}
		failures++
		if werr := backoffWait(ctx, failures-1); werr != nil {
			return err
		}
	}
}

// replayProgress is the progress bar of a replay: the span of event time
// covered, in milliseconds, and the events printed. A nil *replayProgress
// does nothing.
type replayProgress struct {
	w            io.Writer
	start, until time.Time // start is zero until known (--cursor)
	bar          *progressbar.ProgressBar
	events       int64
}

func newReplayProgress(w io.Writer, since, until time.Time) *replayProgress {
	p := &replayProgress{w: w, start: since, until: until}
	if !since.IsZero() {
		p.newBar()
	}
	return p
}

func (p *replayProgress) newBar() {
	span := max(p.until.Sub(p.start).Milliseconds(), 1)
	p.bar = progressbar.NewOptions64(span,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription("0 events"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// event advances the bar to an event stamped ts (epoch seconds).
func (p *replayProgress) event(ts float64) {
	if p == nil {
		return
	}
	t := time.Unix(0, int64(ts*float64(time.Second)))
	if p.bar == nil {
		p.start = t
		p.newBar()
	}
	p.events++
	p.bar.Describe(fmt.Sprintf("%d events", p.events))
	at := min(max(t.Sub(p.start).Milliseconds(), 0), p.bar.GetMax64())
	_ = p.bar.Set64(at)
}

// finish completes the bar (done) or leaves it where it stopped, and ends
// its line.
func (p *replayProgress) finish(done bool) {
	if p == nil || p.bar == nil {
		return
	}
	if done {
		_ = p.bar.Finish()
		return
	}
	_ = p.bar.Exit()
	fmt.Fprintln(p.w)
}
