package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/topics"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestProgress holds the readiness rules: a failure makes a part not ready
// until a success, or until failHold passes without another failure.
func TestProgress(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name  string
		steps func(p *progress, clock *fakeClock)
		want  error
	}{
		{"never failed", func(*progress, *fakeClock) {}, nil},
		{"failed", func(p *progress, _ *fakeClock) { p.fail(boom) }, boom},
		{"failed, then ok", func(p *progress, _ *fakeClock) { p.fail(boom); p.ok() }, nil},
		{"ok, then failed", func(p *progress, _ *fakeClock) { p.ok(); p.fail(boom) }, boom},
		{"failed just under failHold ago", func(p *progress, c *fakeClock) { p.fail(boom); c.add(failHold - time.Millisecond) }, boom},
		{"failed failHold ago", func(p *progress, c *fakeClock) { p.fail(boom); c.add(failHold) }, nil},
		{"failing again and again", func(p *progress, c *fakeClock) {
			for range 10 {
				p.fail(boom)
				c.add(5 * time.Second)
			}
		}, boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1e9, 0)}
			r := readiness{now: clock.now}
			p := r.part("segment x")
			if r.part("segment x") != p {
				t.Fatal("part returned another progress for the same name")
			}
			c.steps(p, clock)
			if got := p.Ready(); !errors.Is(got, c.want) {
				t.Fatalf("Ready() = %v, want %v", got, c.want)
			}
			failing := r.failing()
			if (c.want != nil) != (failing["segment x"] != "") || len(failing) > 1 {
				t.Fatalf("failing() = %v", failing)
			}
		})
	}
}

// TestProgressReporters: a segment's failed poll, a refused append and a
// stalled projection make their part not ready; a handled poll, an
// acknowledged append and applied records make it ready; a caller that
// went away says nothing.
func TestProgressReporters(t *testing.T) {
	boom := errors.New("publish failed")
	t.Run("segment polls", func(t *testing.T) {
		cases := []struct {
			name      string
			err       error
			cancelled bool
			want      bool // ready afterwards, starting from failed
		}{
			{"handled", nil, false, true},
			{"failed", boom, false, false},
			{"stopped with the node", context.Canceled, true, false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var r readiness
				p := r.part("segment ingest")
				p.fail(errors.New("earlier"))
				h := trackTxn(p, stubTxnHandler{c.err})
				ctx, cancel := context.WithCancel(context.Background())
				if c.cancelled {
					cancel()
				}
				defer cancel()
				err := h.Handle(ctx, nil, nil)
				if !errors.Is(err, c.err) {
					t.Fatalf("handler returned %v, want %v", err, c.err)
				}
				h.Ended(err == nil, err) // the consumer commits a poll handled without error
				if ready := p.Ready() == nil; ready != c.want {
					t.Fatalf("ready = %v, want %v (%v)", ready, c.want, p.Ready())
				}
				if c.err == boom && !errors.Is(p.Ready(), boom) {
					t.Fatalf("Ready() = %v, want the poll's error", p.Ready())
				}
			})
		}
	})

	t.Run("intake appends", func(t *testing.T) {
		cases := []struct {
			name string
			err  error
			want error
		}{
			{"acknowledged", nil, nil},
			{"refused", boom, boom},
			{"not acknowledged in time", fmt.Errorf("publish: %w", context.DeadlineExceeded), context.DeadlineExceeded},
			{"caller went away", fmt.Errorf("publish: %w", context.Canceled), nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var r readiness
				p := r.part("intake")
				pub := progressPublisher{Publisher: publisherFunc(func(string, ...*message.Message) error { return c.err }), p: p}
				if err := pub.Publish("raw", message.NewMessage("1", nil)); !errors.Is(err, c.err) {
					t.Fatalf("Publish returned %v", err)
				}
				if got := p.Ready(); !errors.Is(got, c.want) || (c.want == nil) != (got == nil) {
					t.Fatalf("Ready() = %v, want %v", got, c.want)
				}
			})
		}
	})

	t.Run("projections", func(t *testing.T) {
		cases := []struct {
			name    string
			pending int64
			moves   bool
			waited  time.Duration
			ready   bool
		}{
			{"idle", 0, false, 2 * stallAfter, true},
			{"applying", 100, true, 2 * stallAfter, true},
			{"stuck, not for long", 100, false, stallAfter / 2, true},
			{"stuck", 100, false, stallAfter + time.Second, false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				clock := &fakeClock{t: time.Unix(1e9, 0)}
				r := readiness{now: clock.now}
				p := r.part("projections")
				var done, samples atomic.Int64
				ctx, cancel := context.WithCancel(context.Background())
				stopped := make(chan struct{})
				go func() {
					defer close(stopped)
					watchStall(ctx, p, time.Millisecond, func() (int64, int64) {
						samples.Add(1)
						if c.moves {
							done.Add(1)
						}
						return done.Load(), c.pending
					})
				}()
				// Move the clock in steps, letting the watcher sample
				// after each.
				for step := time.Duration(0); step < c.waited; step += time.Second {
					clock.add(time.Second)
					n := samples.Load()
					for samples.Load() < n+2 {
						time.Sleep(100 * time.Microsecond)
					}
				}
				cancel()
				<-stopped
				if ready := p.Ready() == nil; ready != c.ready {
					t.Fatalf("ready = %v, want %v (%v)", ready, c.ready, p.Ready())
				}
			})
		}
	})
}

// TestStorageListener: a database's failed background write makes its
// part not ready, and one that no retry cures (an I/O error, a read-only
// file system) is fatal to the node; a full disk is not. A successful
// flush makes the part ready again.
func TestStorageListener(t *testing.T) {
	cases := []struct {
		name  string
		err   error
		fatal bool
	}{
		{"full disk", &os.PathError{Op: "write", Path: "000123.sst", Err: syscall.ENOSPC}, false},
		{"over quota", &os.PathError{Op: "write", Path: "000123.sst", Err: syscall.EDQUOT}, false},
		{"I/O error", &os.PathError{Op: "write", Path: "000123.sst", Err: syscall.EIO}, true},
		{"read-only file system", fmt.Errorf("creating object: %w", &os.PathError{Op: "open", Path: "000124.sst", Err: syscall.EROFS}), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r readiness
			p := r.part("stage state")
			var fatal error
			l := storageListener(p, "stage state", slog.New(slog.DiscardHandler), func(err error) { fatal = err })
			l.BackgroundError(c.err)
			if !errors.Is(p.Ready(), c.err) {
				t.Fatalf("Ready() = %v, want the error", p.Ready())
			}
			if (fatal != nil) != c.fatal || (fatal != nil && !errors.Is(fatal, c.err)) {
				t.Fatalf("fatal = %v, want fatal %v", fatal, c.fatal)
			}
			l.FlushEnd(pebble.FlushInfo{})
			if err := p.Ready(); err != nil {
				t.Fatalf("after a flush: Ready() = %v", err)
			}
		})
	}
}

type publisherFunc func(topic string, msgs ...*message.Message) error

func (f publisherFunc) Publish(topic string, msgs ...*message.Message) error {
	return f(topic, msgs...)
}
func (f publisherFunc) Close() error { return nil }

// stubTxnHandler fails every poll with err (none when nil).
type stubTxnHandler struct{ err error }

func (s stubTxnHandler) Handle(context.Context, *topics.Txn, []topics.Batch) error { return s.err }
func (stubTxnHandler) Ended(bool, error)                                           {}
func (stubTxnHandler) Revoked([]int32)                                             {}
