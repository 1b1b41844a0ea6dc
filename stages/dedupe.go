package stages

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/observed"
)

// DedupeName is the registered name of the dedupe stage.
const DedupeName = "dedupe"

// Dedupe drops inputs already seen: a webhook GitHub redelivered, a backfill
// page fetched twice. The key is the source kind and the source key (the
// delivery GUID for webhooks, which GitHub keeps on redelivery): the first
// raw record to carry a key claims it, and all observations derived from that
// record pass, while every observation of a later record with the same key
// (a redelivery) is dropped, whatever RIDs it names. One entry per input,
// not per observation.
//
// Seen keys are persistent (Pebble) and never expire: a redelivery days later
// and after restarts still produces nothing. Each key remembers the raw
// record that first claimed it; when that same record comes again (the
// pipeline retrying after a crash or a failed publish) it passes, so a crash
// between marking and publishing cannot lose it.
//
// Seen keys are written without fsync: if a crash loses the newest ones, a
// later redelivery passes dedupe and ridify then finds the same hash and
// emits nothing. The newest keys are also held in memory (see memo), so the
// several observations of one input cost one Pebble lookup, not one each.
// Safe for concurrent use.
type Dedupe struct {
	db   *pebble.DB
	seen *memo[logPos]
}

// dedupeMemo is how many seen keys Dedupe holds in memory: enough for the
// inputs of several polls in flight, a few MB.
const dedupeMemo = 1 << 15

// NewDedupe is the [Factory] of the dedupe stage. It takes no configuration
// and needs deps.State.
func NewDedupe(deps Deps, cfg Config) (Stage, error) {
	if err := decodeNone(cfg); err != nil {
		return nil, err
	}
	if deps.State == nil {
		return nil, errors.New("dedupe: state database is required")
	}
	return &Dedupe{db: deps.State, seen: newMemo[logPos](dedupeMemo)}, nil
}

// Name implements [Stage].
func (*Dedupe) Name() string { return DedupeName }

// Process implements [Stage].
func (d *Dedupe) Process(ctx context.Context, msg *message.Message) ([]*message.Message, error) {
	// Dedupe reads only the few headers it needs, by the observed schema's
	// names, and not a whole observed.Parse: it may also be placed before
	// normalize, where its input is a raw record (whose source kind header
	// has the same name).
	md := msg.Metadata
	srcKey := md.Get(observed.HeaderSourceKey)
	if srcKey == "" {
		srcKey = md.Get(topics.RecordKey) // a raw record's key is its source key
	}
	if srcKey == "" {
		return nil, Permanent(errors.New("dedupe: message has no source key"))
	}
	pos, ok, err := rawPos(md, observed.HeaderRawPartition, observed.HeaderRawOffset)
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
	key := StateKey(DedupeName, md.Get(observed.HeaderSource)+"\x00"+srcKey)

	seen, ok := d.seen.get(key)
	if !ok {
		val, closer, err := d.db.Get(key)
		switch {
		case err == nil:
			seen, err = decodeLogPos(val)
			closer.Close()
			if err != nil {
				return nil, fmt.Errorf("dedupe: stored state for %q: %w", key, err)
			}
			d.seen.put(key, seen)
			ok = true
		case errors.Is(err, pebble.ErrNotFound):
		default:
			return nil, fmt.Errorf("dedupe: read state: %w", err)
		}
	}
	if ok {
		if seen != pos {
			return nil, nil // a redelivery: already passed once
		}
		return []*message.Message{msg}, nil // another observation of the claiming record, or our own retry
	}
	if err := d.db.Set(key, pos.append(nil), pebble.NoSync); err != nil {
		return nil, fmt.Errorf("dedupe: write state: %w", err)
	}
	d.seen.put(key, pos)
	return []*message.Message{msg}, nil
}
