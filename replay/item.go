package replay

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/streams"
)

// Item is one events record as the streams show it: a JSON object carrying,
// besides what it says, pubsub_path, pubsub_topics, pubsub_timestamp and
// pubsub_cursor, the four members PyPubSub adds to every payload
// (PUBSUB.md 2.2). Items are immutable once built and shared by every
// subscription that shows them; they are safe for concurrent reads.
type Item struct {
	// Partition and Offset locate the events record.
	Partition int32
	Offset    int64
	// Timestamp is the events record's timestamp, what X-Fetch-Since
	// compares and pubsub_timestamp shows (seconds since the epoch).
	Timestamp time.Time
	// RID and EventType are the KOI event's.
	RID       string
	EventType koi.EventType
	// Path is the stream path (observed.HeaderPath, or derived from the
	// RID for records without one), Topics its topics.
	Path   string
	Topics []string
	// Key is the routing key in GHTorrent's form (events.GHTorrentKey).
	Key string

	// head is the object without its closing brace, ending with the
	// pubsub_timestamp member: AppendObject adds the cursor.
	head []byte
}

// AppendObject appends the item's JSON object with cursor as its
// pubsub_cursor to dst. cursor is a Cursor's text, which needs no JSON
// escaping.
func (it *Item) AppendObject(dst, cursor []byte) []byte {
	dst = append(dst, it.head...)
	dst = append(dst, `,"pubsub_cursor":"`...)
	dst = append(dst, cursor...)
	return append(dst, `"}`...)
}

// Size is roughly the memory the item holds, in bytes, for the hub's ring
// budget.
func (it *Item) Size() int {
	return len(it.head) + len(it.Path) + len(it.RID) + len(it.Key) + 16*len(it.Topics) + 160
}

// ErrNotAnEvent is wrapped by NewItem's errors: the record is not an
// events record (a stray write by another Kafka client). Readers skip it,
// moving their cursors past it.
var ErrNotAnEvent = errors.New("replay: not an events record")

// RID types NewItem renders in shapes of their own.
const (
	// TypeCommit is the type of git commits (stages/github), shown in the
	// ASF GitPubSub commit shape.
	TypeCommit = "orn:github.commit"
	// TypePublished is the type of payloads published to the stream
	// listener, shown as they were published.
	TypePublished = "orn:pubsub.message"
)

// NewItem renders the events record rec as the streams show it. The
// object is, by the kind of the event:
//
//   - a commit (RID type TypeCommit, NEW or UPDATE): the ASF GitPubSub
//     commit shape (PUBSUB.md 1.9) built from the canonical commit contents
//     of stages/github, {"commit":{"repository":"git","project","hash",
//     "sha","date","authored","author","email","committer","commited",
//     "subject","log","body","files":[],"html_url"},"rid","event_type"},
//     where project is the RID's <owner>/<repo>, hash the first 7 bytes of
//     the sha, date, authored and commited the commit's timestamp, subject
//     the message's first line, log the message and body what follows the
//     first line and the blank lines after it. Members missing or null in
//     the contents are null. Contents that are not of that shape (a member
//     of another JSON kind) are shown as any other event is.
//   - a published payload (RID type TypePublished, NEW or UPDATE): the
//     JSON object the publisher sent, the event's contents, as PyPubSub
//     shows it (PUBSUB.md 2.2).
//   - any other event: the KOI event JSON as stored, byte for byte but
//     for line breaks between tokens, which become spaces so that every
//     object is one line (the same holds for published payloads).
//
// Each ends with the members "pubsub_path" (the observed.HeaderPath header
// when present and valid, else PathOf the RID and routing stem),
// "pubsub_topics" (the path's topics), "pubsub_timestamp" (rec.Timestamp,
// seconds with six decimals) and, added by AppendObject,
// "pubsub_cursor". The strings NewItem writes itself are JSON-encoded with
// koi.AppendString, so the object is valid JSON whatever bytes a commit's
// strings hold; the rest is copied from the record unvalidated (ridify
// validated it before writing the record), which is what keeps rendering
// from decoding a webhook payload per item.
//
// Records whose headers are not an events record's (events.GlanceRecord), or
// whose value is not a JSON object, give an error wrapping ErrNotAnEvent.
// The item does not alias rec. NewItem is safe for concurrent use.
func NewItem(rec *kgo.Record) (*Item, error) {
	g, err := events.GlanceRecord(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAnEvent, err)
	}
	path := g.Path
	if path != "" && !validPath(path) {
		// An invalid path is not the event's fault; the event is still
		// worth showing, under the path its RID gives.
		path = ""
	}
	if path == "" {
		path = PathOf(g.RID, g.Routing)
	}
	tops, err := streams.Topics(path)
	if err != nil { // not reached: both paths were checked
		return nil, fmt.Errorf("%w: %w", ErrNotAnEvent, err)
	}
	it := &Item{
		Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp,
		RID: g.RID, EventType: g.EventType, Path: path, Topics: tops,
		Key: events.GHTorrentKey(g.RoutingKey),
	}
	h := make([]byte, 0, len(rec.Value)+2*len(path)+8*len(tops)+128)
	done := false
	if g.EventType != koi.EventForget {
		switch {
		case strings.HasPrefix(g.RID, TypeCommit+":"):
			h, done = appendCommit(h, g.RID, g.EventType, rec.Value)
		case strings.HasPrefix(g.RID, TypePublished+":"):
			if v, err := events.ParseValue(rec.Value); err == nil {
				h, done = appendOpen(h, v.Contents)
			}
		}
	}
	if !done {
		// One bracket-counting pass, far cheaper than validating, so that
		// a truncated or concatenated value is refused rather than shown.
		i := jsonscan.SkipSpace(rec.Value, 0)
		e, err := jsonscan.ValueEnd(rec.Value, i, koi.MaxNestingDepth)
		if err == nil && jsonscan.SkipSpace(rec.Value, e) == len(rec.Value) {
			h, done = appendOpen(h[:0], rec.Value)
		}
		if !done {
			return nil, fmt.Errorf("%w %.80q: value is not a JSON object", ErrNotAnEvent, g.RID)
		}
	}
	it.head = appendPubsub(h, path, tops, rec.Timestamp)
	return it, nil
}

// validPath reports whether p can be an observation's path.
func validPath(p string) bool {
	return p != "" && p[0] == '/' && streams.CheckPath(p) == nil
}

// appendOpen appends the JSON object obj without its closing brace, and a
// ',' after its last member when it has one, so that members can follow.
// It reports false, appending nothing, when obj is not '{' ... '}' (with
// whitespace around).
func appendOpen(dst, obj []byte) ([]byte, bool) {
	i := jsonscan.SkipSpace(obj, 0)
	e := len(obj)
	for e > i && isSpace(obj[e-1]) {
		e--
	}
	if e-i < 2 || obj[i] != '{' || obj[e-1] != '}' {
		return dst, false
	}
	inner := obj[i : e-1]
	start := len(dst)
	dst = append(dst, inner...)
	oneLine(dst[start:])
	if jsonscan.SkipSpace(inner, 1) < len(inner) {
		dst = append(dst, ',')
	}
	return dst, true
}

// oneLine replaces the line breaks in the JSON text b by spaces. In valid
// JSON a raw CR or LF byte can only be whitespace between tokens (inside
// strings they must be escaped), so the text keeps its meaning while the
// object stays on one line: GitPubSub's and PyPubSub's clients (asfpy)
// read an event up to the line break that ends it (PUBSUB.md 2.6), and
// webhook payloads and published bodies may be pretty-printed.
func oneLine(b []byte) {
	for _, c := range [2]byte{'\n', '\r'} {
		for i := bytes.IndexByte(b, c); i >= 0; {
			b[i] = ' '
			j := bytes.IndexByte(b[i+1:], c)
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendPubsub appends the pubsub members but the cursor.
func appendPubsub(h []byte, path string, tops []string, at time.Time) []byte {
	h = append(h, `"pubsub_path":`...)
	h = koi.AppendString(h, path)
	h = append(h, `,"pubsub_topics":[`...)
	for i, t := range tops {
		if i > 0 {
			h = append(h, ',')
		}
		h = koi.AppendString(h, t)
	}
	h = append(h, `],"pubsub_timestamp":`...)
	return AppendSeconds(h, at)
}

// AppendSeconds appends t as seconds since the epoch with exactly six
// decimals ("1795368479.117533"), the pubsub_timestamp form, computed in
// integers so that no float rounding changes a digit.
func AppendSeconds(dst []byte, t time.Time) []byte {
	us := t.UnixMicro()
	if us < 0 {
		dst = append(dst, '-')
		us = -us // UnixMicro's range ends far from math.MinInt64
	}
	dst = strconv.AppendInt(dst, us/1e6, 10)
	frac := us % 1e6
	dst = append(dst, '.')
	for d := int64(1e5); d > 0; d /= 10 {
		dst = append(dst, byte('0'+frac/d%10))
	}
	return dst
}

// commitFields are the raw JSON values of the canonical commit contents'
// members (nil when absent).
type commitFields struct {
	sha, message, timestamp, htmlURL []byte
	authorName, authorEmail          []byte
	committerName, committerEmail    []byte
}

// appendCommit appends the GitPubSub commit shape of the events record
// value of the commit rid, reporting false (dst's content then undefined
// beyond its original length) when the contents are not canonical commit
// contents.
func appendCommit(dst []byte, rid string, et koi.EventType, value []byte) ([]byte, bool) {
	v, err := events.ParseValue(value)
	if err != nil || v.Contents == nil {
		return dst, false
	}
	var f commitFields
	ok := eachMember(v.Contents, func(name, val []byte) bool {
		switch string(name) {
		case "sha":
			f.sha = val
		case "message":
			f.message = val
		case "timestamp":
			f.timestamp = val
		case "html_url":
			f.htmlURL = val
		case "author":
			return person(val, &f.authorName, &f.authorEmail)
		case "committer":
			return person(val, &f.committerName, &f.committerEmail)
		}
		return true
	})
	if !ok {
		return dst, false
	}
	sha, ok1 := decodeString(f.sha)
	msg, ok2 := decodeString(f.message)
	if !ok1 || !ok2 {
		return dst, false
	}
	project := strings.TrimPrefix(rid, TypeCommit+":")
	if i := strings.LastIndexByte(project, ':'); i >= 0 {
		project = project[:i]
	}
	start := len(dst)
	dst = append(dst, `{"commit":{"repository":"git","project":`...)
	dst = koi.AppendString(dst, project)
	dst = append(dst, `,"hash":`...)
	if f.sha == nil || isNull(f.sha) {
		dst = append(dst, `null`...)
	} else {
		dst = koi.AppendString(dst, sha[:min(7, len(sha))])
	}
	w := stringWriter{b: dst, ok: true}
	w.member(`,"sha":`, f.sha)
	w.member(`,"date":`, f.timestamp)
	w.member(`,"authored":`, f.timestamp)
	w.member(`,"author":`, f.authorName)
	w.member(`,"email":`, f.authorEmail)
	w.member(`,"committer":`, f.committerName)
	w.member(`,"commited":`, f.timestamp)
	if f.message == nil || isNull(f.message) {
		w.b = append(w.b, `,"subject":null,"log":null,"body":null`...)
	} else {
		subject, body := splitMessage(msg)
		w.b = append(w.b, `,"subject":`...)
		w.b = koi.AppendString(w.b, subject)
		w.member(`,"log":`, f.message)
		w.b = append(w.b, `,"body":`...)
		w.b = koi.AppendString(w.b, body)
	}
	w.b = append(w.b, `,"files":[]`...)
	w.member(`,"html_url":`, f.htmlURL)
	dst = w.b
	if !w.ok {
		return dst[:start], false
	}
	dst = append(dst, `},"rid":`...)
	dst = koi.AppendString(dst, rid)
	dst = append(dst, `,"event_type":`...)
	dst = koi.AppendString(dst, string(et))
	return append(dst, ','), true
}

// stringWriter appends string members, remembering whether one was not a
// well-formed JSON string.
type stringWriter struct {
	b  []byte
	ok bool
}

// member appends name (`,"name":`) and the string raw re-encoded.
func (w *stringWriter) member(name string, raw []byte) {
	w.b = append(w.b, name...)
	var ok bool
	w.b, ok = appendJSONString(w.b, raw)
	w.ok = w.ok && ok
}

// person reads the name and email of a commit author or committer object
// (or null) into name and email.
func person(val []byte, name, email *[]byte) bool {
	if isNull(val) {
		return true
	}
	return eachMember(val, func(n, v []byte) bool {
		switch string(n) {
		case "name":
			*name = v
		case "email":
			*email = v
		}
		return true
	})
}

// splitMessage returns a commit message's subject, its first line, and
// body, what follows the first line and the blank lines after it.
func splitMessage(msg string) (subject, body string) {
	subject, rest, found := strings.Cut(msg, "\n")
	subject = strings.TrimSuffix(subject, "\r")
	if !found {
		return subject, ""
	}
	for rest != "" {
		line, after, found := strings.Cut(rest, "\n")
		if strings.TrimLeft(line, " \t\r") != "" {
			break
		}
		if !found {
			return subject, ""
		}
		rest = after
	}
	return subject, rest
}

func isNull(raw []byte) bool { return string(raw) == "null" }

// decodeString returns the value of the raw JSON string raw; "" for
// absent (nil) or null, and false when raw is something else or not a
// well-formed string.
func decodeString(raw []byte) (string, bool) {
	if raw == nil || isNull(raw) {
		return "", true
	}
	if len(raw) < 2 || raw[0] != '"' || jsonscan.ValidStringEnd(raw, 1) != len(raw) {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body), true
	}
	return string(jsonscan.AppendUnescaped(make([]byte, 0, len(body)), body)), true
}

// appendJSONString appends the raw JSON string raw re-encoded with
// koi.AppendString (copied when that would not change it: no escapes,
// valid UTF-8), or null for absent (nil) or null; false when raw is
// something else or not a well-formed string.
func appendJSONString(dst, raw []byte) ([]byte, bool) {
	if raw == nil || isNull(raw) {
		return append(dst, "null"...), true
	}
	if len(raw) < 2 || raw[0] != '"' || jsonscan.ValidStringEnd(raw, 1) != len(raw) {
		return dst, false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return append(dst, raw...), true
	}
	s, _ := decodeString(raw)
	return koi.AppendString(dst, s), true
}

// eachMember calls fn with the name (unescaped) and raw value of each
// member of the JSON object obj, in order, and reports false when obj is
// not structurally an object (see events.ParseValue) or fn returns false.
// It never reads past obj, whatever it holds.
func eachMember(obj []byte, fn func(name, val []byte) bool) bool {
	i := jsonscan.SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	var nameBuf [32]byte
	i = jsonscan.SkipSpace(obj, i+1)
	for i >= len(obj) || obj[i] != '}' {
		if i >= len(obj) || obj[i] != '"' {
			return false
		}
		ke := jsonscan.ValidStringEnd(obj, i+1)
		if ke < 0 {
			return false
		}
		name := obj[i+1 : ke-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			name = jsonscan.AppendUnescaped(nameBuf[:0], name)
		}
		i = jsonscan.SkipSpace(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return false
		}
		vs := jsonscan.SkipSpace(obj, i+1)
		ve, err := jsonscan.ValueEnd(obj, vs, koi.MaxNestingDepth)
		if err != nil {
			return false
		}
		if !fn(name, obj[vs:ve]) {
			return false
		}
		i = jsonscan.SkipSpace(obj, ve)
		if i < len(obj) && obj[i] == ',' {
			i = jsonscan.SkipSpace(obj, i+1)
			continue
		}
		if i >= len(obj) || obj[i] != '}' {
			return false
		}
	}
	return true
}
