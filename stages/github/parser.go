package github

import (
	"context"

	wire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

// ParseWebhook is the normalize stage's parser of raw records of source kind
// topics/github.SourceKind: it reads the delivery's event name and id from
// the record's X-GitHub-Event and X-GitHub-Delivery headers and returns
// Normalize's observations, with their RID, Op, Contents, Routing and
// Immutable set (the stage adds where they came from). Every error wraps
// ErrBadPayload and is permanent. The context is not used: parsing does no
// I/O. Safe for concurrent use.
func ParseWebhook(_ context.Context, rec raw.Record) ([]observed.Observation, error) {
	return Normalize(Input{
		Event:       rec.Metadata.Get(wire.HeaderEvent),
		Delivery:    rec.Metadata.Get(wire.HeaderDelivery),
		ContentType: rec.ContentType,
		Body:        rec.Body,
		ReceivedAt:  rec.ReceivedAt,
	})
}
