package topics

import (
	"context"
	"time"
)

// Position locates a record in the log: the topic, partition and offset it
// was read from, and the timestamp the record carries (the producer's create
// time unless the topic uses log-append time).
//
// The Subscriber attaches the Position of every record it delivers to the
// message's context; read it with PositionFromContext. Offsets are the ones
// Kafka assigned, so a Position can be handed to a replay as a resume point:
// the next record of the partition is at Offset+1.
type Position struct {
	// Topic is the topic the record was read from.
	Topic string
	// Partition is the partition the record was read from.
	Partition int32
	// Offset is the record's offset within its partition.
	Offset int64
	// Timestamp is the record's timestamp.
	Timestamp time.Time
}

// positionKey is the context key of a Position. A pointer to a private
// string is unique to this package, so no other package can collide with it
// or read the value without PositionFromContext.
var positionKey = new("github.com/koistream/koistream/topics.Position")

// ContextWithPosition returns a copy of ctx carrying pos, as the Subscriber
// does for every message it delivers. It exists so code that consumes
// messages can be tested with messages that did not come from a broker.
func ContextWithPosition(ctx context.Context, pos Position) context.Context {
	return context.WithValue(ctx, positionKey, pos)
}

// PositionFromContext returns the Position stored in ctx by the Subscriber
// (or by ContextWithPosition), and whether there was one. Messages that did
// not come from a Subscriber report false.
func PositionFromContext(ctx context.Context) (Position, bool) {
	pos, ok := ctx.Value(positionKey).(Position)
	return pos, ok
}
