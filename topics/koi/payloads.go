package koi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	segjson "github.com/segmentio/encoding/json"
)

// Values of the "type" discriminator of the KOI-net payloads.
const (
	// PayloadTypePollEvents is the type of PollEvents (request to /events/poll).
	PayloadTypePollEvents = "poll_events"
	// PayloadTypeFetchRids is the type of FetchRids (request to /rids/fetch).
	PayloadTypeFetchRids = "fetch_rids"
	// PayloadTypeFetchManifests is the type of FetchManifests (request to
	// /manifests/fetch).
	PayloadTypeFetchManifests = "fetch_manifests"
	// PayloadTypeFetchBundles is the type of FetchBundles (request to
	// /bundles/fetch).
	PayloadTypeFetchBundles = "fetch_bundles"
	// PayloadTypeRidsPayload is the type of RidsPayload.
	PayloadTypeRidsPayload = "rids_payload"
	// PayloadTypeManifestsPayload is the type of ManifestsPayload.
	PayloadTypeManifestsPayload = "manifests_payload"
	// PayloadTypeBundlesPayload is the type of BundlesPayload.
	PayloadTypeBundlesPayload = "bundles_payload"
	// PayloadTypeEventsPayload is the type of EventsPayload (request to
	// /events/broadcast and response of /events/poll).
	PayloadTypeEventsPayload = "events_payload"
	// PayloadTypeErrorResponse is the type of ErrorResponse.
	PayloadTypeErrorResponse = "error_response"
)

// The error codes an ErrorResponse carries (HTTP 400 bodies of Python nodes).
const (
	// ErrorUnknownNode means the receiver does not know the sender's public
	// key; a koi-net 2.0 client reacts by handshaking.
	ErrorUnknownNode = "unknown_node"
	// ErrorInvalidKey means the sender's public key does not hash to its
	// node RID.
	ErrorInvalidKey = "invalid_key"
	// ErrorInvalidSignature means the envelope signature did not verify.
	ErrorInvalidSignature = "invalid_signature"
	// ErrorInvalidTarget means the envelope's target_node is not the receiver.
	ErrorInvalidTarget = "invalid_target"
)

// Errors wrapped by the Decode functions. Every decoding error is a
// *PayloadError, which says what is wrong in the peer's terms, and wraps
// ErrInvalidPayload; a body whose "type" names another payload wraps
// ErrPayloadType, which itself wraps ErrInvalidPayload.
var (
	// ErrInvalidPayload reports a body that is not valid JSON for the
	// payload, or lacks one of its required fields.
	ErrInvalidPayload = errors.New("koi: invalid payload")
	// ErrPayloadType reports a "type" discriminator naming a different
	// payload than the one being decoded. errors.Is(ErrPayloadType,
	// ErrInvalidPayload) is true.
	ErrPayloadType = fmt.Errorf("%w: wrong type", ErrInvalidPayload)
)

// PollEvents asks a node for the events queued for the sender (request of
// /events/poll). Limit 0 means all queued events. Rid is only used by
// koi-net 1.0, where it names the polling node; it is omitted when empty and
// must stay empty for 1.1+ peers, which drop unknown fields before checking
// the signature.
type PollEvents struct {
	// Type is always PayloadTypePollEvents on the wire.
	Type string `json:"type"`
	// Limit is the maximum number of events to return; 0 means no limit.
	Limit int `json:"limit"`
	// Rid is the poller's node RID (koi-net 1.0 only).
	Rid string `json:"rid,omitempty"`
}

// FetchRids asks for the RIDs a node holds (request of /rids/fetch).
// An empty RidTypes means all types.
type FetchRids struct {
	// Type is always PayloadTypeFetchRids on the wire.
	Type string `json:"type"`
	// RidTypes lists RID type strings to filter by; empty means all.
	RidTypes []string `json:"rid_types"`
}

// FetchManifests asks for manifests (request of /manifests/fetch). When Rids
// is non-empty it selects the manifests; otherwise RidTypes does, and an
// empty RidTypes means all types.
type FetchManifests struct {
	// Type is always PayloadTypeFetchManifests on the wire.
	Type string `json:"type"`
	// RidTypes lists RID type strings to filter by; empty means all.
	RidTypes []string `json:"rid_types"`
	// Rids lists the RIDs wanted; it takes precedence over RidTypes.
	Rids []string `json:"rids"`
}

// FetchBundles asks for the bundles of the given RIDs (request of
// /bundles/fetch).
type FetchBundles struct {
	// Type is always PayloadTypeFetchBundles on the wire.
	Type string `json:"type"`
	// Rids lists the RIDs wanted (required).
	Rids []string `json:"rids"`
}

// RidsPayload answers FetchRids.
type RidsPayload struct {
	// Type is always PayloadTypeRidsPayload on the wire.
	Type string `json:"type"`
	// Rids lists the RIDs held.
	Rids []string `json:"rids"`
}

// ManifestsPayload answers FetchManifests. NotFound lists requested RIDs the
// node does not hold.
type ManifestsPayload struct {
	// Type is always PayloadTypeManifestsPayload on the wire.
	Type string `json:"type"`
	// Manifests are the manifests found.
	Manifests []Manifest `json:"manifests"`
	// NotFound lists requested RIDs that are not held.
	NotFound []string `json:"not_found"`
}

// BundlesPayload answers FetchBundles. NotFound lists requested RIDs the node
// does not hold; Deferred is part of the protocol but never filled by Python
// nodes.
type BundlesPayload struct {
	// Type is always PayloadTypeBundlesPayload on the wire.
	Type string `json:"type"`
	// Bundles are the bundles found.
	Bundles []Bundle `json:"bundles"`
	// NotFound lists requested RIDs that are not held.
	NotFound []string `json:"not_found"`
	// Deferred lists requested RIDs that will be delivered later.
	Deferred []string `json:"deferred"`
}

// EventsPayload carries events: the request of /events/broadcast and the
// response of /events/poll.
type EventsPayload struct {
	// Type is always PayloadTypeEventsPayload on the wire.
	Type string `json:"type"`
	// Events are the events, in order.
	Events []Event `json:"events"`
}

// ErrorResponse is the body of a KOI-net protocol error (HTTP 400). It is
// never wrapped in a signed envelope.
type ErrorResponse struct {
	// Type is always PayloadTypeErrorResponse on the wire.
	Type string `json:"type"`
	// Error is one of the Error* codes, such as ErrorUnknownNode.
	Error string `json:"error"`
}

// NewPollEvents returns a PollEvents with its type set, asking for at most
// limit events (0 for all).
func NewPollEvents(limit int) PollEvents {
	return PollEvents{Type: PayloadTypePollEvents, Limit: limit}
}

// NewFetchRids returns a FetchRids with its type set; nil ridTypes becomes
// an empty list (all types).
func NewFetchRids(ridTypes []string) FetchRids {
	return FetchRids{Type: PayloadTypeFetchRids, RidTypes: nonNil(ridTypes)}
}

// NewFetchManifests returns a FetchManifests with its type set; nil slices
// become empty lists.
func NewFetchManifests(ridTypes, rids []string) FetchManifests {
	return FetchManifests{Type: PayloadTypeFetchManifests, RidTypes: nonNil(ridTypes), Rids: nonNil(rids)}
}

// NewFetchBundles returns a FetchBundles with its type set; nil rids becomes
// an empty list.
func NewFetchBundles(rids []string) FetchBundles {
	return FetchBundles{Type: PayloadTypeFetchBundles, Rids: nonNil(rids)}
}

// NewRidsPayload returns a RidsPayload with its type set; nil rids becomes an
// empty list, so it marshals as [] rather than null.
func NewRidsPayload(rids []string) RidsPayload {
	return RidsPayload{Type: PayloadTypeRidsPayload, Rids: nonNil(rids)}
}

// NewManifestsPayload returns a ManifestsPayload with its type set; nil
// slices become empty lists, so they marshal as [] rather than null.
func NewManifestsPayload(manifests []Manifest, notFound []string) ManifestsPayload {
	return ManifestsPayload{Type: PayloadTypeManifestsPayload, Manifests: nonNil(manifests), NotFound: nonNil(notFound)}
}

// NewBundlesPayload returns a BundlesPayload with its type set; nil slices
// become empty lists, so they marshal as [] rather than null.
func NewBundlesPayload(bundles []Bundle, notFound, deferred []string) BundlesPayload {
	return BundlesPayload{Type: PayloadTypeBundlesPayload, Bundles: nonNil(bundles), NotFound: nonNil(notFound), Deferred: nonNil(deferred)}
}

// NewEventsPayload returns an EventsPayload with its type set; nil events
// becomes an empty list.
func NewEventsPayload(events []Event) EventsPayload {
	return EventsPayload{Type: PayloadTypeEventsPayload, Events: nonNil(events)}
}

// NewErrorResponse returns an ErrorResponse with its type set and the given
// error code (one of the Error* constants).
func NewErrorResponse(code string) ErrorResponse {
	return ErrorResponse{Type: PayloadTypeErrorResponse, Error: code}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// The MarshalJSON methods below make every payload print as Python KOI nodes
// print it, however the value was built: "type" is always the payload's
// constant and nil lists print as [].

// MarshalJSON encodes p with its type set and the fields in protocol order.
func (p PollEvents) MarshalJSON() ([]byte, error) {
	type wire PollEvents
	p.Type = PayloadTypePollEvents
	return encodeNoEscape(wire(p))
}

// MarshalJSON encodes p with its type set and nil lists as [].
func (p FetchRids) MarshalJSON() ([]byte, error) {
	type wire FetchRids
	p = NewFetchRids(p.RidTypes)
	return encodeNoEscape(wire(p))
}

// MarshalJSON encodes p with its type set and nil lists as [].
func (p FetchManifests) MarshalJSON() ([]byte, error) {
	type wire FetchManifests
	p = NewFetchManifests(p.RidTypes, p.Rids)
	return encodeNoEscape(wire(p))
}

// MarshalJSON encodes p with its type set and nil lists as [].
func (p FetchBundles) MarshalJSON() ([]byte, error) {
	type wire FetchBundles
	p = NewFetchBundles(p.Rids)
	return encodeNoEscape(wire(p))
}

// MarshalJSON encodes p with its type set and nil lists as [].
func (p RidsPayload) MarshalJSON() ([]byte, error) {
	type wire RidsPayload
	p = NewRidsPayload(p.Rids)
	return encodeNoEscape(wire(p))
}

// MarshalJSON encodes p with its type set and nil lists as [].
func (p ManifestsPayload) MarshalJSON() ([]byte, error) {
	type wire ManifestsPayload
	p = NewManifestsPayload(p.Manifests, p.NotFound)
	return encodeNoEscape(wire(p))
}

// MarshalJSON encodes p with its type set and nil lists as [].
func (p BundlesPayload) MarshalJSON() ([]byte, error) {
	type wire BundlesPayload
	p = NewBundlesPayload(p.Bundles, p.NotFound, p.Deferred)
	return encodeNoEscape(wire(p))
}

// MarshalJSON encodes p with its type set and nil lists as [].
func (p EventsPayload) MarshalJSON() ([]byte, error) {
	type wire EventsPayload
	p = NewEventsPayload(p.Events)
	return encodeNoEscape(wire(p))
}

// MarshalJSON encodes p with its type set.
func (p ErrorResponse) MarshalJSON() ([]byte, error) {
	type wire ErrorResponse
	p.Type = PayloadTypeErrorResponse
	return encodeNoEscape(wire(p))
}

// encodeNoEscape is json.Marshal without HTML escaping, so that an outer
// encoder configured like Marshal does not receive pre-escaped '<', '>', '&'.
// It uses encoding/json rather than segmentio's encoder because the latter
// writes json.RawMessage values uncompacted when HTML escaping is off.
func encodeNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkType verifies an optional "type" discriminator.
func checkType(want string, got *string) error {
	if got != nil && *got != want {
		return wrongType(want, *got)
	}
	return nil
}

// decodeObject unmarshals the JSON object b, a body of payload, into w.
// Unlike json.Unmarshal it rejects a null body, which would otherwise decode
// to all defaults. Its errors are PayloadErrors.
func decodeObject(payload string, b []byte, w any) error {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return notAnObject(payload, b)
	}
	if err := unmarshalExact(b, w); err != nil {
		return invalidPayload(payload, b, "", err)
	}
	return nil
}

// unmarshalExact is json.Unmarshal with member names matched exactly, as
// the Python reference (pydantic) matches them: encoding/json and
// segmentio's decoder would also fill "rids" from "RIDS", so a body
// Python rejects would be accepted here.
func unmarshalExact(b []byte, w any) error {
	rest, err := segjson.Parse(b, w, segjson.DontMatchCaseInsensitiveStructFields)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("invalid character %q after top-level value", rest[0])
	}
	return err
}

// missing returns the error for a required member of payload's body b that
// decoded to nothing; v is the member's (nil) field, for its type.
func missing(payload string, b []byte, field string, v any) error {
	return missingMember(payload, b, field, reflect.TypeOf(v))
}

// DecodePollEvents decodes a poll_events body. The "type" field may be absent
// (koi-net 1.0 and Python's default) but must not name another payload. The
// result always has Type set. Errors wrap ErrInvalidPayload (and
// ErrPayloadType for a wrong type).
func DecodePollEvents(b []byte) (PollEvents, error) {
	var w struct {
		Type  *string `json:"type"`
		Limit int     `json:"limit"`
		Rid   string  `json:"rid"`
	}
	if err := decodeObject(PayloadTypePollEvents, b, &w); err != nil {
		return PollEvents{}, err
	}
	if err := checkType(PayloadTypePollEvents, w.Type); err != nil {
		return PollEvents{}, err
	}
	return PollEvents{Type: PayloadTypePollEvents, Limit: w.Limit, Rid: w.Rid}, nil
}

// DecodeFetchRids decodes a fetch_rids body. The "type" field may be absent
// but must not name another payload; a missing rid_types becomes an empty
// list. The result always has Type set. Errors wrap ErrInvalidPayload (and
// ErrPayloadType for a wrong type).
func DecodeFetchRids(b []byte) (FetchRids, error) {
	var w struct {
		Type     *string  `json:"type"`
		RidTypes []string `json:"rid_types"`
	}
	if err := decodeObject(PayloadTypeFetchRids, b, &w); err != nil {
		return FetchRids{}, err
	}
	if err := checkType(PayloadTypeFetchRids, w.Type); err != nil {
		return FetchRids{}, err
	}
	return NewFetchRids(w.RidTypes), nil
}

// DecodeFetchManifests decodes a fetch_manifests body. The "type" field may
// be absent but must not name another payload; missing lists become empty.
// The result always has Type set. Errors wrap ErrInvalidPayload (and
// ErrPayloadType for a wrong type).
func DecodeFetchManifests(b []byte) (FetchManifests, error) {
	var w struct {
		Type     *string  `json:"type"`
		RidTypes []string `json:"rid_types"`
		Rids     []string `json:"rids"`
	}
	if err := decodeObject(PayloadTypeFetchManifests, b, &w); err != nil {
		return FetchManifests{}, err
	}
	if err := checkType(PayloadTypeFetchManifests, w.Type); err != nil {
		return FetchManifests{}, err
	}
	return NewFetchManifests(w.RidTypes, w.Rids), nil
}

// DecodeFetchBundles decodes a fetch_bundles body. The "type" field may be
// absent but must not name another payload; rids is required (as in Python,
// which answers 422 without it). The result always has Type set. Errors wrap
// ErrInvalidPayload (and ErrPayloadType for a wrong type).
func DecodeFetchBundles(b []byte) (FetchBundles, error) {
	var w struct {
		Type *string   `json:"type"`
		Rids *[]string `json:"rids"`
	}
	if err := decodeObject(PayloadTypeFetchBundles, b, &w); err != nil {
		return FetchBundles{}, err
	}
	if err := checkType(PayloadTypeFetchBundles, w.Type); err != nil {
		return FetchBundles{}, err
	}
	if w.Rids == nil {
		return FetchBundles{}, missing(PayloadTypeFetchBundles, b, "rids", w.Rids)
	}
	return NewFetchBundles(*w.Rids), nil
}

// DecodeRidsPayload decodes a rids_payload body. The "type" field may be
// absent but must not name another payload; rids is required. The result
// always has Type set. Errors wrap ErrInvalidPayload (and ErrPayloadType for
// a wrong type).
func DecodeRidsPayload(b []byte) (RidsPayload, error) {
	var w struct {
		Type *string   `json:"type"`
		Rids *[]string `json:"rids"`
	}
	if err := decodeObject(PayloadTypeRidsPayload, b, &w); err != nil {
		return RidsPayload{}, err
	}
	if err := checkType(PayloadTypeRidsPayload, w.Type); err != nil {
		return RidsPayload{}, err
	}
	if w.Rids == nil {
		return RidsPayload{}, missing(PayloadTypeRidsPayload, b, "rids", w.Rids)
	}
	return NewRidsPayload(*w.Rids), nil
}

// DecodeManifestsPayload decodes a manifests_payload body. The "type" field
// may be absent but must not name another payload; manifests is required and
// a missing not_found becomes empty. The result always has Type set. Errors
// wrap ErrInvalidPayload (and ErrPayloadType for a wrong type).
func DecodeManifestsPayload(b []byte) (ManifestsPayload, error) {
	var w struct {
		Type      *string     `json:"type"`
		Manifests *[]Manifest `json:"manifests"`
		NotFound  []string    `json:"not_found"`
	}
	if err := decodeObject(PayloadTypeManifestsPayload, b, &w); err != nil {
		return ManifestsPayload{}, err
	}
	if err := checkType(PayloadTypeManifestsPayload, w.Type); err != nil {
		return ManifestsPayload{}, err
	}
	if w.Manifests == nil {
		return ManifestsPayload{}, missing(PayloadTypeManifestsPayload, b, "manifests", w.Manifests)
	}
	return NewManifestsPayload(*w.Manifests, w.NotFound), nil
}

// DecodeBundlesPayload decodes a bundles_payload body. The "type" field may
// be absent but must not name another payload; bundles is required and
// missing not_found and deferred become empty. Bundle contents are kept as
// the raw bytes received. The result always has Type set. Errors wrap
// ErrInvalidPayload (and ErrPayloadType for a wrong type).
func DecodeBundlesPayload(b []byte) (BundlesPayload, error) {
	var w struct {
		Type     *string   `json:"type"`
		Bundles  *[]Bundle `json:"bundles"`
		NotFound []string  `json:"not_found"`
		Deferred []string  `json:"deferred"`
	}
	if err := decodeObject(PayloadTypeBundlesPayload, b, &w); err != nil {
		return BundlesPayload{}, err
	}
	if err := checkType(PayloadTypeBundlesPayload, w.Type); err != nil {
		return BundlesPayload{}, err
	}
	if w.Bundles == nil {
		return BundlesPayload{}, missing(PayloadTypeBundlesPayload, b, "bundles", w.Bundles)
	}
	return NewBundlesPayload(*w.Bundles, w.NotFound, w.Deferred), nil
}

// DecodeEventsPayload decodes an events_payload body. The "type" field may be
// absent but must not name another payload; events is required. Events are
// decoded as Event.UnmarshalJSON decodes them (null manifest and contents
// accepted, contents kept raw). The result always has Type set. Errors are
// *PayloadError and wrap ErrInvalidPayload (and ErrPayloadType for a wrong
// type, ErrInvalidEvent for a bad event).
func DecodeEventsPayload(b []byte) (EventsPayload, error) {
	// The events are decoded without Event.UnmarshalJSON and checked here,
	// so that an error can say which event is at fault: the decoder adds
	// the element's index to its own errors but not to an Unmarshaler's.
	var w struct {
		Type   *string      `json:"type"`
		Events *[]eventWire `json:"events"`
	}
	if err := decodeObject(PayloadTypeEventsPayload, b, &w); err != nil {
		return EventsPayload{}, err
	}
	if err := checkType(PayloadTypeEventsPayload, w.Type); err != nil {
		return EventsPayload{}, err
	}
	if w.Events == nil {
		return EventsPayload{}, missing(PayloadTypeEventsPayload, b, "events", w.Events)
	}
	events := make([]Event, len(*w.Events))
	for i := range *w.Events {
		ev, err := (*w.Events)[i].event()
		if err != nil {
			return EventsPayload{}, invalidPayload(PayloadTypeEventsPayload, b, "events."+strconv.Itoa(i), err)
		}
		events[i] = ev
	}
	return NewEventsPayload(events), nil
}

// DecodeErrorResponse decodes an error_response body. The "type" field may
// be absent but must not name another payload; error is required (any string
// is accepted). The result always has Type set. Errors wrap
// ErrInvalidPayload (and ErrPayloadType for a wrong type).
func DecodeErrorResponse(b []byte) (ErrorResponse, error) {
	var w struct {
		Type  *string `json:"type"`
		Error *string `json:"error"`
	}
	if err := decodeObject(PayloadTypeErrorResponse, b, &w); err != nil {
		return ErrorResponse{}, err
	}
	if err := checkType(PayloadTypeErrorResponse, w.Type); err != nil {
		return ErrorResponse{}, err
	}
	if w.Error == nil {
		return ErrorResponse{}, missing(PayloadTypeErrorResponse, b, "error", w.Error)
	}
	return NewErrorResponse(*w.Error), nil
}
