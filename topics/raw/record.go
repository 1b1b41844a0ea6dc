package raw

import (
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
)

// Headers of a raw record. See the package documentation.
const (
	// HeaderSource is the kind of source that produced the record, for
	// example "github-webhook"; the normalize stage picks the parser by it.
	HeaderSource = "koistream-source"
	// HeaderReceivedAt is when the source received the input, RFC 3339
	// with nanoseconds, UTC.
	HeaderReceivedAt = "koistream-received-at"
	// HeaderContentType is the media type the body arrived with.
	HeaderContentType = "content-type"
	// HeaderUserAgent is the User-Agent the input arrived with, when it
	// had one.
	HeaderUserAgent = "user-agent"
)

// ErrInvalid is wrapped by every error NewMessage and Parse return. The
// messages quote keys and header values cut to 80 characters: those come
// from outside, and the errors end up in dead records' headers.
var ErrInvalid = errors.New("raw: invalid record")

// Record is one raw record.
type Record struct {
	// Key is the source-unique id of the input. Required.
	Key string
	// Source is the source kind (HeaderSource). Required.
	Source string
	// ReceivedAt is when the source received the input. Required; kept
	// in UTC to the nanosecond.
	ReceivedAt time.Time
	// ContentType is the body's media type as received; may be empty.
	ContentType string
	// UserAgent is the User-Agent the input came with; may be empty.
	UserAgent string
	// Body is the input as received. A Record from Parse shares it with
	// the message's payload.
	Body []byte
	// Metadata holds the source's own headers (for GitHub, the X-GitHub-*
	// set of topics/github) as received. NewMessage writes them before the
	// fields above, which win over an entry of the same name. A Record from
	// Parse shares the message's metadata, every header included: read it,
	// do not modify it.
	Metadata message.Metadata
}

// schemaKeys are the metadata entries NewMessage writes from Record's
// fields.
var schemaKeys = [...]string{topics.RecordKey, HeaderSource, HeaderReceivedAt, HeaderContentType, HeaderUserAgent}

// NewMessage returns the raw-topic message of r: keyed by r.Key, the body
// as the payload, r.Metadata and the schema headers as metadata. It fails,
// with an error wrapping ErrInvalid, when r lacks its key, source or receive
// time. The message shares r.Body.
func NewMessage(r Record) (*message.Message, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	md := make(message.Metadata, len(r.Metadata)+len(schemaKeys))
	for k, v := range r.Metadata {
		md[k] = v
	}
	for _, k := range schemaKeys {
		delete(md, k)
	}
	md[topics.RecordKey] = r.Key
	md[HeaderSource] = r.Source
	md[HeaderReceivedAt] = r.ReceivedAt.UTC().Format(time.RFC3339Nano)
	md[HeaderContentType] = r.ContentType
	if r.UserAgent != "" {
		md[HeaderUserAgent] = r.UserAgent
	}
	m := message.NewMessage(watermill.NewUUID(), r.Body)
	m.Metadata = md
	return m, nil
}

func (r Record) validate() error {
	switch {
	case r.Source == "":
		return fmt.Errorf("%w %.80q: no source kind", ErrInvalid, r.Key)
	case r.Key == "":
		return fmt.Errorf("%w: %.80q input without a key", ErrInvalid, r.Source)
	case r.ReceivedAt.IsZero():
		return fmt.Errorf("%w %.80q: no receive time", ErrInvalid, r.Key)
	}
	return nil
}

// Parse takes a raw-topic message apart. It fails, with an error wrapping
// ErrInvalid that names the record and what is missing or malformed, when
// the message has no key, no HeaderSource or no HeaderReceivedAt in RFC
// 3339. Which source kinds exist, and what the body and the source's
// headers must hold, is for the source's parser to check. The Record shares
// msg's payload and metadata.
func Parse(msg *message.Message) (Record, error) {
	md := msg.Metadata
	r := Record{
		Key:         md.Get(topics.RecordKey),
		Source:      md.Get(HeaderSource),
		ContentType: md.Get(HeaderContentType),
		UserAgent:   md.Get(HeaderUserAgent),
		Body:        msg.Payload,
		Metadata:    md,
	}
	if r.Source == "" {
		return Record{}, fmt.Errorf("%w %.80q: no %s header", ErrInvalid, r.Key, HeaderSource)
	}
	if r.Key == "" {
		return Record{}, fmt.Errorf("%w: %.80q record without a key", ErrInvalid, r.Source)
	}
	at := md.Get(HeaderReceivedAt)
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return Record{}, fmt.Errorf("%w %.80q: %s %.80q is not an RFC 3339 time", ErrInvalid, r.Key, HeaderReceivedAt, at)
	}
	r.ReceivedAt = t.UTC()
	return r, nil
}
