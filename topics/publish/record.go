package publish

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/streams"
)

// SourceKind is the raw.HeaderSource value of publish records, the key the
// publish parser is registered under.
const SourceKind = "publish"

// Headers of a publish raw record, beyond raw's own and
// topics.HeaderPartitionKey. See the package documentation.
const (
	// HeaderPath is the stream path the object was published to
	// (topics/streams grammar, starting with '/').
	HeaderPath = "koistream-publish-path"
	// HeaderRemote is the publisher's network address (host:port) as the
	// listener saw it.
	HeaderRemote = "koistream-publish-remote"
)

// ErrInvalid is wrapped by every error NewMessage and Parse return.
var ErrInvalid = errors.New("publish: invalid record")

// format is what topics/raw applies to every publish record: the source
// kind, the default content type, and ErrInvalid around its errors.
var format = raw.Format{Source: SourceKind, Invalid: ErrInvalid, ContentType: "application/json"}

// Input is one publish raw record.
type Input struct {
	// Path is the stream path published to: starts with '/' and follows
	// topics/streams.CheckPath. Required.
	Path string
	// Remote is the publisher's address; may be empty.
	Remote string
	// Body is the object as received. Required (not empty); NewMessage
	// does not check that it is a JSON object, the listener does before
	// and the parser again after.
	Body []byte
	// ContentType is the body's media type as received; empty is written
	// as application/json.
	ContentType string
	// UserAgent is the publisher's User-Agent, if it sent one.
	UserAgent string
	// ReceivedAt is when the listener received the body. Required.
	ReceivedAt time.Time
	// Key is the record key, a ULID: set by NewMessage when empty, read
	// back by Parse.
	Key string
}

// crockford is the ULID alphabet (Crockford's base 32, upper case).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ValidKey reports whether k is a ULID in its canonical text form: 26
// characters of Crockford's base 32, upper case, the first at most '7' (a
// ULID is 128 bits).
func ValidKey(k string) bool {
	if len(k) != 26 || k[0] > '7' {
		return false
	}
	for i := 0; i < len(k); i++ {
		if strings.IndexByte(crockford, k[i]) < 0 {
			return false
		}
	}
	return true
}

// CheckPath reports whether path may be published to: it starts with '/'
// and follows topics/streams.CheckPath (whose error it wraps).
func CheckPath(path string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%w %.80q: does not start with /", streams.ErrInvalidPath, path)
	}
	return streams.CheckPath(path)
}

func (in Input) validate() error {
	if err := CheckPath(in.Path); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if in.Key != "" && !ValidKey(in.Key) {
		return fmt.Errorf("%w: key %.80q is not a ULID", ErrInvalid, in.Key)
	}
	if len(in.Body) == 0 {
		return fmt.Errorf("%w: empty body", ErrInvalid)
	}
	if in.ReceivedAt.IsZero() {
		return fmt.Errorf("%w: no receive time", ErrInvalid)
	}
	return nil
}

// NewMessage returns the raw-topic message of in, with a new ULID as its
// key when in.Key is empty. It fails, with an error wrapping ErrInvalid,
// when in breaks a rule of the Input fields. The message shares in.Body.
func NewMessage(in Input) (*message.Message, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	key := in.Key
	if key == "" {
		key = watermill.NewULID()
	}
	md := message.Metadata{HeaderPath: in.Path, topics.HeaderPartitionKey: in.Path}
	if in.Remote != "" {
		md[HeaderRemote] = in.Remote
	}
	return format.NewMessage(raw.Record{
		Key: key, ReceivedAt: in.ReceivedAt,
		ContentType: in.ContentType, UserAgent: in.UserAgent, Body: in.Body, Metadata: md,
	})
}

// Parse reads a publish raw record. It fails, with an error wrapping
// ErrInvalid, when the record is of another source kind or breaks a rule
// of the Input fields (a key that is not a ULID included). The Input
// shares the record's body.
func Parse(rec raw.Record) (Input, error) {
	if err := format.Check(rec); err != nil {
		return Input{}, err
	}
	md := rec.Metadata
	in := Input{
		Path:        md.Get(HeaderPath),
		Remote:      md.Get(HeaderRemote),
		Body:        rec.Body,
		ContentType: rec.ContentType,
		UserAgent:   rec.UserAgent,
		ReceivedAt:  rec.ReceivedAt,
		Key:         rec.Key,
	}
	if in.Key == "" {
		return Input{}, fmt.Errorf("%w: no key", ErrInvalid)
	}
	if err := in.validate(); err != nil {
		return Input{}, err
	}
	return in, nil
}
