package topics

import (
	"context"
	"errors"
	"sync"
)

// errSyncerClosed is returned by groupSyncer.Sync after close.
var errSyncerClosed = errors.New("log syncer closed")

// groupSyncer makes writes durable by group commit: every request waits
// for one run of the sync function that started after the request was
// made, and all requests made while a run is under way share the next run.
// Under load a single run (one syncfs, under a millisecond on this
// project's machines when the disk is idle) acknowledges every produce
// that completed while the previous run was under way, instead of each
// paying for its own. Safe for concurrent use.
type groupSyncer struct {
	sync func() error
	kick chan struct{} // capacity 1: requests are waiting
	stop chan struct{}
	done chan struct{}

	close   sync.Once
	mu      sync.Mutex
	stopped bool
	waiting []chan error
}

// newGroupSyncer starts the goroutine that runs syncFn for waiting requests.
func newGroupSyncer(syncFn func() error) *groupSyncer {
	g := &groupSyncer{
		sync: syncFn,
		kick: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go g.run()
	return g
}

// Sync returns once a run of the sync function that started after the call
// has finished, with that run's error, or ctx's error if ctx ends first.
func (g *groupSyncer) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case err := <-g.request():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// request asks for a run of the sync function that starts after the call
// and returns the channel that run's error arrives on, exactly once; after
// Close the error is errSyncerClosed. It does not wait for the run.
func (g *groupSyncer) request() <-chan error {
	ch := make(chan error, 1)
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		ch <- errSyncerClosed
		return ch
	}
	g.waiting = append(g.waiting, ch)
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default: // a kick is pending already
	}
	return ch
}

// waitingLen reports how many requests wait for the next run.
func (g *groupSyncer) waitingLen() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiting)
}

func (g *groupSyncer) run() {
	defer close(g.done)
	var batch []chan error
	for {
		select {
		case <-g.kick:
		case <-g.stop:
			g.mu.Lock()
			g.stopped = true
			batch, g.waiting = g.waiting, nil
			g.mu.Unlock()
			for _, ch := range batch {
				ch <- errSyncerClosed
			}
			return
		}
		// Everyone waiting by now wrote before this run starts.
		g.mu.Lock()
		batch, g.waiting = g.waiting, batch[:0]
		g.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		err := g.sync()
		for i, ch := range batch {
			ch <- err
			batch[i] = nil
		}
	}
}

// Close stops the syncer after any run under way. Requests waiting then,
// and later ones, get errSyncerClosed.
func (g *groupSyncer) Close() {
	g.close.Do(func() { close(g.stop) })
	<-g.done
}
