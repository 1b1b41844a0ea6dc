package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/topics"
)

// failHold is how long one failure keeps a part not ready when no success
// follows: 15 s, three times the longest pause (5 s) between a segment's
// retries of a failed poll, so a poll that keeps failing keeps its segment
// not ready, while a part whose failures stopped because nothing was asked
// of it (a load balancer took the webhooks elsewhere while the intake was
// failing) turns ready again and is tried.
const failHold = 15 * time.Second

// progress is whether one part of the node (a segment, the projections, the
// intake) is making progress, for /readyz. The part calls fail when a unit
// of its work failed for a reason outside the input (the log or the disk
// refused a write), and ok when one succeeded. Safe for concurrent use.
type progress struct {
	name string
	now  func() time.Time

	mu  sync.Mutex
	err error
	at  time.Time // when err was recorded
}

// fail records that the part could not make progress because of err: it
// is not ready until ok is called or failHold passes without another fail.
func (p *progress) fail(err error) {
	if err == nil {
		err = errors.New("failed")
	}
	p.mu.Lock()
	p.err, p.at = err, p.now()
	p.mu.Unlock()
}

// ok records that the part made progress.
func (p *progress) ok() {
	p.mu.Lock()
	p.err = nil
	p.mu.Unlock()
}

// Ready returns nil when the part is making progress (or has not failed
// within failHold), else its latest failure.
func (p *progress) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil && p.now().Sub(p.at) < failHold {
		return p.err
	}
	return nil
}

// readiness holds the progress of every part of a node that must make
// progress for the node to be ready. Safe for concurrent use.
type readiness struct {
	now func() time.Time // time.Now unless a test sets it

	mu    sync.Mutex
	parts []*progress
}

// part returns the progress of the part called name, registering it on
// first use.
func (r *readiness) part(name string) *progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.IndexFunc(r.parts, func(p *progress) bool { return p.name == name }); i >= 0 {
		return r.parts[i]
	}
	now := r.now
	if now == nil {
		now = time.Now
	}
	p := &progress{name: name, now: now}
	r.parts = append(r.parts, p)
	return p
}

// failing returns each part that is not ready with its latest failure.
func (r *readiness) failing() map[string]string {
	r.mu.Lock()
	parts := slices.Clone(r.parts)
	r.mu.Unlock()
	out := map[string]string{}
	for _, p := range parts {
		if err := p.Ready(); err != nil {
			out[p.name] = err.Error()
		}
	}
	return out
}

// trackTxn wraps a segment's transaction handler so that its polls report
// to p: a poll whose handling failed (the consumer aborts it and offers it
// again after a pause), or whose records could not be produced, fails p, a
// committed one makes it ok. A poll that
// fails because ctx ended is not a failure of the part.
func trackTxn(p *progress, h topics.TxnHandler) topics.TxnHandler {
	return &trackedTxn{TxnHandler: h, p: p}
}

type trackedTxn struct {
	topics.TxnHandler
	p   *progress
	ctx context.Context // of the poll being handled
}

func (t *trackedTxn) Handle(ctx context.Context, txn *topics.Txn, batches []topics.Batch) error {
	t.ctx = ctx
	return t.TxnHandler.Handle(ctx, txn, batches)
}

func (t *trackedTxn) Ended(committed bool, err error) {
	t.TxnHandler.Ended(committed, err)
	switch {
	case committed:
		t.p.ok()
	case err != nil && t.ctx.Err() == nil:
		t.p.fail(err)
	}
}

// progressPublisher is a watermill Publisher whose calls report to p: a
// publish the log refused or did not acknowledge in time fails p, an
// acknowledged one makes it ok. A publish given up because its caller went
// away (context.Canceled: a webhook sender that hung up) says nothing
// about the log.
type progressPublisher struct {
	message.Publisher
	p *progress
}

func (pp progressPublisher) Publish(topic string, msgs ...*message.Message) error {
	err := pp.Publisher.Publish(topic, msgs...)
	switch {
	case err == nil:
		pp.p.ok()
	case !errors.Is(err, context.Canceled):
		pp.p.fail(err)
	}
	return err
}

// stallAfter is how long records may wait unapplied with none applied
// before the projections count as stalled: 30 s, far above the time one
// poll takes to apply (under a second for a 25 MiB event under the race
// detector, TestDeliverySizes), so only a store that stopped taking writes
// (a flush that keeps failing on a full disk blocks every write behind it)
// trips it.
const stallAfter = 30 * time.Second

// watchStall samples position every interval until ctx ends: done is a
// count that grows with every unit of work finished (the projections'
// applied offsets, summed), pending how many units wait. While units
// wait and done has not moved for stallAfter, p fails; once done moves,
// p is ok.
func watchStall(ctx context.Context, p *progress, interval time.Duration, position func() (done, pending int64)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last, _ := position()
	since := p.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		done, pending := position()
		switch {
		case done != last || pending == 0:
			last, since = done, p.now()
			p.ok()
		case p.now().Sub(since) >= stallAfter:
			p.fail(fmt.Errorf("%d records wait and none was applied for %s", pending, p.now().Sub(since).Round(time.Second)))
		}
	}
}

// storageListener reports a Pebble database's background work to p: a
// failed flush or compaction (Pebble retries a failed flush at once, for
// as long as it fails) fails p, a successful flush makes it ok. An error
// that retrying cannot cure (fatalStorageError) goes to fatal as well. It
// logs the errors as Pebble's own listener would have.
func storageListener(p *progress, what string, log *slog.Logger, fatal func(error)) pebble.EventListener {
	return pebble.EventListener{
		BackgroundError: func(err error) {
			log.Error("background error", "component", "pebble", "db", what, "err", err)
			err = fmt.Errorf("%s: %w", what, err)
			p.fail(err)
			if fatalStorageError(err) {
				fatal(err)
			}
		},
		FlushEnd: func(info pebble.FlushInfo) {
			if info.Err == nil {
				p.ok()
			}
		},
	}
}

// fatalStorageError reports whether err is a storage failure that no retry
// cures: an I/O error of the device (EIO) or a file system remounted
// read-only (EROFS, what ext4 does after such an error). A full disk
// (ENOSPC, EDQUOT) is not: it passes once room is made, so it only makes
// the node not ready.
func fatalStorageError(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS)
}

// checkDisk fails p while the file system of dir has less room than one
// record batch of the largest size (topics.MaxBatchBytes): the next large
// delivery could not be stored, and the stages could not write what they
// derive from it.
func checkDisk(p *progress, dir string) {
	free, err := freeBytes(dir)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
	case err != nil:
		p.fail(fmt.Errorf("data folder %s: %w", dir, err))
	case free < topics.MaxBatchBytes:
		p.fail(fmt.Errorf("data folder %s has %d bytes free, less than one record batch (%d)", dir, free, topics.MaxBatchBytes))
	default:
		p.ok()
	}
}
