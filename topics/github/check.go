package github

import (
	"errors"
	"fmt"
	"strings"
)

// maxEventLen bounds an event name. GitHub's longest, such as
// "branch_protection_configuration", have 31 characters; the name is copied
// into every observation of the delivery and into routing keys, so a longer
// one is refused rather than carried.
const maxEventLen = 64

// MaxDeliveryLen bounds an X-GitHub-Delivery value a source takes in.
// GitHub's delivery ids are 36-character GUIDs; the id is the raw record's
// key, a header of the record and part of every observation's RID, so an
// id of kilobytes would be copied into all of them (a 500 KB one made the
// raw record larger than the log takes).
const MaxDeliveryLen = 128

// headerError is a refused header value. Its text names the header and
// what is wrong, so a source can hand it to the client as is; it wraps
// ErrBadPayload, so every refusal of a delivery matches one sentinel.
type headerError struct{ msg string }

func (e *headerError) Error() string { return e.msg }
func (e *headerError) Unwrap() error { return ErrBadPayload }

func headerErrorf(format string, args ...any) error {
	return &headerError{msg: fmt.Sprintf(format, args...)}
}

// CheckEvent reports whether e can be an X-GitHub-Event value: 1 to 64
// lowercase ASCII letters and underscores, as every event name GitHub
// documents is ("push", "pull_request_review_comment"). The error names the
// header and says what is wrong; it wraps ErrBadPayload. Sources call it to
// refuse such input up front; parsers of records already in the raw topic
// need not, since the raw log is never rewritten.
func CheckEvent(e string) error {
	if e == "" {
		return headerErrorf("%s is empty", HeaderEvent)
	}
	if len(e) > maxEventLen {
		return headerErrorf("%s %q is longer than %d bytes", HeaderEvent, truncate(e, 80), maxEventLen)
	}
	for i := 0; i < len(e); i++ {
		if c := e[i]; (c < 'a' || c > 'z') && c != '_' {
			return headerErrorf("%s %q has %q at byte %d: GitHub's event names are lowercase letters and underscores",
				HeaderEvent, truncate(e, 80), e[i:i+1], i)
		}
	}
	return nil
}

// CheckDelivery reports whether d can be an X-GitHub-Delivery value: it
// becomes the last component of the event's RID, so it must be non-empty
// printable ASCII without space, ':' or '/' (GitHub's GUIDs are). The error
// names the header and says what is wrong; it wraps ErrBadPayload. Sources
// call it to refuse such input up front; parsers call it because the RID
// depends on it.
func CheckDelivery(d string) error {
	if d == "" {
		return headerErrorf("%s is empty", HeaderDelivery)
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; c <= ' ' || c >= 0x7f || c == ':' || c == '/' {
			return headerErrorf("%s %q is not printable ASCII without ' ', ':' or '/': it is the last part of the event's RID",
				HeaderDelivery, truncate(d, 80))
		}
	}
	return nil
}

// CheckIncomingDelivery is the check a source applies to a delivery id it
// takes in: at most MaxDeliveryLen bytes, and what CheckDelivery checks.
// The error names the header and says what is wrong without repeating a
// long value; it wraps ErrBadPayload. Parsers keep using CheckDelivery, so
// records stored before the bound existed replay as they did.
func CheckIncomingDelivery(d string) error {
	if len(d) > MaxDeliveryLen {
		return headerErrorf("%s is %d bytes long; at most %d are accepted (GitHub's delivery ids are 36-character GUIDs)",
			HeaderDelivery, len(d), MaxDeliveryLen)
	}
	return CheckDelivery(d)
}

// Reason returns what err, an error of DecodeBody, ExtractPayload,
// CheckEvent, CheckDelivery or CheckIncomingDelivery, says is wrong with a
// delivery, in the sender's terms: without the package prefix the error
// text carries for logs and dead-letter reasons. A source hands it to the
// client. Any other error is returned as its text.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	if h, ok := errors.AsType[*headerError](err); ok {
		return h.msg
	}
	// The errors of decode.go are "<ErrBadPayload>: [<ErrUnsupportedContentType>: ]<reason>".
	s := strings.TrimPrefix(err.Error(), ErrBadPayload.Error()+": ")
	if rest, ok := strings.CutPrefix(s, ErrUnsupportedContentType.Error()+": "); ok {
		return "unsupported content type: " + rest
	}
	return s
}
