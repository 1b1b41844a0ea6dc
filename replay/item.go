package replay

import (
	"errors"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
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

// NewItem renders the events record rec. STUB: the KOI event JSON with the
// pubsub members; the full rendering (GitPubSub commit shape, published
// payloads as published) replaces it.
func NewItem(rec *kgo.Record) (*Item, error) {
	r, err := events.Parse(topics.MessageFromRecord(rec))
	if err != nil {
		return nil, errors.Join(ErrNotAnEvent, err)
	}
	path := r.Observation.Path
	if path == "" {
		path = "/events"
	}
	tops, err := streams.Topics(path)
	if err != nil {
		return nil, errors.Join(ErrNotAnEvent, err)
	}
	it := &Item{
		Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp,
		RID: r.Observation.RID, EventType: r.EventType, Path: path, Topics: tops,
		Key: events.GHTorrentKey(r.RoutingKey),
	}
	v := r.Value
	for len(v) > 0 && v[len(v)-1] != '}' {
		v = v[:len(v)-1]
	}
	h := append([]byte(nil), v[:len(v)-1]...)
	h = append(h, `,"pubsub_path":`...)
	h = strconv.AppendQuote(h, path)
	h = append(h, `,"pubsub_topics":[`...)
	for i, t := range tops {
		if i > 0 {
			h = append(h, ',')
		}
		h = strconv.AppendQuote(h, t)
	}
	h = append(h, `],"pubsub_timestamp":`...)
	h = strconv.AppendFloat(h, float64(rec.Timestamp.UnixMicro())/1e6, 'f', 6, 64)
	it.head = h
	return it, nil
}
