// Package topicstest is koistream's test kit: the one way tests start an
// embedded broker, wait for a condition, and look at what a topic or a
// consumer group holds. Tests that need a broker or a wait use it, so
// brokers are started alike (port 0 on loopback, a data folder in
// tb.TempDir(), fsync before acknowledging as in production) and parallel
// tests never collide. It is an ordinary package, not a _test file, so that
// every package's tests can import it; only tests do.
//
// Webhook signatures are not here: tests sign with webhook.Sign, the
// function the handler verifies against, so there is one signer.
//
// Package topics' internal tests (package topics, not topics_test) cannot
// import this package, since it imports topics: that would be an import
// cycle. They use the two helpers in topics/kit_internal_test.go,
// startTestBroker and waitFor, which behave as [StartBroker] and [WaitFor]
// do, and durable_test.go's gatedBroker, which needs the broker's
// unexported sync hook. New tests of topics' exported API go in package
// topics_test and use this kit (topics/batchconsumer_test.go does). Moving
// the internal tests out would mean exporting the internals they exercise
// (the group syncer, the publisher's queue, the subscriber's workers),
// which is worse than one small mirrored helper.
package topicstest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
)

// Timeout bounds each broker request the kit makes on a test's behalf.
const Timeout = 15 * time.Second

// Option changes the configuration [StartBroker] starts a broker with.
type Option func(*topics.EmbeddedConfig)

// DataDir makes the broker keep its log in dir instead of a fresh
// tb.TempDir(), so a test can stop a broker and start another on the same
// log.
func DataDir(dir string) Option { return func(c *topics.EmbeddedConfig) { c.DataDir = dir } }

// NoSync turns off the fsync before acknowledging, for benchmarks that
// measure its cost. Tests of durability must not use it.
func NoSync() Option { return func(c *topics.EmbeddedConfig) { c.NoSync = true } }

// Partitions sets the partition count of topics the broker creates
// implicitly.
func Partitions(n int) Option { return func(c *topics.EmbeddedConfig) { c.Partitions = n } }

// Logger receives the broker's warnings and errors; by default they are
// dropped, since tests that stop brokers on purpose make them expected.
func Logger(l *slog.Logger) Option { return func(c *topics.EmbeddedConfig) { c.Logger = l } }

// StartBroker starts an embedded broker on a free loopback port with its
// log in a fresh temporary folder, configured as in production unless opts
// say otherwise, and closes it when tb ends. It returns the broker, for
// tests that stop it early (Close is safe to call twice), and its address.
func StartBroker(tb testing.TB, opts ...Option) (*topics.Embedded, string) {
	tb.Helper()
	cfg := topics.EmbeddedConfig{
		DataDir: tb.TempDir(),
		Listen:  "127.0.0.1:0",
		Logger:  slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := topics.StartEmbedded(cfg)
	if err != nil {
		tb.Fatalf("start embedded broker: %v", err)
	}
	tb.Cleanup(e.Close)
	return e, e.Addr()
}

// WaitFor calls cond until it returns true, and fails tb if d passes
// first, naming what it waited for. The pause between calls starts at
// 10 ms and doubles up to 200 ms: quick conditions are seen at once, and
// conditions that ask the broker or a node over HTTP do not load the
// machine while a slow one settles. cond runs on the test's goroutine, so
// it may call tb.Fatal.
func WaitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	pause := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// GroupOpts are group timings for tests where members join and leave: kgo's
// defaults (3 s heartbeats, 45 s sessions) make a member notice a
// rebalance up to 3 s late, which tests would pay on every join. 6 s is
// the smallest session timeout kfake (and Kafka) accept.
func GroupOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second),
		kgo.RebalanceTimeout(5 * time.Second),
	}
}

// CreateTopic creates topic with the given number of partitions, as a node
// creates its topics (topics.EnsureTopics).
func CreateTopic(tb testing.TB, addr, topic string, partitions int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := topics.EnsureTopics(ctx, []string{addr}, []string{topic}, partitions); err != nil {
		tb.Fatalf("create topic %s: %v", topic, err)
	}
}

// Client returns a kgo client of the broker at addr, closed when tb ends.
func Client(tb testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		tb.Fatalf("kafka client: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// Produce appends recs to their topics, each to the partition its
// Partition field names, and returns once the broker has acknowledged them
// all. The records then hold the offsets they got.
func Produce(tb testing.TB, addr string, recs ...*kgo.Record) {
	tb.Helper()
	cl, err := kgo.NewClient(append(topics.ProducerOpts(), kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		tb.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
}

// EndOffsets returns, per partition of topic, the offset the next record
// will get.
func EndOffsets(tb testing.TB, addr, topic string) map[int32]int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	adm, done := admin(tb, addr)
	defer done()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		tb.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// ReadAll returns every committed record of topic up to its current end
// offsets, partition by partition in offset order, as a read_committed
// consumer sees them: records of aborted transactions and transaction
// markers are left out. It fails the test if they cannot be read within
// Timeout.
func ReadAll(tb testing.TB, addr, topic string) []*kgo.Record {
	tb.Helper()
	return readAll(tb, addr, topic, kgo.ReadCommitted())
}

// ReadAllUncommitted is ReadAll as a read_uncommitted consumer sees the
// topic: records of aborted transactions included, markers left out.
func ReadAllUncommitted(tb testing.TB, addr, topic string) []*kgo.Record {
	tb.Helper()
	return readAll(tb, addr, topic, kgo.ReadUncommitted())
}

func readAll(tb testing.TB, addr, topic string, level kgo.IsolationLevel) []*kgo.Record {
	tb.Helper()
	ends := EndOffsets(tb, addr, topic)
	next := map[int32]int64{}
	behind := func() bool {
		for p, end := range ends {
			if next[p] < end {
				return true
			}
		}
		return false
	}
	if !behind() {
		return nil
	}
	// Markers are kept so that every offset up to the end is seen, even
	// when the partition ends with one.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.KeepControlRecords())
	if err != nil {
		tb.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	byPartition := map[int32][]*kgo.Record{}
	for behind() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("read %s up to %v before the timeout, want %v", topic, next, ends)
		}
		fs.EachError(func(t string, p int32, err error) { tb.Fatalf("fetch %s/%d: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Partition] {
				return
			}
			next[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				byPartition[r.Partition] = append(byPartition[r.Partition], r)
			}
		})
	}
	var out []*kgo.Record
	for p := range int32(len(ends)) {
		out = append(out, byPartition[p]...)
	}
	return out
}

// Committed returns the offsets group has committed for topic, per
// partition; partitions without a commit are absent.
func Committed(tb testing.TB, addr, group, topic string) map[int32]int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	adm, done := admin(tb, addr)
	defer done()
	offsets, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = offsets.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{} // no member has joined yet
	}
	if err != nil {
		tb.Fatalf("committed offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	offsets.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.At >= 0 {
			out[o.Partition] = o.At
		}
	})
	return out
}

// admin returns an admin client of the broker at addr and the function
// that closes it. Unlike [Client] it is closed by the caller at once, not
// when tb ends: look-ups are polled in WaitFor loops, which would otherwise
// hold a connection per check until the test ends.
func admin(tb testing.TB, addr string) (*kadm.Client, func()) {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		tb.Fatalf("kafka client: %v", err)
	}
	return kadm.NewClient(cl), cl.Close
}
