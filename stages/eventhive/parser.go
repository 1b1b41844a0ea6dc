// Package eventhive is the normalize stage's parser of the "eventhive"
// source (topics/eventhive): messages EventHive processes published to a
// node's input channel over Redis, each made one immutable observation
// under its own RID, orn:eventhive.message:<network>/<channel>/<event>/<id>,
// shown on the stream at /eventhive/<network>/<channel>/<event>.
//
// [Parse] is registered in stages.BuiltinParsers under
// topics/eventhive.SourceKind. Everything in the package is safe for
// concurrent use.
package eventhive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	wire "github.com/koistream/koistream/topics/eventhive"
	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

// RIDType is the type of an EventHive message's RID.
const RIDType = "orn:eventhive.message"

// Routing is the routing-key stem of every EventHive message.
const Routing = "evt.eventhive"

// ErrNotObject is wrapped by every error Contents and Parse return about
// the body: it is not a JSON object in valid UTF-8.
var ErrNotObject = errors.New("eventhive: body is not a JSON object")

// maxDepth is encoding/json's nesting limit, which json.Compact enforces
// first.
const maxDepth = 10000

// RID returns the RID of the message keyed key (its id) received on the
// Redis channel <network>/<channel>/<event>.
func RID(network, channel, event, key string) string {
	return RIDType + ":" + wire.Channel(network, channel, event) + "/" + key
}

// Contents returns what a message body becomes: the JSON object compacted
// (insignificant whitespace removed, nothing else changed: the metadata
// member stays) without its top-level __sign__ member, which says nothing
// once the intake verified it. It fails, with an error wrapping
// ErrNotObject, when body is not valid UTF-8, not valid JSON, or valid
// JSON other than an object. The result does not share body.
func Contents(body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrNotObject)
	}
	var c bytes.Buffer
	c.Grow(len(body))
	if err := json.Compact(&c, body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotObject, err)
	}
	b := c.Bytes()
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: not an object", ErrNotObject)
	}
	if !bytes.Contains(b, []byte(`sign__"`)) && !bytes.Contains(b, []byte(`\u`)) {
		return b, nil // no member can be named __sign__
	}
	return dropSign(b)
}

// dropSign rebuilds the compact object b without its top-level members
// named __sign__.
func dropSign(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	out = append(out, '{')
	var name []byte
	for i := 1; i < len(b) && b[i] != '}'; {
		start := i
		kend := jsonscan.StringEnd(b, i+1)
		if kend < 0 {
			return nil, fmt.Errorf("%w: unterminated member name", ErrNotObject)
		}
		name = jsonscan.AppendUnescaped(name[:0], b[i+1:kend-1])
		vend, err := jsonscan.ValueEnd(b, kend+1, maxDepth+1) // past ':'
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotObject, err)
		}
		if string(name) != wire.SignKey {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, b[start:vend]...)
		}
		i = vend
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
	return append(out, '}'), nil
}

// Parse is the normalize stage's parser of raw records of source kind
// topics/eventhive.SourceKind: one observation, an immutable upsert of
// RID(network, channel, event, key) with Contents(body), routing Routing,
// shown at topics/eventhive.Path and partitioned by it (a function of the
// RID). Every error is about the record and is permanent. The context is
// not used: parsing does no I/O.
func Parse(_ context.Context, rec raw.Record) ([]observed.Observation, error) {
	in, err := wire.Parse(rec)
	if err != nil {
		return nil, err
	}
	contents, err := Contents(in.Body)
	if err != nil {
		return nil, err
	}
	path := wire.Path(in.Network, in.Channel, in.Event)
	return []observed.Observation{{
		RID:          RID(in.Network, in.Channel, in.Event, in.Key),
		Op:           observed.OpUpsert,
		Contents:     contents,
		Routing:      Routing,
		Immutable:    true,
		Path:         path,
		PartitionKey: path,
	}}, nil
}
