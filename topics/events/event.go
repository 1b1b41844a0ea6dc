package events

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// Headers an events record has beyond its observation's. See the package
// documentation.
const (
	// HeaderEventType is the KOI event type: NEW, UPDATE or FORGET.
	HeaderEventType = "koistream-event-type"
	// HeaderRoutingKey is the GHTorrent-style routing key, the
	// observation's routing stem and the operation; see RoutingKey.
	HeaderRoutingKey = "koistream-routing-key"
	// HeaderRepeat is "true" on a repeat: an event announced before,
	// unchanged, announced again only for the nodes its observation
	// targets (observed.HeaderTargets), such as our unchanged profile sent
	// to a node that just introduced itself. Readers that keep state apply
	// it as the no-op it is; the outbound queues send it to those targets
	// only. Absent otherwise.
	HeaderRepeat = "koistream-repeat"
)

// MarkRepeat marks msg, an events-topic message, as a repeat (see
// HeaderRepeat).
func MarkRepeat(msg *message.Message) { msg.Metadata.Set(HeaderRepeat, "true") }

// ErrInvalid is wrapped by every error NewMessage, Parse and ParseValue
// return.
var ErrInvalid = errors.New("events: invalid event record")

// RoutingKey returns the routing key of an event of type t about an
// observation routed as stem: stem, '.', and "insert" for NEW, "update" for
// UPDATE, "delete" for FORGET ("evt.push.insert", "ent.issue.delete").
// Routing keys let AMQP-style consumers bind by pattern, such as "evt.push.*".
func RoutingKey(stem string, t koi.EventType) string {
	switch t {
	case koi.EventUpdate:
		return stem + ".update"
	case koi.EventForget:
		return stem + ".delete"
	}
	return stem + ".insert"
}

// NewMessage returns the events-topic message announcing ev, which ridify
// derived from the observation from: keyed by the RID, ev's JSON
// (koi.Event.AppendJSON) as the payload, from's headers, the event type and
// the routing key. It fails, with an error wrapping ErrInvalid, when ev is
// not about from's RID, has an unknown type, is a FORGET with a manifest or
// contents or another type without a manifest, or when from is invalid.
func NewMessage(ev koi.Event, from observed.Observation) (*message.Message, error) {
	if err := from.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case ev.RID != from.RID:
		return nil, fmt.Errorf("%w: event about %.80q from an observation of %.80q", ErrInvalid, ev.RID, from.RID)
	case !ev.EventType.Valid():
		return nil, fmt.Errorf("%w %.80q: unknown event type %.80q", ErrInvalid, ev.RID, ev.EventType)
	case ev.EventType == koi.EventForget && (ev.Manifest != nil || len(ev.Contents) != 0):
		return nil, fmt.Errorf("%w %.80q: FORGET with a manifest or contents", ErrInvalid, ev.RID)
	case ev.EventType != koi.EventForget && ev.Manifest == nil:
		return nil, fmt.Errorf("%w %.80q: %s without a manifest", ErrInvalid, ev.RID, ev.EventType)
	}
	md := make(message.Metadata, 12)
	from.WriteHeaders(md)
	md[HeaderEventType] = string(ev.EventType)
	md[HeaderRoutingKey] = RoutingKey(from.Routing, ev.EventType)
	m := message.NewMessage(watermill.NewUUID(), ev.AppendJSON(nil))
	m.Metadata = md
	return m, nil
}

// Record is an events record's headers and its raw value.
type Record struct {
	// Observation is the observation the event came from, as its headers
	// say; its Contents are empty (the value holds them).
	Observation observed.Observation
	// EventType is NEW, UPDATE or FORGET.
	EventType koi.EventType
	// RoutingKey is the routing key, as HeaderRoutingKey says.
	RoutingKey string
	// Value is the KOI event JSON, not parsed; it shares the message's
	// payload.
	Value []byte
}

// Parse reads an events-topic message's headers: the observation's
// (observed.ParseHeaders, which also reads records written before the
// routing stem header existed), the event type and the routing key. It
// fails, with an error wrapping ErrInvalid, when one is missing or
// malformed or the value is empty. It does not parse the value.
func Parse(msg *message.Message) (Record, error) {
	o, err := observed.ParseHeaders(msg.Metadata)
	if err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	r := Record{
		Observation: o,
		EventType:   koi.EventType(msg.Metadata.Get(HeaderEventType)),
		RoutingKey:  msg.Metadata.Get(HeaderRoutingKey),
		Value:       msg.Payload,
	}
	switch {
	case !r.EventType.Valid():
		return Record{}, fmt.Errorf("%w %.80q: %s %.80q is not NEW, UPDATE or FORGET", ErrInvalid, o.RID, HeaderEventType, r.EventType)
	case r.RoutingKey == "":
		return Record{}, fmt.Errorf("%w %.80q: no %s header", ErrInvalid, o.RID, HeaderRoutingKey)
	case len(r.Value) == 0:
		return Record{}, fmt.Errorf("%w %.80q: empty value", ErrInvalid, o.RID)
	}
	return r, nil
}
