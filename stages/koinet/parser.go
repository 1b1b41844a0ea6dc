// Package koinet is the normalize stage's parser of the "koi-net" source
// (topics/koinet): KOI-net events that reached the node from other nodes (a
// /events/broadcast, the answer to a poll or to a fetch) and the node's own
// KOI-net knowledge, turned into observations (topics/observed) that the
// ridify stage makes into events by the reference's rules (NEW or UPDATE by
// hash, FORGET honoured).
//
// [Parse] is registered in stages.BuiltinParsers under
// topics/koinet.SourceKind. [DecodePayload] is the same reading of one
// payload, which the /events/broadcast intake (pipeline/koiapi) applies
// before it appends a body, so that whatever the intake accepts parses here
// and no accepted batch ends in the dead topic. Everything in the package
// is safe for concurrent use.
package koinet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	segjson "github.com/segmentio/encoding/json"

	ghwire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

// ErrMalformed is wrapped by every error of [Parse], [DecodePayload] and
// [DecodeBody] about the input (never about the node): the record or
// payload is not what a KOI-net peer may send, and never will be.
var ErrMalformed = errors.New("koinet: malformed koi-net input")

// MalformedError says what is wrong with a koi-net payload in the peer's
// terms: Msg names the member ("events.2.rid") and the problem, without Go
// package prefixes, fit for a 422 body. It wraps ErrMalformed and, for
// payloads the koi decoder refused, its *koi.PayloadError.
type MalformedError struct {
	// Msg is the account for the peer.
	Msg string
	// Err is the decoder's error, if the decoder refused the payload.
	Err error
}

// Error returns Msg with the package prefix.
func (e *MalformedError) Error() string { return "koinet: " + e.Msg }

// Unwrap returns ErrMalformed and the decoder's error.
func (e *MalformedError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrMalformed}
	}
	return []error{ErrMalformed, e.Err}
}

func malformed(format string, args ...any) error {
	return &MalformedError{Msg: fmt.Sprintf(format, args...)}
}

// decodeError wraps an error of the koi payload decoders, keeping the
// peer's account (koi.PayloadError.Msg).
func decodeError(err error) error {
	msg := err.Error()
	if pe, ok := errors.AsType[*koi.PayloadError](err); ok {
		msg = pe.Msg
	}
	return &MalformedError{Msg: msg, Err: err}
}

// DecodePayload reads a payload (the bare JSON object, not an envelope) as
// an events_payload, or, when bundles is true, as a bundles_payload whose
// bundles become NEW events. The "type" member may be absent (koi-net 1.0)
// but must not name another payload; 1.0's "manifest":null and
// "contents":null are accepted. Beyond the koi decoder's checks, a payload
// is refused (an error wrapping ErrMalformed, saying which member is wrong)
// when it is not UTF-8, when an event's or bundle's rid is not an RID, when
// a manifest's rid differs from its event's, when a bundle has no manifest,
// and when contents are not a JSON object. Contents are returned as the
// bytes received (aliasing payload); RIDs as received, never re-printed.
func DecodePayload(payload []byte, bundles bool) ([]koi.Event, error) {
	if !utf8.Valid(payload) {
		return nil, malformed("the payload is not UTF-8")
	}
	if !bundles {
		p, err := koi.DecodeEventsPayload(payload)
		if err != nil {
			return nil, decodeError(err)
		}
		for i, ev := range p.Events {
			if err := checkEvent("events."+strconv.Itoa(i), ev); err != nil {
				return nil, err
			}
		}
		return p.Events, nil
	}
	p, err := koi.DecodeBundlesPayload(payload)
	if err != nil {
		return nil, decodeError(err)
	}
	events := make([]koi.Event, len(p.Bundles))
	for i, b := range p.Bundles {
		at := "bundles." + strconv.Itoa(i)
		if _, err := koi.ParseRID(b.Manifest.RID); err != nil {
			return nil, malformed("%s.manifest.rid %s is not an RID", at, quote(b.Manifest.RID))
		}
		ev := koi.NewBundleEvent(koi.EventNew, b)
		if len(ev.Contents) == 0 || isNull(ev.Contents) {
			return nil, malformed("%s.contents is required", at)
		}
		if err := checkEvent(at, ev); err != nil {
			return nil, err
		}
		events[i] = ev
	}
	return events, nil
}

// checkEvent applies the checks the koi decoder leaves out.
func checkEvent(at string, ev koi.Event) error {
	if _, err := koi.ParseRID(ev.RID); err != nil {
		return malformed("%s.rid %s is not an RID: %s", at, quote(ev.RID), ridProblem(err))
	}
	if ev.Manifest != nil && ev.Manifest.RID != ev.RID {
		return malformed("%s.manifest.rid %s is not the event's rid %s", at, quote(ev.Manifest.RID), quote(ev.RID))
	}
	if len(ev.Contents) > 0 && firstByte(ev.Contents) != '{' {
		return malformed("%s.contents must be an object", at)
	}
	return nil
}

// ridProblem is the reason of a koi.ParseRID error without its prefix and
// the quoted input, which the caller quotes already (cut).
func ridProblem(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// quote quotes s for an error message, cut to 100 bytes: peers' strings end
// up in 422 bodies and dead records' headers.
func quote(s string) string {
	if len(s) > 100 {
		cut := 100
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

// PayloadOf returns the payload of a koi-net body: the "payload" member of
// a signed envelope (koi-net 1.1+), the body itself for a bare (1.0 or
// local) payload. A body is an envelope when it is a JSON object with a
// top-level "payload" or "signature" member, which no bare payload has, as
// the KOI-net API decides per request. The signature is not checked here:
// the intake checked it before the record was written.
func PayloadOf(body []byte) ([]byte, error) {
	if !isEnvelope(body) {
		return body, nil
	}
	env, err := koi.ParseEnvelope(body)
	if err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, koi.ErrInvalidEnvelope.Error()+": ")
		return nil, &MalformedError{Msg: "signed envelope: " + msg, Err: err}
	}
	return env.Payload, nil
}

// DecodeBody returns the events of a koi-net body as DecodePayload reads
// its payload (PayloadOf): a bundles_payload for via topics/koinet.ViaFetch,
// an events_payload otherwise.
func DecodeBody(body []byte, via string) ([]koi.Event, error) {
	payload, err := PayloadOf(body)
	if err != nil {
		return nil, err
	}
	return DecodePayload(payload, via == koinet.ViaFetch)
}

// Parse is the normalize stage's parser of koi-net raw records
// (topics/koinet). It returns one observation per event of the record's
// payload, in order, with RID, Op, Contents, Routing, Peer and Targets set:
//
//   - events about the record's receiver (the node itself) are dropped
//     unless the record is local knowledge: others do not tell a node who it
//     is (PROTOCOL.md 7 step 1);
//   - FORGET is an observed.OpForget;
//   - NEW and UPDATE with contents other than {} are an observed.OpUpsert
//     of the contents byte for byte; the sender's label is ignored (ridify
//     decides NEW or UPDATE by hash, as the reference does);
//   - NEW and UPDATE without contents, or with {}, are skipped: the
//     intake's OnBroadcast hook (or a fetch's own record) brings the bundle
//     from the sender, and {} is what the reference sends when it wants the
//     receiver to fetch;
//   - Routing is "ent.<namespace>" ("ent.koi-net.node"), except that the
//     GitHub types route as the GitHub parser routes them, so that an issue
//     keeps its routing key whichever way it arrived: "ent.issue" for
//     orn:github.issue, and "evt.<webhook_event_type>" for orn:github.event
//     ("evt.unknown" when the contents do not name a valid event);
//   - Immutable is false even for orn:github.event: a peer re-sends events,
//     and only ridify's per-RID state makes the copies nothing;
//   - Peer is the record's sender, Targets the record's targets.
//
// A record that is not a koi-net record, or whose body is malformed (see
// DecodePayload), is an error wrapping ErrMalformed (or topics/koinet's
// ErrInvalid) for the whole record: the normalize stage dead-letters it
// with the reason. The context is not used.
func Parse(_ context.Context, rec raw.Record) ([]observed.Observation, error) {
	in, err := koinet.Parse(rec)
	if err != nil {
		return nil, err
	}
	events, err := DecodeBody(in.Body, in.Via)
	if err != nil {
		return nil, err
	}
	obs := make([]observed.Observation, 0, len(events))
	for _, ev := range events {
		if ev.RID == in.Receiver && in.Via != koinet.ViaLocal {
			continue
		}
		o := observed.Observation{RID: ev.RID, Peer: in.Sender, Targets: in.Targets}
		if in.Via != koinet.ViaLocal && o.Peer == "" {
			// Input from a 1.0 node that did not say who it is is still
			// someone else's: never our own knowledge, to which the
			// outbound queues give our edges' other ends and more.
			o.Peer = AnonymousPeer
		}
		if ev.EventType == koi.EventForget {
			o.Op = observed.OpForget
		} else {
			if !HasContents(ev) {
				continue
			}
			if in.Via != koinet.ViaLocal && !TrustedProfile(ev.RID, ev.Contents) {
				// The reference's SecureProfileHandler: a node profile
				// whose key is not the one its RID names is a forgery
				// (it would lock the node out and take its events).
				continue
			}
			o.Op, o.Contents = observed.OpUpsert, ev.Contents
		}
		o.Routing = Routing(ev.RID, o.Contents)
		obs = append(obs, o)
	}
	return obs, nil
}

// AnonymousPeer is the Peer of observations from a koi-net 1.0 node that
// did not name itself (a bare broadcast that is not a handshake, a poll of
// a first contact known by URL only).
const AnonymousPeer = "orn:koi-net.node:anonymous"

// TrustedProfile reports whether contents may be taken as the bundle of
// rid from a peer: any RID but a node RID; a koi-net 1.0 node RID
// (<name>+<uuid4>, which no key names); or a 1.1+ node RID whose hash is
// the sha256 of the profile's public_key, as the reference checks profiles
// before caching them (PROTOCOL.md 7 step 4).
func TrustedProfile(rid string, contents []byte) bool {
	if t, err := koi.RIDType(rid); err != nil || t != koi.TypeKoiNetNode {
		return true
	}
	n, err := koi.ParseNodeRID(rid)
	if err != nil {
		return false
	}
	if n.Legacy() {
		return true
	}
	var p struct {
		PublicKey string `json:"public_key"`
	}
	if segjson.Unmarshal(contents, &p) != nil {
		return false
	}
	return koi.CheckNodeKey(rid, p.PublicKey) == nil
}

// HasContents reports whether a NEW or UPDATE event carries contents the
// node can take: present, not null and not the empty object {}. An event
// without them asks the receiver to fetch the bundle from its sender.
func HasContents(ev koi.Event) bool {
	return len(ev.Contents) > 0 && !isNull(ev.Contents) && !isEmptyObject(ev.Contents)
}

// githubPrefix starts every GitHub RID type.
const githubPrefix = "orn:github."

// Routing returns the routing-key stem of an observation of rid with
// contents (empty for a forget); see Parse. rid must parse. Characters a
// routing key cannot hold (space, control, non-ASCII) become '_'.
func Routing(rid string, contents []byte) string {
	typ, err := koi.RIDType(rid)
	if err != nil {
		return "ent.unknown"
	}
	var stem string
	switch {
	case typ == githubPrefix+"event":
		stem = "evt." + webhookEventType(contents)
	case strings.HasPrefix(typ, githubPrefix):
		stem = "ent." + strings.TrimPrefix(typ, githubPrefix)
	default:
		// orn:<namespace> or a bare scheme such as https.
		stem = "ent." + strings.TrimPrefix(strings.TrimPrefix(typ, "orn:"), "urn:")
	}
	return sanitize(stem)
}

// webhookEventType returns the contents' top-level "webhook_event_type" when
// it is a valid GitHub event name, else "unknown" (as observed records of
// old builds without the header route).
func webhookEventType(contents []byte) string {
	if len(contents) == 0 {
		return "unknown"
	}
	var c struct {
		WebhookEventType string `json:"webhook_event_type"`
	}
	// A contents whose other members do not fit the struct still tells its
	// event type; only a wrongly typed webhook_event_type leaves it empty.
	_, _ = segjson.Parse(contents, &c, segjson.DontMatchCaseInsensitiveStructFields)
	if ghwire.CheckEvent(c.WebhookEventType) != nil {
		return "unknown"
	}
	return c.WebhookEventType
}

// sanitize replaces the bytes a routing-key stem cannot hold with '_'.
func sanitize(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c <= ' ' || c >= 0x7f {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return s
}

// isEnvelope reports whether body is a JSON object with a top-level
// "payload" or "signature" member (see PayloadOf). Bodies that are not
// valid JSON objects are not envelopes (the payload decoder refuses them).
func isEnvelope(body []byte) bool {
	return segjson.Valid(body) && jsonscan.HasMember(body, koi.MaxNestingDepth, "payload", "signature")
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func isNull(b []byte) bool {
	return string(bytes.TrimSpace(b)) == "null"
}

// isEmptyObject reports whether b is {} with any whitespace.
func isEmptyObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}' && len(bytes.TrimSpace(b[1:len(b)-1])) == 0
}
