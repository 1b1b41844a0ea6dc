package projections

import (
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Projection is one view materialised from the events topic into a [Store]:
// the cache (cache.go), the graph (graph.go), and later the subscriber
// queues and the offsets-by-time index, each one file implementing this
// interface. The
// [Runner] reads the log and calls Apply; the Store commits what Apply
// staged together with the offsets after the records, in one atomic write.
//
// What Apply may assume:
//
//   - recs are the records of one poll that the store has not applied yet:
//     within a partition in offset order, each partition continuing where
//     the store's offsets say, every record at most once per state. The
//     store drops records below its stored offsets before calling Apply, so
//     a redelivery of an older batch changes nothing.
//   - Every projection of the store sees the same records in the same
//     order, and the store holds one set of offsets for all of them.
//   - Apply is never called concurrently with itself or with the Apply of
//     another projection of the store. Readers (a projection's own query
//     methods) may run concurrently with it; they see only committed
//     batches, whole.
//
// What Apply must do:
//
//   - Stage its writes into b and nothing else: never commit, close or reset
//     b, and write only keys of its own tables (see Tables). The batch is not
//     indexed, so reads through the database do not see what this poll
//     staged: a projection that reads its own state must account for the
//     records earlier in recs itself.
//   - Not retain recs or their byte slices after it returns: they alias the
//     fetched data. pebble.Batch.Set copies what it is given.
//   - Be a deterministic function of the state it reads and the records:
//     no clock, no randomness. A crash loses a suffix of committed batches
//     together with their offsets (the store has no write-ahead log; see
//     [StoreOptions]), and the runner applies those records again to the
//     state they were first applied to; rebuilding applies the whole log
//     to an empty state. Both must give the state the first pass gave.
//   - Report a record that can never be applied (malformed) in skipped and
//     carry on: the offsets still move past it, and the runner logs and
//     counts it. Return err only for what retrying later might cure or an
//     operator must look at (a failed read, a bug): the runner then discards
//     the whole batch, of every projection, and stops; the next start offers
//     the same records again. An error for a malformed record would stop the
//     projections at that record for good.
//
// Rebuilding: the projections of a store share its offsets, so one cannot be
// recreated alone. [Reset] deletes the store; the next runner on it starts
// every partition at the beginning of the log. A store remembers which
// projections it holds, and [Store.Attach] refuses a different set, because
// a projection added to a store that already consumed part of the log would
// silently miss that part.
type Projection interface {
	// Name names the projection in metrics, logs and the store's record of
	// what it holds ("cache"). It must be stable across restarts and unique
	// within a store.
	Name() string
	// Tables returns the one-byte tags of the key tables the projection
	// writes (every key is a tag, a zero byte, then the table's own
	// layout). Tags must not collide with another projection's or with the
	// store's own (see [Store]); Attach checks.
	Tables() []byte
	// Apply stages into b the effect of recs, under the contract above.
	Apply(b *pebble.Batch, recs []Record) (skipped []error, err error)
}

// Record is one record of the events topic as a projection sees it. Key,
// Value and the record they came from belong to the runner: Apply must not
// keep or modify them.
type Record struct {
	// Topic, Partition and Offset are the record's position in the log.
	Topic     string
	Partition int32
	Offset    int64
	// Key is the record's key (the RID on the events topic).
	Key []byte
	// Value is the KOI event JSON.
	Value []byte
	// Timestamp is the time the broker gives the record (its create time).
	Timestamp time.Time
	// Headers are the record's headers: on the events topic the
	// observation's (topics/events), among them the KOI-net peer the event
	// came from and the nodes it must reach, which the queues route by.
	// Nil when the record has none.
	Headers []kgo.RecordHeader
}
