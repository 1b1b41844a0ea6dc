package benchmarks

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// stageSet is the default stages, built from stages.Builtin() on a stage
// state database: dedupe's and ridify's state in a store each, as the
// pipeline's two segments keep them.
type stageSet struct {
	normalize, dedupe, ridify stages.Stage
	db                        *pebble.DB
	ingest, observe           *stages.StateStore
}

// stateCommitEvery is how many inputs of one partition pass between two
// commits of its stage state, as a segment commits once per poll of up to
// topics.DefaultMaxPollRecords records (256 of one partition is what a
// poll over several partitions brings each).
const stateCommitEvery = 256

// openMemState opens a Pebble database with koistream's options on an
// in-memory file system: stage state with no disk under it.
func openMemState() (*pebble.DB, error) {
	opts := projections.StageStateOptions(slog.New(slog.DiscardHandler))
	opts.FS = vfs.NewMem()
	db, err := pebble.Open("stages", opts)
	if err != nil {
		return nil, fmt.Errorf("stage state in memory: %w", err)
	}
	return db, nil
}

// newStageSet builds normalize, dedupe and ridify on db.
func newStageSet(db *pebble.DB) (*stageSet, error) {
	reg := stages.Builtin()
	s := &stageSet{db: db, ingest: stages.NewStateStore(db), observe: stages.NewStateStore(db)}
	for name, set := range map[string]struct {
		dst   *stages.Stage
		store *stages.StateStore
	}{
		stages.NormalizeName: {&s.normalize, s.ingest},
		stages.DedupeName:    {&s.dedupe, s.ingest},
		stages.RidifyName:    {&s.ridify, s.observe},
	} {
		deps := stages.Deps{Logger: slog.New(slog.DiscardHandler), Now: time.Now, OpenState: func() (stages.State, error) {
			return set.store.Space(name), nil
		}}
		dst := set.dst
		st, err := reg.New(name, deps, nil)
		if err != nil {
			return nil, err
		}
		*dst = st
	}
	return s, nil
}

// bundleSpec is what the cache projection writes for one KOI event: the
// shape of the write, not its bytes (see measurePebbleCeiling).
type bundleSpec struct {
	ridHash uint64 // same RID, same hash
	size    uint32 // event JSON length, about the bundle's
	ridLen  uint16
	typ     uint8 // index into ridTypes
	forget  bool
}

var ridTypes = []string{github.TypeEvent, github.TypeRepo, github.TypeCommit, github.TypeIssue, github.TypePR, "other"}

func ridTypeIndex(rid string) uint8 {
	typ, _ := koi.RIDType(rid)
	for i, t := range ridTypes[:len(ridTypes)-1] {
		if t == typ {
			return uint8(i)
		}
	}
	return uint8(len(ridTypes) - 1)
}

// stagesResult is what measureStagesCPU measured.
type stagesResult struct {
	elapsed      time.Duration
	workers      int
	observations int64 // normalize outputs
	passed       int64 // dedupe outputs
	events       int64 // ridify outputs (KOI events)
	observedLen  int64 // payload bytes of dedupe's outputs: the observed topic's values
	eventsLen    int64 // payload bytes of ridify's outputs: the events topic's values
	dead         int64 // inputs a stage refused permanently
	bundles      []bundleSpec
}

// obsBatch is a run of dedupe outputs for one ridify worker.
type obsBatch []*message.Message

const obsBatchLen = 256

// measureStagesCPU runs deliveries [0, n) of c through normalize, dedupe
// and ridify in memory: no broker, and stage state in Pebble on an
// in-memory file system. As in the pipeline, raw records are split by
// delivery key and observations by RID: GOMAXPROCS ingest goroutines each
// normalize and dedupe their share of the deliveries and hand every
// observation to one of GOMAXPROCS ridify goroutines chosen by its RID, so
// every RID's observations are ridified in order by one goroutine. The
// clock runs from the first delivery to the last KOI event and includes
// building the raw messages (a few µs each).
func measureStagesCPU(ctx context.Context, c *Corpus, n int) (stagesResult, error) {
	db, err := openMemState()
	if err != nil {
		return stagesResult{}, err
	}
	defer db.Close()
	set, err := newStageSet(db)
	if err != nil {
		return stagesResult{}, err
	}
	workers := runtime.GOMAXPROCS(0)
	res := stagesResult{workers: workers}

	// Which ingest goroutine takes which delivery, decided before the clock.
	part := make([]uint16, n)
	for i := range part {
		part[i] = uint16(partitionOf(c.deliveryID(i), workers))
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fail := func(err error) { cancel(err) }
	var observations, passed, dead, observedLen atomic.Int64
	// run passes m through st as the segment's dead-letter middleware
	// would: a permanent refusal counts as a dead letter, anything else
	// fails the measurement. ok is false in both cases.
	run := func(st stages.Stage, ctx context.Context, m *message.Message) (outs []*message.Message, ok bool) {
		outs, err := st.Process(ctx, m)
		switch {
		case err == nil:
			return outs, true
		case stages.IsPermanent(err):
			dead.Add(1)
		default:
			fail(err)
		}
		return nil, false
	}
	toRidify := make([]chan obsBatch, workers)
	for i := range toRidify {
		toRidify[i] = make(chan obsBatch, 64)
	}
	bundles := make([][]bundleSpec, workers)

	start := time.Now()
	var ridifyWG, ingestWG sync.WaitGroup
	for w := range workers {
		ridifyWG.Go(func() {
			var off int64
			for batch := range toRidify[w] {
				for _, m := range batch {
					if ctx.Err() != nil {
						continue // drain
					}
					pctx := topics.ContextWithPosition(context.Background(), topics.Position{Topic: "koistream.observed", Partition: int32(w), Offset: off})
					off++
					if off%stateCommitEvery == 0 {
						if err := set.observe.Commit(int32(w), nil); err != nil {
							fail(err)
						}
					}
					outs, ok := run(set.ridify, pctx, m)
					if !ok {
						continue
					}
					for _, o := range outs {
						rid := o.Metadata.Get(observed.HeaderRID)
						h := fnv.New64a()
						h.Write([]byte(rid))
						bundles[w] = append(bundles[w], bundleSpec{
							ridHash: h.Sum64(),
							size:    uint32(len(o.Payload)),
							ridLen:  uint16(min(len(rid), 65535)),
							typ:     ridTypeIndex(rid),
							forget:  o.Metadata.Get(events.HeaderEventType) == string(koi.EventForget),
						})
					}
				}
			}
		})
	}
	for w := range workers {
		ingestWG.Go(func() {
			batches := make([]obsBatch, workers)
			flush := func(r int) {
				if len(batches[r]) > 0 {
					toRidify[r] <- batches[r]
					batches[r] = make(obsBatch, 0, obsBatchLen)
				}
			}
			var off int64
			now := time.Now()
			for i := range n {
				if int(part[i]) != w {
					continue
				}
				if ctx.Err() != nil {
					break
				}
				msg := rawMessage(c.Delivery(i), now)
				pctx := topics.ContextWithPosition(context.Background(), topics.Position{Topic: "koistream.raw", Partition: int32(w), Offset: off})
				off++
				if off%stateCommitEvery == 0 {
					if err := set.ingest.Commit(int32(w), nil); err != nil {
						fail(err)
					}
				}
				msg.SetContext(pctx)
				obs, ok := run(set.normalize, pctx, msg)
				if !ok {
					continue // after a failure the loop ends at its ctx check
				}
				observations.Add(int64(len(obs)))
				for _, o := range obs {
					outs, ok := run(set.dedupe, pctx, o)
					if !ok {
						continue
					}
					passed.Add(int64(len(outs)))
					for _, p := range outs {
						observedLen.Add(int64(len(p.Payload)))
						r := partitionOf(p.Metadata.Get(observed.HeaderRID), workers)
						batches[r] = append(batches[r], p)
						if len(batches[r]) == obsBatchLen {
							flush(r)
						}
					}
				}
			}
			for r := range batches {
				flush(r)
			}
		})
	}
	ingestWG.Wait()
	for _, ch := range toRidify {
		close(ch)
	}
	ridifyWG.Wait()
	res.elapsed = time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return res, fmt.Errorf("stages: %w", err)
	}
	res.observations, res.passed, res.dead = observations.Load(), passed.Load(), dead.Load()
	res.observedLen = observedLen.Load()
	for _, b := range bundles {
		for _, s := range b {
			res.eventsLen += int64(s.size)
		}
		res.events += int64(len(b))
		res.bundles = append(res.bundles, b...)
	}
	return res, nil
}
