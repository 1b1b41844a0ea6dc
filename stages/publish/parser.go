// Package publish is the normalize stage's parser of the "publish" source
// (topics/publish): JSON objects published to the stream listener, each
// made one immutable observation under its own RID,
// orn:pubsub.message:<ulid><path>, shown on the stream at its path.
//
// [Parse] is registered in stages.BuiltinParsers under
// topics/publish.SourceKind. [Contents] is the same reading of a body,
// which the listener (pipeline/streams) applies before it appends one, so
// that whatever it accepts parses here and nothing it accepted ends in the
// dead topic. Everything in the package is safe for concurrent use.
package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/observed"
	wire "github.com/koistream/koistream/topics/publish"
	"github.com/koistream/koistream/topics/raw"
)

// RIDType is the type of a published message's RID.
const RIDType = "orn:pubsub.message"

// Routing is the routing-key stem of every published message.
const Routing = "evt.publish"

// ReservedPrefix starts the names of the top-level members the streams add
// to every object they show (pubsub_path, pubsub_topics, pubsub_timestamp,
// pubsub_cursor); a publisher's own members of that name are dropped, as
// PyPubSub overwrites them.
const ReservedPrefix = "pubsub_"

// ErrNotObject is wrapped by every error Contents and Parse return about
// the body: it is not a JSON object in valid UTF-8.
var ErrNotObject = errors.New("publish: body is not a JSON object")

// maxDepth is encoding/json's nesting limit, which json.Valid enforces
// first; the scan below never meets deeper values.
const maxDepth = 10000

// Contents returns what a published body becomes: the JSON object body
// compacted (insignificant whitespace removed, nothing else changed) with
// its top-level members whose names start with ReservedPrefix removed. It
// fails, with an error wrapping ErrNotObject that says why, when body is
// not valid UTF-8, not valid JSON, or valid JSON other than an object. The
// result does not share body.
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
		what := "empty"
		if len(b) > 0 {
			what = kind(b[0])
		}
		return nil, fmt.Errorf("%w: %s", ErrNotObject, what)
	}
	if !hasReserved(b) {
		return b, nil
	}
	return dropReserved(b)
}

// kind names the JSON type that starts with b.
func kind(b byte) string {
	switch b {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// members calls fn with the name (unescaped) and the span of each
// top-level member of the compact object b.
func members(b []byte, fn func(name []byte, start, end int)) error {
	var key []byte
	i := 1
	for i < len(b) && b[i] != '}' {
		start := i
		kend := jsonscan.StringEnd(b, i+1)
		if kend < 0 {
			return fmt.Errorf("%w: unterminated member name", ErrNotObject)
		}
		key = jsonscan.AppendUnescaped(key[:0], b[i+1:kend-1])
		vend, err := jsonscan.ValueEnd(b, kend+1, maxDepth+1) // past ':'
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotObject, err)
		}
		fn(key, start, vend)
		i = vend
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
	return nil
}

func hasReserved(b []byte) bool {
	found := false
	_ = members(b, func(name []byte, _, _ int) {
		found = found || strings.HasPrefix(string(name), ReservedPrefix)
	})
	return found
}

// dropReserved rebuilds the compact object b without its reserved
// members.
func dropReserved(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	out = append(out, '{')
	err := members(b, func(name []byte, start, end int) {
		if strings.HasPrefix(string(name), ReservedPrefix) {
			return
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, b[start:end]...)
	})
	if err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}

// RID returns the RID of the message published with key (a ULID) to path.
// The path is part of it so that the partition key (the path) is a
// function of the RID.
func RID(key, path string) string { return RIDType + ":" + key + path }

// Parse is the normalize stage's parser of raw records of source kind
// topics/publish.SourceKind: one observation, an immutable upsert of
// RID(key, path) with Contents(body), routing Routing, shown at the path
// and partitioned by it. Every error is about the record (a record that is
// not a publish record, a body that is not an object) and is permanent.
// The context is not used: parsing does no I/O.
func Parse(_ context.Context, rec raw.Record) ([]observed.Observation, error) {
	in, err := wire.Parse(rec)
	if err != nil {
		return nil, err
	}
	contents, err := Contents(in.Body)
	if err != nil {
		return nil, err
	}
	return []observed.Observation{{
		RID:          RID(in.Key, in.Path),
		Op:           observed.OpUpsert,
		Contents:     contents,
		Routing:      Routing,
		Immutable:    true,
		Path:         in.Path,
		PartitionKey: in.Path,
	}}, nil
}
