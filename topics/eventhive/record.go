package eventhive

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/publish"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/streams"
)

// SourceKind is the raw.HeaderSource value of eventhive records, the key
// the eventhive parser is registered under.
const SourceKind = "eventhive"

// Names of EventHive's message format (PUBSUB.md 5.2 and 5.3).
const (
	// MetadataKey is the member EventHive adds to every message:
	// {"time","version","event","id"}.
	MetadataKey = "__eventhive__"
	// SignKey is the member holding a signed message's signature.
	SignKey = "__sign__"
	// Separator is EventHive's default channel separator.
	Separator = "/"
)

// Headers of an eventhive raw record, beyond raw's own and
// topics.HeaderPartitionKey. See the package documentation.
const (
	// HeaderNetwork is the network, the Redis channel's first part.
	HeaderNetwork = "koistream-eventhive-network"
	// HeaderChannel is the input channel, its second part.
	HeaderChannel = "koistream-eventhive-channel"
	// HeaderEvent is the event name, the rest of the channel name (it
	// may hold '/').
	HeaderEvent = "koistream-eventhive-event"
	// HeaderVerification is how the intake verified the message: one of
	// the Verification values.
	HeaderVerification = "koistream-eventhive-verification"
)

// Verification values of HeaderVerification.
const (
	// Unverified: the source has no secret.
	Unverified = "none"
	// Signed: a plaintext message whose __sign__ verified.
	Signed = "signed"
	// Encrypted: an {"iv","ciphertext"} message that decrypted to a
	// message whose __sign__ verified.
	Encrypted = "encrypted"
)

// ErrInvalid is wrapped by every error NewMessage, Parse and the checks
// return.
var ErrInvalid = errors.New("eventhive: invalid record")

// format is what topics/raw applies to every eventhive record: the source
// kind, the content type (always application/json: an Input has none of its
// own), and ErrInvalid around its errors.
var format = raw.Format{Source: SourceKind, Invalid: ErrInvalid, ContentType: "application/json"}

// Input is one eventhive raw record.
type Input struct {
	// Network and Channel are the connector's network and input channel:
	// CheckName holds for both. Required.
	Network, Channel string
	// Event is the rest of the Redis channel name: CheckEvent holds.
	// Required.
	Event string
	// Verification is one of Unverified, Signed and Encrypted. Required.
	Verification string
	// Body is the message (see the package documentation). Required, not
	// empty; NewMessage does not check that it is a JSON object, the
	// intake does before and the parser again after.
	Body []byte
	// ReceivedAt is when the intake received the message. Required.
	ReceivedAt time.Time
	// Key is the record key: set by NewMessage when empty (KeyOf), read
	// back by Parse. A UUID or a ULID.
	Key string
}

// CheckName reports whether s may be a network or an input channel name:
// not empty, at most 200 bytes, printable ASCII without '/' (the
// separator), ',' and the Redis glob characters *?[]\ (which PSUBSCRIBE
// would take as a pattern).
func CheckName(s string) error {
	if s == "" || len(s) > 200 {
		return fmt.Errorf("%w: name %.80q must have 1 to 200 bytes", ErrInvalid, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("/,*?[]\\", c) >= 0 {
			return fmt.Errorf("%w: name %.80q: %q is not allowed (printable ASCII without space, / , * ? [ ] \\)", ErrInvalid, s, c)
		}
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%w: name %q is not allowed", ErrInvalid, s)
	}
	return nil
}

// CheckEvent reports whether s may be an event name: not empty, and
// Path(n, c, s) a stream path (topics/streams: valid UTF-8, no control
// characters, no ',', no "." or ".." segment, not too long) for names n and
// c of 1 byte.
func CheckEvent(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty event name", ErrInvalid)
	}
	if err := publish.CheckPath(Path("n", "c", s)); err != nil {
		return fmt.Errorf("%w: event name: %w", ErrInvalid, err)
	}
	return nil
}

// Channel returns the Redis channel name of an event: EventHive's full
// event name <network>/<channel>/<event>.
func Channel(network, channel, event string) string {
	return network + Separator + channel + Separator + event
}

// Pattern returns the PSUBSCRIBE pattern of a receiver of network with
// input channel channel: <network>/<channel>/*, where Redis's '*' also
// matches '/'.
func Pattern(network, channel string) string {
	return network + Separator + channel + Separator + "*"
}

// Path returns the stream path a message is shown under:
// /eventhive/<network>/<channel>/<event>.
func Path(network, channel, event string) string {
	return streams.Join("eventhive", network, channel, event)
}

// KeyOf returns the record key of body: its __eventhive__.id member when
// that is a UUID in canonical lower-case form, otherwise a new ULID.
func KeyOf(body []byte) string {
	var m struct {
		Meta struct {
			ID string `json:"id"`
		} `json:"__eventhive__"`
	}
	if json.Unmarshal(body, &m) == nil && IsUUID(m.Meta.ID) {
		return m.Meta.ID
	}
	return watermill.NewULID()
}

// IsUUID reports whether s is a UUID in canonical lower-case text form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func (in Input) validate() error {
	if err := CheckName(in.Network); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if err := CheckName(in.Channel); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	if err := CheckEvent(in.Event); err != nil {
		return err
	}
	switch in.Verification {
	case Unverified, Signed, Encrypted:
	default:
		return fmt.Errorf("%w: verification %.80q", ErrInvalid, in.Verification)
	}
	if in.Key != "" && !IsUUID(in.Key) && !publish.ValidKey(in.Key) {
		return fmt.Errorf("%w: key %.80q is neither a UUID nor a ULID", ErrInvalid, in.Key)
	}
	if len(in.Body) == 0 {
		return fmt.Errorf("%w: empty body", ErrInvalid)
	}
	if in.ReceivedAt.IsZero() {
		return fmt.Errorf("%w: no receive time", ErrInvalid)
	}
	return nil
}

// NewMessage returns the raw-topic message of in, keyed by KeyOf(in.Body)
// when in.Key is empty. It fails, with an error wrapping ErrInvalid, when
// in breaks a rule of the Input fields. The message shares in.Body.
func NewMessage(in Input) (*message.Message, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	key := in.Key
	if key == "" {
		key = KeyOf(in.Body)
	}
	md := message.Metadata{
		HeaderNetwork: in.Network, HeaderChannel: in.Channel, HeaderEvent: in.Event,
		HeaderVerification: in.Verification, topics.HeaderPartitionKey: Path(in.Network, in.Channel, in.Event),
	}
	return format.NewMessage(raw.Record{Key: key, ReceivedAt: in.ReceivedAt, Body: in.Body, Metadata: md})
}

// Parse reads an eventhive raw record. It fails, with an error wrapping
// ErrInvalid, when the record is of another source kind, has no key, or
// breaks a rule of the Input fields. The Input shares the record's body.
func Parse(rec raw.Record) (Input, error) {
	if err := format.Check(rec); err != nil {
		return Input{}, err
	}
	md := rec.Metadata
	in := Input{
		Network: md.Get(HeaderNetwork), Channel: md.Get(HeaderChannel), Event: md.Get(HeaderEvent),
		Verification: md.Get(HeaderVerification), Body: rec.Body, ReceivedAt: rec.ReceivedAt, Key: rec.Key,
	}
	if in.Key == "" {
		return Input{}, fmt.Errorf("%w: no key", ErrInvalid)
	}
	if err := in.validate(); err != nil {
		return Input{}, err
	}
	return in, nil
}
