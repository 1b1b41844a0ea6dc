package stages

import "context"

// State is a stage's durable key-value state, partitioned like the stage's
// input topic: a Get or Set applies to the partition of the input record
// being processed, which ctx carries (topics.PositionFromContext). Stage
// state is only correct when every record that may touch a key arrives on
// the same partition, as it does for keys derived from the record key (a
// delivery's GUID, an observation's RID).
//
// Writes are transactional with the stage's outputs: a Set is visible to
// later Gets of the same partition at once, but becomes durable only when
// the transaction that carries the input's outputs commits (it is written
// to the stage's changelog topic in that transaction); if the transaction
// aborts, the write is forgotten with the outputs, and the input is
// processed again. When a partition moves to another instance, its state
// moves with it: the new owner restores it from the changelog before it
// processes the partition. When the retry middleware runs a failed message
// through the chain again, the failed attempt's writes are rolled back
// first, and a message that ends in the dead topic leaves none. So a stage
// sees every input's effect on its state exactly once, whatever retries,
// crashes or rebalances happen.
//
// Safe for concurrent use by goroutines processing different partitions.
type State interface {
	// Get returns the value of key in ctx's partition, and whether there
	// is one. The returned slice must not be modified.
	Get(ctx context.Context, key []byte) (value []byte, found bool, err error)
	// Set gives key the value in ctx's partition. Set copies key and
	// value.
	Set(ctx context.Context, key, value []byte) error
}
