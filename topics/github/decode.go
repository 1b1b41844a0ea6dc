package github

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/koi"
)

// ErrBadPayload is wrapped by every error that DecodeBody, ExtractPayload,
// CheckDelivery and CheckEvent return (and, through them, stages/github's
// Normalize). Such errors are permanent: the same input always fails the same
// way, so a source answers 4xx and a stage routes the record to the dead
// topic (with the error text as the reason) rather than retry it. Test for it
// with errors.Is.
var ErrBadPayload = errors.New("github: bad webhook payload")

// ErrUnsupportedContentType is wrapped, together with ErrBadPayload, by the
// DecodeBody error for a missing or unsupported Content-Type, so an HTTP
// source can answer 415 rather than 400.
var ErrUnsupportedContentType = errors.New("github: unsupported content type")

// Media types GitHub delivers webhook payloads with.
const (
	mediaTypeJSON = "application/json"
	mediaTypeForm = "application/x-www-form-urlencoded"
)

// maxDepth is the deepest nesting of JSON arrays and objects a payload may
// have. It matches koi.Canonicalize's limit, so every payload a parser
// accepts can also be hashed downstream, and it bounds the recursion of the
// JSON decoder the parser uses, which has no limit of its own.
const maxDepth = koi.MaxNestingDepth

// DecodeBody returns the JSON payload carried by a webhook body received
// with the given Content-Type header value.
//
// For application/json the payload is body itself: the returned slice
// aliases body (no copy is made). For application/x-www-form-urlencoded it is
// the URL-decoded value of the first "payload" form field, in a newly
// allocated slice. Media types are compared case-insensitively and
// parameters such as "; charset=utf-8" are ignored.
//
// The payload must be a single JSON object (surrounding whitespace allowed)
// in valid UTF-8, nested at most koi.MaxNestingDepth deep. Any other content
// type, a form without a payload field, a malformed percent-escape in the
// payload field, or a payload that is not such an object yields an error
// wrapping ErrBadPayload.
//
// DecodeBody does not retain or modify body and is safe for concurrent use.
func DecodeBody(contentType string, body []byte) ([]byte, error) {
	payload, err := ExtractPayload(contentType, body)
	if err != nil {
		return nil, err
	}
	if !jsonscan.Valid(payload, maxDepth) {
		return nil, fmt.Errorf("%w: payload is not valid JSON", ErrBadPayload)
	}
	return payload, nil
}

// ExtractPayload is DecodeBody without the full JSON validation, for a
// parser that decodes the payload anyway and so finds any syntax error
// itself: it extracts the payload as DecodeBody does and checks only what a
// JSON decoder does not (one object, valid UTF-8, nesting at most
// koi.MaxNestingDepth deep), sparing the payload a validating pass. Errors
// wrap ErrBadPayload. It does not retain or modify body and is safe for
// concurrent use.
func ExtractPayload(contentType string, body []byte) ([]byte, error) {
	payload, err := extractPayload(contentType, body)
	if err != nil {
		return nil, err
	}
	if err := precheck(payload); err != nil {
		return nil, err
	}
	return payload, nil
}

// extractPayload returns the payload bytes for contentType without checking
// that they are JSON.
func extractPayload(contentType string, body []byte) ([]byte, error) {
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, mediaTypeJSON):
		return body, nil
	case strings.EqualFold(mt, mediaTypeForm):
		return formPayload(body)
	case mt == "":
		return nil, fmt.Errorf("%w: %w: missing content type", ErrBadPayload, ErrUnsupportedContentType)
	default:
		return nil, fmt.Errorf("%w: %w: %q", ErrBadPayload, ErrUnsupportedContentType, truncate(contentType, 100))
	}
}

// formPayload returns the URL-decoded value of the first "payload" field of
// an application/x-www-form-urlencoded body. Like url.ParseQuery it splits
// fields on '&' only and decodes '+' as a space; unlike it, malformed escapes
// in other fields are ignored.
func formPayload(body []byte) ([]byte, error) {
	for rest := body; len(rest) > 0; {
		var field []byte
		field, rest, _ = bytes.Cut(rest, []byte{'&'})
		key, value, _ := bytes.Cut(field, []byte{'='})
		if !isPayloadKey(key) {
			continue
		}
		v, ok := unescapeForm(value)
		if !ok {
			return nil, fmt.Errorf("%w: malformed percent-escape in form field payload", ErrBadPayload)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%w: form body has no payload field", ErrBadPayload)
}

// isPayloadKey reports whether the (still escaped) form key decodes to
// "payload".
func isPayloadKey(key []byte) bool {
	if string(key) == "payload" {
		return true
	}
	if len(key) < len("payload") || bytes.IndexAny(key, "%+") < 0 {
		return false
	}
	k, ok := unescapeForm(key)
	return ok && string(k) == "payload"
}

// unescapeForm decodes a form-encoded value into a new slice: "+" becomes a
// space and "%XX" the byte 0xXX. It reports false for a malformed escape.
func unescapeForm(s []byte) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(s) {
				return nil, false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, false
			}
			out = append(out, hi<<4|lo)
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// precheck verifies what the JSON decoder does not: that the payload is an
// object (not another JSON value), that it is valid UTF-8, and that its
// nesting depth is bounded, so the recursive decoder can neither exhaust the
// stack nor accept text that is not JSON by RFC 8259.
func precheck(p []byte) error {
	i := jsonscan.SkipSpace(p, 0)
	if i == len(p) {
		return fmt.Errorf("%w: empty payload", ErrBadPayload)
	}
	if p[i] != '{' {
		return fmt.Errorf("%w: payload is not a JSON object", ErrBadPayload)
	}
	if !utf8.Valid(p) {
		return fmt.Errorf("%w: payload is not valid UTF-8", ErrBadPayload)
	}
	// A payload with no more brackets than the limit cannot nest deeper than
	// it; bytes.Count is vectorised, so real payloads skip the scan below.
	if bytes.Count(p, []byte{'{'})+bytes.Count(p, []byte{'['}) <= maxDepth {
		return nil
	}
	// Only the object is measured: the decoder stops where it ends and
	// rejects whatever follows without descending into it. Any other fault
	// ValueEnd finds (an unterminated string, unbalanced brackets) is the
	// decoder's to report.
	if _, err := jsonscan.ValueEnd(p, i, maxDepth); errors.Is(err, jsonscan.ErrTooDeep) {
		return fmt.Errorf("%w: payload nested deeper than %d", ErrBadPayload, maxDepth)
	}
	return nil
}

// truncate shortens s to at most n bytes for use in error messages, so that
// errors never carry a large part of a payload.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
