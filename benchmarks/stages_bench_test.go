package benchmarks

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics"
)

// The per-stage benchmarks run one stage over deliveries of the generated
// corpus, one delivery per op: BenchmarkNormalize the raw record, the
// others all observations of the delivery. Inputs for the later stages are
// prepared outside the timer in chunks of benchChunk deliveries, always
// fresh deliveries (later passes of the corpus vary shas and timestamps),
// so dedupe and ridify do the work of new input rather than of repeats.
// SetBytes is the corpus's mean payload size, so MB/s is payload MB/s.
// For the stages with state, "state=mem" keeps it in Pebble on an in-memory
// file system (the stages_cpu setting), "state=disk" in a Pebble on disk, as
// a node does.

const benchChunk = 1024

var benchCorpus = func() func(b *testing.B) *Corpus {
	var c *Corpus
	return func(b *testing.B) *Corpus {
		b.Helper()
		if c == nil {
			var err error
			if c, err = GenerateCorpus(DefaultSeed, DefaultCorpusSize); err != nil {
				b.Fatal(err)
			}
		}
		return c
	}
}()

// stateDBs are the stage state databases the benchmarks compare.
var stateDBs = []struct {
	name string
	open func(b *testing.B) *pebble.DB
}{
	{"state=mem", func(b *testing.B) *pebble.DB {
		db, err := openMemState()
		if err != nil {
			b.Fatal(err)
		}
		return db
	}},
	{"state=disk", func(b *testing.B) *pebble.DB {
		db, err := pebble.Open(b.TempDir(), projections.StageStateOptions(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		return db
	}},
}

func benchStages(b *testing.B, db *pebble.DB) *stageSet {
	b.Helper()
	b.Cleanup(func() { db.Close() })
	s, err := newStageSet(db)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// staged is one delivery's messages at one point of the chain, with the
// context (log position) each is processed under.
type staged struct {
	ctxs []context.Context
	msgs []*message.Message
}

// prepare builds deliveries [from, to) of c and runs them through the
// stages before the one measured: upTo 0 gives raw records, 1 normalize's
// outputs, 2 dedupe's outputs.
func prepare(b *testing.B, s *stageSet, c *Corpus, from, to, upTo int) []staged {
	b.Helper()
	out := make([]staged, 0, to-from)
	now := time.Now()
	for i := from; i < to; i++ {
		raw := rawMessage(c.Delivery(i), now)
		ctx := topics.ContextWithPosition(context.Background(), topics.Position{Topic: "koistream.raw", Offset: int64(i)})
		raw.SetContext(ctx)
		msgs := []*message.Message{raw}
		for step, st := range []interface {
			Process(context.Context, *message.Message) ([]*message.Message, error)
		}{s.normalize, s.dedupe}[:upTo] {
			var next []*message.Message
			for _, m := range msgs {
				outs, err := st.Process(ctx, m)
				if err != nil {
					b.Fatalf("step %d of delivery %d: %v", step, i, err)
				}
				next = append(next, outs...)
			}
			msgs = next
		}
		st := staged{msgs: msgs}
		for j := range msgs {
			st.ctxs = append(st.ctxs, topics.ContextWithPosition(context.Background(),
				topics.Position{Topic: "koistream.observed", Offset: int64(i)*64 + int64(j)}))
		}
		if upTo == 0 {
			st.ctxs[0] = ctx
		}
		out = append(out, st)
	}
	return out
}

func benchStage(b *testing.B, upTo int, stateful bool, pick func(*stageSet) processor) {
	c := benchCorpus(b)
	dbs := stateDBs
	if !stateful {
		dbs = dbs[:1] // the stage keeps no state; prepare still needs a database
	}
	for _, sdb := range dbs {
		run := func(b *testing.B) {
			s := benchStages(b, sdb.open(b))
			st := pick(s)
			b.SetBytes(int64(c.Stats(c.Len()).MeanBytes))
			b.ReportAllocs()
			var batch []staged
			next := 0
			b.ResetTimer()
			for i := range b.N {
				if next == len(batch) {
					b.StopTimer()
					batch, next = prepare(b, s, c, i, i+benchChunk, upTo), 0
					b.StartTimer()
				}
				in := batch[next]
				next++
				for j, m := range in.msgs {
					if _, err := st.Process(in.ctxs[j], m); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		}
		if stateful {
			b.Run(sdb.name, run)
		} else {
			run(b)
		}
	}
}

type processor = interface {
	Process(context.Context, *message.Message) ([]*message.Message, error)
}

// BenchmarkNormalize measures the normalize stage on raw records.
func BenchmarkNormalize(b *testing.B) {
	benchStage(b, 0, false, func(s *stageSet) processor { return s.normalize })
}

// BenchmarkDedupe measures the dedupe stage on normalize's outputs.
func BenchmarkDedupe(b *testing.B) {
	benchStage(b, 1, true, func(s *stageSet) processor { return s.dedupe })
}

// BenchmarkRidify measures the ridify stage on dedupe's outputs.
func BenchmarkRidify(b *testing.B) {
	benchStage(b, 2, true, func(s *stageSet) processor { return s.ridify })
}

// BenchmarkStagesCPU is the stages_cpu measurement of Run over b.N
// deliveries: all three stages, in memory, on GOMAXPROCS goroutines.
func BenchmarkStagesCPU(b *testing.B) {
	c := benchCorpus(b)
	b.SetBytes(int64(c.Stats(c.Len()).MeanBytes))
	b.ReportAllocs()
	res, err := measureStagesCPU(context.Background(), c, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/res.elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(res.events)/float64(b.N), "koi-events/event")
}
