package stages

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

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
// Seen keys are stage state (see [State]): persistent, partitioned like the
// raw topic (keyed by the source key, so a redelivery lands on the
// partition its first delivery did) and never expiring, so a redelivery
// days later, after restarts or after its partition moved to another
// instance, still produces nothing. Each key remembers the raw record that
// first claimed it; when that same record comes again (the retry middleware
// re-running the chain after a failure) it passes. Records of a source whose
// parser declares its keys unique ([UniqueKeyParser], the publish source)
// pass without state. Safe for concurrent use.
type Dedupe struct {
	state   State
	parsers *Parsers
}

// NewDedupe is the [Factory] of the dedupe stage. It takes no configuration
// and needs deps.OpenState.
func NewDedupe(deps Deps, cfg Config) (Stage, error) {
	if err := decodeNone(cfg); err != nil {
		return nil, err
	}
	if deps.OpenState == nil {
		return nil, errors.New("dedupe: stage state is required")
	}
	st, err := deps.OpenState()
	if err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	parsers := deps.Parsers
	if parsers == nil {
		parsers = BuiltinParsers()
	}
	return &Dedupe{state: st, parsers: parsers}, nil
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
	if d.parsers.UniqueKeys(md.Get(observed.HeaderSource)) {
		return []*message.Message{msg}, nil // never a redelivery: no state to keep
	}
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
	key := []byte(md.Get(observed.HeaderSource) + "\x00" + srcKey)
	val, found, err := d.state.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	if found {
		seen, err := decodeLogPos(val)
		if err != nil {
			return nil, fmt.Errorf("dedupe: stored state for %q: %w", key, err)
		}
		if seen != pos {
			return nil, nil // a redelivery: already passed once
		}
		return []*message.Message{msg}, nil // another observation of the claiming record, or our own retry
	}
	if err := d.state.Set(ctx, key, pos.append(nil)); err != nil {
		return nil, fmt.Errorf("dedupe: %w", err)
	}
	return []*message.Message{msg}, nil
}
