package github

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"

	"github.com/koistream/koistream/topics/koi"
)

// writer assembles canonical contents. Scalar members are copied from the
// payload as raw JSON after their kind is checked, which keeps them exact and
// avoids decoding them. The first kind mismatch is kept in err; later errors
// are dropped. Member names passed to the methods are constants relative to
// the object being written (ctx, and idx for an array element), so that
// error paths cost nothing until an error happens.
type writer struct {
	b   []byte
	err error
	ctx string // path of the object being written, e.g. "commits"
	idx int    // index of that object in its array, or -1
	bad error  // the sentinel errors wrap; nil means ErrBadPayload
}

// sentinel returns the error that w's errors wrap: ErrBadPayload for
// webhook payloads, ErrBadAPIResponse for REST responses.
func (w *writer) sentinel() error {
	if w.bad != nil {
		return w.bad
	}
	return ErrBadPayload
}

// at sets the object that member names are relative to.
func (w *writer) at(ctx string, idx int) {
	w.ctx, w.idx = ctx, idx
}

// path returns the payload path of member name of the current object.
func (w *writer) path(name string) string {
	p := w.ctx
	if w.idx >= 0 {
		p += "." + strconv.Itoa(w.idx)
	}
	return p + "." + name
}

// lit appends literal JSON text.
func (w *writer) lit(s string) { w.b = append(w.b, s...) }

func (w *writer) fail(name, want string, raw []byte) {
	if w.err == nil {
		w.err = fmt.Errorf("%w: %s: want %s, got %s", w.sentinel(), w.path(name), want, kindOf(raw))
	}
}

// isNull reports whether a raw member is absent or JSON null.
func isNull(raw []byte) bool {
	return len(raw) == 0 || raw[0] == 'n'
}

// kindOf names the JSON kind of a raw value for error messages.
func kindOf(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	n := 0
	for n < len(raw) && n < 40 && strings.IndexByte("+-.0123456789eE", raw[n]) >= 0 {
		n++
	}
	return "number " + string(raw[:n])
}

// str appends a string member, or null.
func (w *writer) str(raw []byte, name string) {
	switch {
	case isNull(raw):
		w.lit("null")
	case raw[0] == '"':
		w.b = append(w.b, raw...)
	default:
		w.fail(name, "string or null", raw)
	}
}

// integer appends an integer member, or null.
func (w *writer) integer(raw []byte, name string) {
	switch {
	case isNull(raw):
		w.lit("null")
	case isInteger(raw):
		w.b = append(w.b, raw...)
	default:
		w.fail(name, "integer or null", raw)
	}
}

// boolean appends a boolean member, or null.
func (w *writer) boolean(raw []byte, name string) {
	switch {
	case isNull(raw):
		w.lit("null")
	case raw[0] == 't' || raw[0] == 'f':
		w.b = append(w.b, raw...)
	default:
		w.fail(name, "boolean or null", raw)
	}
}

// Bounds of integer epoch timestamps: 1970-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z, the years koi.FormatTimestamp can print.
const (
	minEpoch = 0
	maxEpoch = 253402300799
)

// timestamp appends a timestamp member normalized with koi.FormatTimestamp,
// or null. GitHub sends ISO 8601 strings with any offset, except in push
// payloads, whose repository created_at and pushed_at are integer Unix
// seconds; both are accepted everywhere.
func (w *writer) timestamp(raw []byte, name string) {
	switch {
	case isNull(raw):
		w.lit("null")
	case raw[0] == '"':
		s, ok := rawString(raw)
		if !ok {
			w.fail(name, "timestamp", raw)
			return
		}
		t, err := koi.ParseTimestamp(s)
		if err != nil {
			if w.err == nil {
				w.err = fmt.Errorf("%w: %s: invalid timestamp %q", w.sentinel(), w.path(name), truncate(s, 40))
			}
			return
		}
		w.appendTime(t)
	case isInteger(raw):
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n < minEpoch || n > maxEpoch {
			if w.err == nil {
				w.err = fmt.Errorf("%w: %s: epoch timestamp %s out of range", w.sentinel(), w.path(name), truncate(string(raw), 40))
			}
			return
		}
		w.appendTime(time.Unix(n, 0))
	default:
		w.fail(name, "timestamp or null", raw)
	}
}

func (w *writer) appendTime(t time.Time) {
	w.b = append(w.b, '"')
	w.b = append(w.b, koi.FormatTimestamp(t)...)
	w.b = append(w.b, '"')
}

// login appends the login of a user-like object, or null when the object
// is absent or null. name is the login member's path, e.g. "user.login".
func (w *writer) login(u *loginWire, name string) {
	if u == nil {
		w.lit("null")
		return
	}
	w.str(u.Login, name)
}

// labels appends the names of labels as an array ([] when there are none).
// name is the path of a label's name, e.g. "labels[].name".
func (w *writer) labels(ls []labelWire, name string) {
	w.lit("[")
	for i := range ls {
		if i > 0 {
			w.lit(",")
		}
		w.str(ls[i].Name, name)
	}
	w.lit("]")
}

// logins appends the logins of users as an array ([] when there are none).
// name is the path of a user's login, e.g. "assignees[].login".
func (w *writer) logins(us []loginWire, name string) {
	w.lit("[")
	for i := range us {
		if i > 0 {
			w.lit(",")
		}
		w.str(us[i].Login, name)
	}
	w.lit("]")
}

// person appends {name, email} of a commit author or committer, or null.
// nameField and emailField are the members' paths.
func (w *writer) person(p *personWire, nameField, emailField string) {
	if p == nil {
		w.lit("null")
		return
	}
	w.lit(`{"name":`)
	w.str(p.Name, nameField)
	w.lit(`,"email":`)
	w.str(p.Email, emailField)
	w.lit(`}`)
}

// ref appends {ref, sha} of a pull request head or base, or null.
// refField and shaField are the members' paths.
func (w *writer) ref(r *refWire, refField, shaField string) {
	if r == nil {
		w.lit("null")
		return
	}
	w.lit(`{"ref":`)
	w.str(r.Ref, refField)
	w.lit(`,"sha":`)
	w.str(r.SHA, shaField)
	w.lit(`}`)
}

// isInteger reports whether raw, a JSON number the decoder already
// validated, is an integer: an optional minus sign and digits only.
func isInteger(raw []byte) bool {
	if len(raw) > 0 && raw[0] == '-' {
		raw = raw[1:]
	}
	if len(raw) == 0 {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// rawString returns the value of a raw JSON string. Strings without escapes,
// the common case, are sliced rather than decoded.
func rawString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// quotedLen returns len(appendString(nil, s)) for valid UTF-8 s.
func quotedLen(s string) int {
	n := 2 + len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}

// appendString appends s as a JSON string the way RFC 8785 and pydantic
// print strings: '"' and '\\' escaped, \b \f \n \r \t as short escapes,
// other control characters as lowercase \u00xx, everything else (including
// non-ASCII, U+2028/U+2029 and HTML characters) as raw UTF-8. Invalid UTF-8
// is replaced by U+FFFD so the output is always valid JSON text.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
