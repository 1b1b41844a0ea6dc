package stages

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/topics"
)

// DedupeName is the registered name of the dedupe stage.
const DedupeName = "dedupe"

// Dedupe drops inputs already seen: a webhook GitHub redelivered, a backfill
// page fetched twice. The key is the source kind, the source key (the
// delivery GUID for webhooks, which GitHub keeps on redelivery) and the
// message's RID, so the several observations of one input are each kept once.
//
// Seen keys are persistent (Pebble) and never expire: a redelivery days later
// and after restarts still produces nothing. Each key remembers the raw
// record that first claimed it; when that same record comes again (the
// pipeline retrying after a crash or a failed publish) it passes, so a crash
// between marking and publishing cannot lose it.
//
// Seen keys are written without fsync: if a crash loses the newest ones, a
// later redelivery passes dedupe and ridify then finds the same hash and
// emits nothing. Safe for concurrent use.
type Dedupe struct {
	db *pebble.DB
}

// NewDedupe is the [Factory] of the dedupe stage.
func NewDedupe(deps Deps) (Stage, error) {
	if deps.State == nil {
		return nil, errors.New("dedupe: state database is required")
	}
	return &Dedupe{db: deps.State}, nil
}

// Name implements [Stage].
func (*Dedupe) Name() string { return DedupeName }

// Process implements [Stage].
func (d *Dedupe) Process(ctx context.Context, msg *message.Message) ([]*message.Message, error) {
	md := msg.Metadata
	srcKey := md.Get(topics.HeaderSourceKey)
	if srcKey == "" {
		srcKey = md.Get(topics.MetadataKey)
	}
	if srcKey == "" {
		return nil, Permanent(errors.New("dedupe: message has no source key"))
	}
	pos, ok, err := rawPos(md, topics.HeaderRawPartition, topics.HeaderRawOffset)
	if err != nil {
		return nil, Permanent(fmt.Errorf("dedupe: %w", err))
	}
	if !ok {
		// Placed before normalize: the input itself is the raw record.
		p, found := topics.PositionFromContext(ctx)
		if !found {
			return nil, Permanent(errors.New("dedupe: no log position for message"))
		}
		pos = logPos{partition: p.Partition, offset: p.Offset}
	}
	key := StateKey(DedupeName, md.Get(topics.HeaderSourceKind)+"\x00"+srcKey+"\x00"+md.Get(topics.HeaderRID))

	val, closer, err := d.db.Get(key)
	switch {
	case err == nil:
		seen, derr := decodeLogPos(val)
		closer.Close()
		if derr != nil {
			return nil, fmt.Errorf("dedupe: stored state for %q: %w", key, derr)
		}
		if seen != pos {
			return nil, nil // a redelivery: already passed once
		}
		return []*message.Message{msg}, nil // our own retry
	case errors.Is(err, pebble.ErrNotFound):
	default:
		return nil, fmt.Errorf("dedupe: read state: %w", err)
	}
	if err := d.db.Set(key, pos.append(nil), pebble.NoSync); err != nil {
		return nil, fmt.Errorf("dedupe: write state: %w", err)
	}
	return []*message.Message{msg}, nil
}
