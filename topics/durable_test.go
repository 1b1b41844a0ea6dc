package topics

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestGroupSyncer(t *testing.T) {
	t.Parallel()
	t.Run("a caller waits for a run that started after its call", func(t *testing.T) {
		t.Parallel()
		var runs atomic.Int32
		entered, release := make(chan int32, 4), make(chan struct{})
		g := newGroupSyncer(func() error {
			n := runs.Add(1)
			entered <- n
			<-release
			return nil
		})
		defer g.Close()
		doneA := make(chan int32)
		go func() { g.Sync(context.Background()); doneA <- runs.Load() }()
		if n := <-entered; n != 1 {
			t.Fatalf("first run is number %d", n)
		}
		doneB := make(chan int32)
		go func() { g.Sync(context.Background()); doneB <- runs.Load() }()
		release <- struct{}{} // run 1 ends; B called during it and needs run 2
		if n := <-doneA; n < 1 {
			t.Fatalf("A returned after %d runs", n)
		}
		if n := <-entered; n != 2 {
			t.Fatalf("second run is number %d", n)
		}
		select {
		case n := <-doneB:
			t.Fatalf("B returned during run 2 (runs %d), though it called during run 1", n)
		default:
		}
		release <- struct{}{}
		if n := <-doneB; n != 2 {
			t.Fatalf("B returned after %d runs, want 2", n)
		}
	})
	t.Run("callers waiting together share one run and its error", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("disk on fire")
		var runs atomic.Int32
		started, gate := make(chan struct{}), make(chan struct{})
		g := newGroupSyncer(func() error {
			if runs.Add(1) == 1 {
				close(started)
				<-gate // hold run 1 so the others queue behind it
				return nil
			}
			return boom
		})
		defer g.Close()
		first := make(chan error)
		go func() { first <- g.Sync(context.Background()) }()
		<-started
		errs := make(chan error, 8)
		queued := make(chan struct{})
		for range 8 {
			go func() {
				queued <- struct{}{}
				errs <- g.Sync(context.Background())
			}()
		}
		for range 8 {
			<-queued
		}
		for g.waitingLen() < 8 {
			runtime.Gosched() // until all eight are queued behind run 1
		}
		close(gate)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		for range 8 {
			if err := <-errs; !errors.Is(err, boom) {
				t.Fatalf("got %v, want the run's error", err)
			}
		}
		if n := runs.Load(); n != 2 {
			t.Fatalf("%d runs, want 2: the eight queued callers share one", n)
		}
	})
	t.Run("after Close, Sync fails", func(t *testing.T) {
		t.Parallel()
		g := newGroupSyncer(func() error { return nil })
		g.Close()
		if err := g.Sync(context.Background()); !errors.Is(err, errSyncerClosed) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a cancelled context returns", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		g := newGroupSyncer(func() error { <-release; return nil })
		defer g.Close()
		defer close(release)
		go g.Sync(context.Background()) // occupies the run
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := g.Sync(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
}

// gatedBroker starts an embedded broker whose sync function signals entry
// on entered and then waits for release, returning fail's answer.
func gatedBroker(t *testing.T, fail func(run int32) error) (e *Embedded, entered chan int32, release chan struct{}) {
	t.Helper()
	entered, release = make(chan int32, 16), make(chan struct{}, 16)
	var runs atomic.Int32
	e, err := StartEmbedded(EmbeddedConfig{
		DataDir: t.TempDir(),
		Listen:  "127.0.0.1:0",
		syncFn: func() error {
			n := runs.Add(1)
			entered <- n
			<-release
			return fail(n)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(release)
		e.Close()
	})
	return e, entered, release
}

// TestEmbeddedAcknowledgesAfterSync: a produce is answered only after a sync
// that started once the batch was written, the broker keeps serving other
// clients meanwhile, and a failed sync is never acknowledged.
func TestEmbeddedAcknowledgesAfterSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("produce waits for the sync, others do not", func(t *testing.T) {
		t.Parallel()
		e, entered, release := gatedBroker(t, func(int32) error { return nil })
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.Addr()), kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		done := make(chan error, 1)
		go func() { done <- cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr() }()
		<-entered // the produce's response is waiting for this sync
		select {
		case err := <-done:
			t.Fatalf("produce acknowledged before its sync finished (err %v)", err)
		default:
		}
		// Another client is served while the sync is under way.
		other, err := kgo.NewClient(kgo.SeedBrokers(e.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := kadm.NewClient(other).ListEndOffsets(ctx, "t"); err != nil {
			t.Fatalf("broker stalled during a sync: %v", err)
		}
		release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a failed sync is not acknowledged; the retry is", func(t *testing.T) {
		t.Parallel()
		e, entered, release := gatedBroker(t, func(run int32) error {
			if run == 1 {
				return errors.New("injected sync failure")
			}
			return nil
		})
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.Addr()), kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		done := make(chan error, 1)
		go func() { done <- cl.ProduceSync(ctx, &kgo.Record{Value: []byte("once")}).FirstErr() }()
		<-entered
		release <- struct{}{} // run 1 fails: the connection drops, the client retries
		<-entered
		release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		if total != 1 {
			t.Fatalf("%d records stored, want exactly 1 (the idempotent retry)", total)
		}
	})
	t.Run("acks=0 produces need no sync", func(t *testing.T) {
		t.Parallel()
		e, entered, _ := gatedBroker(t, func(int32) error { return nil })
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.Addr()), kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation(),
			kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-entered:
			t.Fatalf("sync %d ran for an acks=0 produce", n)
		default:
		}
	})
}

// frame builds a Kafka request (key, corr) or response (corr) frame.
func requestFrame(key int16, corr int32, body int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+body))
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, 7)
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	return append(b, bytes.Repeat([]byte{0xAB}, body)...)
}

func responseFrame(corr int32, body int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+body))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	return append(b, bytes.Repeat([]byte{0xCD}, body)...)
}

// TestDurableConnFraming: the framing is followed however reads split it,
// and only responses to durable requests wait for a sync.
func TestDurableConnFraming(t *testing.T) {
	t.Parallel()
	var reqs []byte
	reqs = append(reqs, requestFrame(3, 1, 20)...)  // Metadata
	reqs = append(reqs, requestFrame(0, 2, 300)...) // Produce
	reqs = append(reqs, requestFrame(1, 3, 0)...)   // Fetch
	reqs = append(reqs, requestFrame(8, 4, 5)...)   // OffsetCommit
	responses := []struct {
		corr int32
		sync bool
	}{{1, false}, {2, true}, {3, false}, {4, true}}
	for _, chunk := range []int{1, 3, 7, 12, 64, len(reqs)} {
		t.Run("reads of "+strconv.Itoa(chunk)+" bytes", func(t *testing.T) {
			t.Parallel()
			c := &durableConn{pending: map[int32]struct{}{}}
			for i := 0; i < len(reqs); i += chunk {
				c.observeRequests(reqs[i:min(i+chunk, len(reqs))])
			}
			for _, r := range responses {
				if got := c.mustSync(responseFrame(r.corr, 10)); got != r.sync {
					t.Errorf("response %d: sync %v, want %v", r.corr, got, r.sync)
				}
			}
			if len(c.pending) != 0 {
				t.Errorf("pending left: %v", c.pending)
			}
		})
	}
}

// FuzzDurableConnFraming: any byte stream from a client, split anywhere,
// leaves the same pending set as the stream read whole, and never panics.
func FuzzDurableConnFraming(f *testing.F) {
	f.Add(append(requestFrame(0, 9, 40), requestFrame(1, 10, 3)...), uint8(5))
	f.Add([]byte{0, 0, 0, 2, 1, 2, 0, 0, 0, 9}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(3))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole := &durableConn{pending: map[int32]struct{}{}}
		whole.observeRequests(stream)
		split := &durableConn{pending: map[int32]struct{}{}}
		step := int(chunk)%17 + 1
		for i := 0; i < len(stream); i += step {
			split.observeRequests(stream[i:min(i+step, len(stream))])
		}
		if len(whole.pending) != len(split.pending) || whole.skip != split.skip || whole.headN != split.headN {
			t.Fatalf("split reads disagree: %v/%d/%d vs %v/%d/%d", split.pending, split.skip, split.headN, whole.pending, whole.skip, whole.headN)
		}
		for k := range whole.pending {
			if _, ok := split.pending[k]; !ok {
				t.Fatalf("corr %d missing after split reads", k)
			}
		}
		whole.mustSync(stream) // responses are parsed the same way; must not panic
	})
}

var _ net.Conn = (*durableConn)(nil)

// TestDurableConnQueuesHeldResponses: Write returns at once for a response
// that waits for a sync, so the broker goes on serving the connection; the
// responses reach the client in order and only after the sync; a failed
// sync delivers none of them and closes the connection.
func TestDurableConnQueuesHeldResponses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		syncErr error
	}{
		{"sync succeeds", nil},
		{"sync fails", errors.New("injected sync failure")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			entered, release := make(chan struct{}, 4), make(chan struct{})
			g := newGroupSyncer(func() error {
				entered <- struct{}{}
				<-release
				return tc.syncErr
			})
			defer g.Close()
			client, server := net.Pipe()
			defer client.Close()
			c := newDurableConn(server, g)
			defer c.Close()
			c.observeRequests(append(append(requestFrame(0, 1, 4), requestFrame(3, 2, 4)...), requestFrame(0, 3, 4)...))

			var released atomic.Bool
			got := make(chan []int32, 1)
			go func() {
				var corrs []int32
				for {
					frame := make([]byte, 8+6)
					if _, err := io.ReadFull(client, frame); err != nil {
						got <- corrs
						return
					}
					if !released.Load() {
						t.Errorf("response %d reached the client before its sync finished", binary.BigEndian.Uint32(frame[4:8]))
					}
					corrs = append(corrs, int32(binary.BigEndian.Uint32(frame[4:8])))
					if len(corrs) == 3 {
						got <- corrs
						return
					}
				}
			}()
			// Produce 1, Metadata 2 (behind it), Produce 3: all accepted
			// while the sync of 1 is under way.
			for _, corr := range []int32{1, 2, 3} {
				if n, err := c.Write(responseFrame(corr, 6)); err != nil || n != 14 {
					t.Fatalf("write %d = %d, %v while a sync is under way", corr, n, err)
				}
			}
			<-entered
			released.Store(true)
			close(release)
			corrs := <-got
			if tc.syncErr != nil {
				if len(corrs) != 0 {
					t.Errorf("after a failed sync the client got responses %v, want none", corrs)
				}
				if _, err := c.Write(responseFrame(4, 6)); err == nil {
					t.Error("write after a failed sync succeeded, want the connection failed")
				}
				return
			}
			if !slices.Equal(corrs, []int32{1, 2, 3}) {
				t.Errorf("responses arrived as %v, want [1 2 3]", corrs)
			}
		})
	}
}
