package koinet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/raw"
)

// SourceKind is the raw.HeaderSource value of koi-net records, the key the
// koi-net parser is registered under.
const SourceKind = "koi-net"

// Headers of a koi-net raw record, beyond raw's own. See the package
// documentation.
const (
	// HeaderSender is the node RID the input came from: the envelope's
	// source_node, the 1.0 sender named by the request, or the node a poll
	// or fetch was answered by. Empty (absent) for local knowledge and for
	// a 1.0 broadcast, which does not say who sent it.
	HeaderSender = "koistream-koi-sender"
	// HeaderReceiver is the node's own RID when the record was written:
	// the parser drops what others say about it ("don't let others tell
	// me who I am", PROTOCOL.md 7 step 1), and keeps doing so on replay.
	HeaderReceiver = "koistream-koi-receiver"
	// HeaderVia says how the input arrived: one of the Via constants.
	HeaderVia = "koistream-koi-via"
	// HeaderTargets lists, comma-separated, the node RIDs local knowledge
	// must reach whatever the edges say (the answer to a handshake, an
	// edge proposal to its other end). Absent when none.
	HeaderTargets = "koistream-koi-targets"
)

// How a koi-net record arrived (HeaderVia).
const (
	// ViaBroadcast: a peer POSTed it to our /events/broadcast.
	ViaBroadcast = "broadcast"
	// ViaPoll: a peer answered our /events/poll with it.
	ViaPoll = "poll"
	// ViaFetch: a peer answered our /bundles/fetch with it (a
	// bundles_payload).
	ViaFetch = "fetch"
	// ViaLocal: the node's own knowledge, a bare events_payload.
	ViaLocal = "local"
)

// ErrInvalid is wrapped by every error NewMessage and Parse return.
var ErrInvalid = errors.New("koinet: invalid record")

// format is what topics/raw applies to every koi-net record: the source
// kind, the default content type, and ErrInvalid around its errors.
var format = raw.Format{Source: SourceKind, Invalid: ErrInvalid, ContentType: "application/json"}

// Input is one koi-net raw record.
type Input struct {
	// Sender is the node the input came from; empty for local knowledge
	// and 1.0 broadcasts. Must parse as an RID when set.
	Sender string
	// Receiver is our node RID. Required.
	Receiver string
	// Via is one of the Via constants. Required.
	Via string
	// Targets are node RIDs local knowledge must reach; only with
	// ViaLocal.
	Targets []string
	// Body is the body as received (for ViaLocal, a bare events_payload).
	// Required.
	Body []byte
	// ContentType is the body's media type as received.
	ContentType string
	// UserAgent is the peer's User-Agent, if it sent one.
	UserAgent string
	// ReceivedAt is when the node received or made the input. Required.
	ReceivedAt time.Time
	// Key is the record key: set by NewMessage when empty (see the package
	// documentation), read back by Parse.
	Key string
}

// InputKey returns the key of a peer's input: the hex sha256 of the sender,
// a zero byte and the body.
func InputKey(sender string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(sender))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func (in Input) validate() error {
	switch in.Via {
	case ViaBroadcast, ViaPoll, ViaFetch:
		if len(in.Targets) > 0 {
			return fmt.Errorf("%w: targets on input %s", ErrInvalid, in.Via)
		}
	case ViaLocal:
		if in.Sender != "" {
			return fmt.Errorf("%w: local knowledge with a sender %.80q", ErrInvalid, in.Sender)
		}
	default:
		return fmt.Errorf("%w: via %.80q is not broadcast, poll, fetch or local", ErrInvalid, in.Via)
	}
	if in.Receiver == "" {
		return fmt.Errorf("%w: no receiver", ErrInvalid)
	}
	for _, rid := range []string{in.Receiver, in.Sender} {
		if rid == "" {
			continue // no sender
		}
		if _, err := koi.ParseRID(rid); err != nil || strings.Contains(rid, ",") {
			return fmt.Errorf("%w: %.80q is not an RID without commas", ErrInvalid, rid)
		}
	}
	// An empty target (a header "a,,b") is refused here, not left for the
	// observation to be refused in the normalize stage.
	for _, rid := range in.Targets {
		if _, err := koi.ParseRID(rid); err != nil || strings.Contains(rid, ",") {
			return fmt.Errorf("%w: target %.80q is not an RID without commas", ErrInvalid, rid)
		}
	}
	if len(in.Body) == 0 {
		return fmt.Errorf("%w: empty body", ErrInvalid)
	}
	return nil
}

// NewMessage returns the raw-topic message of in. It fails, with an error
// wrapping ErrInvalid, when in breaks a rule of the Input fields. The
// message shares in.Body.
func NewMessage(in Input) (*message.Message, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	key := in.Key
	if key == "" {
		if in.Via == ViaLocal {
			key = watermill.NewUUID()
		} else {
			key = InputKey(in.Sender, in.Body)
		}
	}
	md := message.Metadata{HeaderReceiver: in.Receiver, HeaderVia: in.Via}
	if in.Sender != "" {
		md[HeaderSender] = in.Sender
	}
	if len(in.Targets) > 0 {
		md[HeaderTargets] = strings.Join(in.Targets, ",")
	}
	return format.NewMessage(raw.Record{
		Key: key, ReceivedAt: in.ReceivedAt,
		ContentType: in.ContentType, UserAgent: in.UserAgent, Body: in.Body, Metadata: md,
	})
}

// Parse reads a koi-net raw record. It fails, with an error wrapping
// ErrInvalid, when the record is of another source kind or breaks a rule of
// the Input fields. The Input shares the record's body.
func Parse(rec raw.Record) (Input, error) {
	if err := format.Check(rec); err != nil {
		return Input{}, err
	}
	md := rec.Metadata
	in := Input{
		Sender:      md.Get(HeaderSender),
		Receiver:    md.Get(HeaderReceiver),
		Via:         md.Get(HeaderVia),
		Body:        rec.Body,
		ContentType: rec.ContentType,
		UserAgent:   rec.UserAgent,
		ReceivedAt:  rec.ReceivedAt,
		Key:         rec.Key,
	}
	if t := md.Get(HeaderTargets); t != "" {
		in.Targets = strings.Split(t, ",")
	}
	if err := in.validate(); err != nil {
		return Input{}, err
	}
	return in, nil
}

// LocalEvents returns the record of the node's own knowledge: the events
// as a bare events_payload, to reach targets whatever the edges say (nil
// for none). self is the node's RID.
func LocalEvents(self string, events []koi.Event, targets []string, now time.Time) (*message.Message, error) {
	body, err := koi.NewEventsPayload(events).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("koinet: local events: %w", err)
	}
	return NewMessage(Input{Receiver: self, Via: ViaLocal, Targets: targets, Body: body, ReceivedAt: now})
}
