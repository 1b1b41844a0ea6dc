package stages

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics"
)

// NormalizeName is the registered name of the normalize stage.
const NormalizeName = "normalize"

// Normalize turns a raw record into canonical observations, one message per
// RID: the event itself first, then the entities its payload carries (repo,
// commits, issue, pull request). Each output is keyed by its RID and carries
// the source key, the raw record's position and its received-at time, so
// later stages and replays can trace it back. Malformed inputs fail with a
// [Permanent] error and go to the dead-letter topic. Safe for concurrent use.
type Normalize struct{}

// NewNormalize is the [Factory] of the normalize stage. It takes no
// configuration.
func NewNormalize(_ Deps, cfg Config) (Stage, error) {
	if err := decodeNone(cfg); err != nil {
		return nil, err
	}
	return Normalize{}, nil
}

// Name implements [Stage].
func (Normalize) Name() string { return NormalizeName }

// Process implements [Stage].
func (Normalize) Process(ctx context.Context, msg *message.Message) ([]*message.Message, error) {
	kind := msg.Metadata.Get(topics.HeaderSourceKind)
	if kind != topics.SourceGitHubWebhook {
		return nil, Permanent(fmt.Errorf("normalize: unknown source kind %q", kind))
	}
	receivedAt, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(topics.HeaderReceivedAt))
	if err != nil {
		return nil, Permanent(fmt.Errorf("normalize: bad %s header: %w", topics.HeaderReceivedAt, err))
	}
	in := github.Input{
		Event:       msg.Metadata.Get(topics.HeaderGitHubEvent),
		Delivery:    msg.Metadata.Get(topics.HeaderGitHubDelivery),
		ContentType: msg.Metadata.Get(topics.HeaderContentType),
		Body:        msg.Payload,
		ReceivedAt:  receivedAt,
	}
	obs, err := github.Normalize(in)
	if err != nil {
		return nil, Permanent(fmt.Errorf("normalize delivery %s: %w", in.Delivery, err))
	}
	pos, _ := topics.PositionFromContext(ctx)
	part, off := strconv.FormatInt(int64(pos.Partition), 10), strconv.FormatInt(pos.Offset, 10)
	out := make([]*message.Message, 0, len(obs))
	for _, o := range obs {
		m := message.NewMessage(watermill.NewUUID(), o.Contents)
		m.Metadata = message.Metadata{
			topics.MetadataKey:          o.RID,
			topics.HeaderRID:            o.RID,
			topics.HeaderOp:             string(o.Op),
			topics.HeaderSourceKind:     kind,
			topics.HeaderSourceKey:      in.Delivery,
			topics.HeaderGitHubEvent:    in.Event,
			topics.HeaderReceivedAt:     msg.Metadata.Get(topics.HeaderReceivedAt),
			topics.HeaderRawPartition:   part,
			topics.HeaderRawOffset:      off,
			topics.HeaderGitHubDelivery: in.Delivery,
		}
		out = append(out, m)
	}
	return out, nil
}
