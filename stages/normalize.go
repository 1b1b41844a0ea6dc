package stages

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

// NormalizeName is the registered name of the normalize stage.
const NormalizeName = "normalize"

// Normalize turns a raw record (topics/raw) into canonical observations
// (topics/observed), one message per RID. It hands the record to the parser
// of its source kind ([Parsers]) and stamps every observation with where it
// came from: the raw record's source kind, key (the source key), receive
// time and log position, so later stages and replays can trace it back.
// A record that does not parse as a raw record, has a source kind without a
// parser, or that its parser refuses fails with a [Permanent] error and
// goes to the dead topic. Safe for concurrent use.
type Normalize struct {
	parsers *Parsers
}

// NewNormalize is the [Factory] of the normalize stage. It takes no
// configuration block and parses with deps.Parsers ([BuiltinParsers] when
// nil).
func NewNormalize(deps Deps, cfg Config) (Stage, error) {
	if err := decodeNone(cfg); err != nil {
		return nil, err
	}
	parsers := deps.Parsers
	if parsers == nil {
		parsers = BuiltinParsers()
	}
	return NewNormalizeWith(parsers), nil
}

// NewNormalizeWith returns a normalize stage that parses with parsers.
func NewNormalizeWith(parsers *Parsers) *Normalize { return &Normalize{parsers: parsers} }

// Name implements [Stage].
func (*Normalize) Name() string { return NormalizeName }

// Process implements [Stage].
func (n *Normalize) Process(ctx context.Context, msg *message.Message) ([]*message.Message, error) {
	kind := msg.Metadata.Get(raw.HeaderSource)
	p, ok := n.parsers.Lookup(kind)
	if !ok {
		return nil, Permanent(fmt.Errorf("normalize: raw record %.80q: unknown source kind %.80q (known: %v)",
			msg.Metadata.Get(topics.RecordKey), kind, n.parsers.Kinds()))
	}
	rec, err := raw.Parse(msg)
	if err != nil {
		return nil, Permanent(fmt.Errorf("normalize: %w", err))
	}
	obs, err := p.Parse(ctx, rec)
	if err != nil {
		return nil, Permanent(fmt.Errorf("normalize: %s record %.80q: %w", rec.Source, rec.Key, err))
	}
	pos, ok := topics.PositionFromContext(ctx)
	if !ok {
		return nil, Permanent(errors.New("normalize: no log position for the raw record"))
	}
	for i := range obs {
		o := &obs[i]
		o.Source, o.SourceKey, o.ReceivedAt = rec.Source, rec.Key, rec.ReceivedAt
		o.RawPartition, o.RawOffset = pos.Partition, pos.Offset
	}
	out, err := observed.NewMessages(obs)
	if err != nil {
		return nil, Permanent(fmt.Errorf("normalize: %s record %.80q: parser's observation: %w", rec.Source, rec.Key, err))
	}
	return out, nil
}
