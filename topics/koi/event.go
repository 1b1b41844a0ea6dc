package koi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// EventType is the kind of change an Event announces. Its JSON form is the
// bare string value.
type EventType string

// The event types of KOI-net. Receivers of NEW and UPDATE decide for
// themselves which of the two applies (by comparing with their cache); only
// FORGET is taken at face value.
const (
	// EventNew announces an object the sender has not announced before.
	EventNew EventType = "NEW"
	// EventUpdate announces a new version of a known object.
	EventUpdate EventType = "UPDATE"
	// EventForget announces that the object is gone; it carries no manifest
	// or contents.
	EventForget EventType = "FORGET"
)

// ErrInvalidEvent is wrapped by the error Event.UnmarshalJSON returns for an
// event without an RID or with an unknown event_type.
var ErrInvalidEvent = errors.New("koi: invalid event")

// Valid reports whether t is one of EventNew, EventUpdate and EventForget.
func (t EventType) Valid() bool {
	return t == EventNew || t == EventUpdate || t == EventForget
}

// Event is one KOI-net event. Fields are in the order Python KOI nodes
// serialize them (rid, event_type, manifest, contents); Manifest and Contents
// are omitted from JSON when nil, as koi-net 1.1+ does. Contents holds the raw
// JSON bytes exactly as given or received.
type Event struct {
	// RID is the canonical string form of the RID the event is about.
	RID string `json:"rid"`
	// EventType is NEW, UPDATE or FORGET.
	EventType EventType `json:"event_type"`
	// Manifest is the manifest of the new version; nil for FORGET events.
	Manifest *Manifest `json:"manifest,omitempty"`
	// Contents is the raw JSON contents; nil for FORGET and for events that
	// announce only a manifest.
	Contents json.RawMessage `json:"contents,omitempty"`
}

// NewForgetEvent returns the FORGET event for rid, which carries only the
// RID and the event type.
func NewForgetEvent(rid string) Event {
	return Event{RID: rid, EventType: EventForget}
}

// NewBundleEvent returns an event of type t carrying b's manifest and
// contents. The event aliases b.Contents.
func NewBundleEvent(t EventType, b Bundle) Event {
	m := b.Manifest
	return Event{RID: m.RID, EventType: t, Manifest: &m, Contents: b.Contents}
}

// Bundle returns the event's manifest and contents as a Bundle, and false if
// the event lacks either of them.
func (e Event) Bundle() (Bundle, bool) {
	if e.Manifest == nil || len(e.Contents) == 0 {
		return Bundle{}, false
	}
	return Bundle{Manifest: *e.Manifest, Contents: e.Contents}, true
}

// AppendJSON appends the event's JSON to dst and returns the extended
// slice: {"rid","event_type","manifest"?,"contents"?} in that order, manifest
// as Manifest.AppendJSON writes it, strings escaped as AppendString does
// (as Python KOI nodes print them), manifest omitted when nil and contents
// when empty, as MarshalJSON. Contents are written verbatim, not validated
// or compacted: a KOI event carries them byte for byte as observed, and
// hashing already parsed them. AppendJSON grows dst at most once, so an
// event costs one allocation with a nil dst; it is the events topic's value
// (topics/events), on every record's path.
func (e Event) AppendJSON(dst []byte) []byte {
	size := len(`{"rid":,"event_type":""}`) + len(e.RID) + 2 + len(e.EventType)
	if e.Manifest != nil {
		size += len(`,"manifest":`) + e.Manifest.jsonLen()
	}
	if len(e.Contents) != 0 {
		size += len(`,"contents":`) + len(e.Contents)
	}
	dst = slices.Grow(dst, size)
	dst = append(dst, `{"rid":`...)
	dst = AppendString(dst, e.RID)
	dst = append(dst, `,"event_type":`...)
	dst = AppendString(dst, string(e.EventType))
	if e.Manifest != nil {
		dst = append(dst, `,"manifest":`...)
		dst = e.Manifest.AppendJSON(dst)
	}
	if len(e.Contents) != 0 {
		dst = append(dst, `,"contents":`...)
		dst = append(dst, e.Contents...)
	}
	return append(dst, '}')
}

// MarshalJSON returns AppendJSON(nil). Through encoding/json (json.Marshal
// of an Event or of a payload holding events) the result is then compacted
// and HTML-escaped as encoding/json does with every Marshaler's output.
func (e Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(nil), nil
}

// UnmarshalJSON decodes an event, accepting the koi-net 1.0 form in which
// absent manifest and contents are sent as null (both decode to nil). It
// returns an error wrapping ErrInvalidEvent when rid is missing or empty or
// event_type is not NEW, UPDATE or FORGET.
func (e *Event) UnmarshalJSON(b []byte) error {
	var w eventWire
	if err := unmarshalExact(b, &w); err != nil {
		return err
	}
	ev, err := w.event()
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

// eventWire is Event without its UnmarshalJSON: an event as decoded,
// before its event method checks it.
type eventWire Event

// event returns w as an Event, with a null contents (koi-net 1.0) as nil. It
// refuses an event without an RID or with an unknown event type with a
// *memberError wrapping ErrInvalidEvent, which names the member in the
// peer's terms.
func (w *eventWire) event() (Event, error) {
	if bytes.Equal(w.Contents, []byte("null")) {
		w.Contents = nil
	}
	if w.RID == "" {
		return Event{}, &memberError{sentinel: ErrInvalidEvent, path: "rid", reason: "must be a non-empty string"}
	}
	if !w.EventType.Valid() {
		reason := fmt.Sprintf("must be %q, %q or %q", EventNew, EventUpdate, EventForget)
		if w.EventType != "" {
			reason += ", got " + quoteInput(string(w.EventType))
		}
		return Event{}, &memberError{sentinel: ErrInvalidEvent, path: "event_type", reason: reason}
	}
	return Event(*w), nil
}
