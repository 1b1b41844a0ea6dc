package stages

import (
	"context"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Stage is one named step of the pipeline. Process receives one message and
// returns the messages that continue down the chain: none to drop it, several
// to fan out. Returning an error makes the whole segment retry the input
// message; wrap the error with [Permanent] when retrying cannot help, so the
// input goes to the dead-letter topic at once.
//
// Process is called concurrently for messages of different partitions and
// sequentially for messages of one partition, so a stage must be safe for
// concurrent use but may rely on per-partition order.
type Stage interface {
	// Name returns the name the stage is registered under.
	Name() string
	// Process handles one message. ctx carries the trace and the log
	// position of the input record (topics.PositionFromContext).
	Process(ctx context.Context, msg *message.Message) ([]*message.Message, error)
}

// Deps is what a stage factory may use to build a stage. All fields are set
// by the pipeline before any factory runs.
type Deps struct {
	// OpenState returns the durable state of the stage being built: one
	// State per placement of a stage in the segments, with its own
	// changelog topic, so a stage needs no key prefix of its own. Only
	// stages that keep state call it; nil when the caller provides no
	// state, and a stage that needs state then fails to build.
	OpenState func() (State, error)
	// Logger is the stage's logger.
	Logger *slog.Logger
	// Now returns the current time; tests fix it.
	Now func() time.Time
	// Parsers are the source parsers normalize dispatches to, by the raw
	// record's source kind. Nil means [BuiltinParsers].
	Parsers *Parsers
}

// Factory builds a stage from the dependencies every stage shares and its
// own configuration block, which it decodes with cfg.Decode (cfg is never
// nil). Settings that only one stage needs belong in its block, not in
// [Deps]. A factory may be called several times, once per placement of the
// stage in the segments.
type Factory func(deps Deps, cfg Config) (Stage, error)
