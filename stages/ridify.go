package stages

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/koi"
)

// RidifyName is the registered name of the ridify stage.
const RidifyName = "ridify"

// Ridify turns observations into KOI events. For each RID it keeps the hash
// of the contents last announced: an RID never seen (or forgotten) gives NEW,
// other contents give UPDATE, the same contents give nothing, and a forget of
// a known RID gives FORGET (of an unknown one, nothing, as KOI-net nodes do).
//
// The manifest hash is sha256 of the RFC 8785 canonical JSON of the contents;
// the manifest timestamp is the time the input was received, moved forward
// by a microsecond where needed so that every RID's timestamps strictly
// increase (KOI-net peers ignore an update that is not newer).
//
// RIDs of immutable types (orn:github.event: one per delivery, never
// changed) keep no state: an upsert of one is always NEW, stamped with the
// receive time, and costs no state lookup or write. Dedupe has already
// dropped redeliveries; a record replayed after a crash announces the same
// bytes again, which consumers of an at-least-once log treat as a duplicate.
// A forget of one is ignored.
//
// Its input must be keyed by RID (the observed topic), so all observations
// of one RID arrive in order on one partition. State is written together
// with the observed position that caused it, before the event is published:
// a retry of that same record re-emits the same event, an older record
// replayed after a crash is skipped. Writes are not fsynced one by one: the
// segment runner fsyncs the state database once per poll, before the input
// offsets may be committed. A crash before that fsync loses state only for
// inputs that will be delivered again, and since ridify is deterministic
// given its state and input, they then produce the same events again.
// Safe for concurrent use.
type Ridify struct {
	db    *pebble.DB
	state *memo[ridState]
}

// ridifyMemo is how many RID states Ridify holds in memory (about 150 bytes
// each): the repositories, issues and pull requests of an active
// organisation, so their repeated observations skip Pebble.
const ridifyMemo = 1 << 16

// NewRidify is the [Factory] of the ridify stage. It takes no configuration
// and needs deps.State.
func NewRidify(deps Deps, cfg Config) (Stage, error) {
	if err := decodeNone(cfg); err != nil {
		return nil, err
	}
	if deps.State == nil {
		return nil, errors.New("ridify: state database is required")
	}
	return &Ridify{db: deps.State, state: newMemo[ridState](ridifyMemo)}, nil
}

// Name implements [Stage].
func (*Ridify) Name() string { return RidifyName }

// ridState is what ridify remembers per RID.
type ridState struct {
	hash      [32]byte
	eventType koi.EventType
	pos       logPos
	micros    int64 // manifest timestamp, µs since the epoch
}

const ridStateLen = 32 + 1 + logPosLen + 8

var eventTypeCodes = map[koi.EventType]byte{koi.EventNew: 'N', koi.EventUpdate: 'U', koi.EventForget: 'F'}

func (s ridState) encode() []byte {
	b := make([]byte, 0, ridStateLen)
	b = append(b, s.hash[:]...)
	b = append(b, eventTypeCodes[s.eventType])
	b = s.pos.append(b)
	return binary.BigEndian.AppendUint64(b, uint64(s.micros))
}

func decodeRidState(b []byte) (ridState, error) {
	if len(b) != ridStateLen {
		return ridState{}, fmt.Errorf("ridify state: %d bytes, want %d", len(b), ridStateLen)
	}
	var s ridState
	copy(s.hash[:], b[:32])
	switch b[32] {
	case 'N':
		s.eventType = koi.EventNew
	case 'U':
		s.eventType = koi.EventUpdate
	case 'F':
		s.eventType = koi.EventForget
	default:
		return ridState{}, fmt.Errorf("ridify state: bad event type %q", b[32])
	}
	var err error
	if s.pos, err = decodeLogPos(b[33:]); err != nil {
		return ridState{}, err
	}
	s.micros = int64(binary.BigEndian.Uint64(b[33+logPosLen:]))
	return s, nil
}

// Process implements [Stage].
func (r *Ridify) Process(ctx context.Context, msg *message.Message) ([]*message.Message, error) {
	md := msg.Metadata
	rid := md.Get(topics.HeaderRID)
	if rid == "" {
		return nil, Permanent(errors.New("ridify: observation has no RID"))
	}
	if _, err := koi.ParseRID(rid); err != nil {
		return nil, Permanent(fmt.Errorf("ridify: %w", err))
	}
	op := github.Op(md.Get(topics.HeaderOp))
	if op != github.OpUpsert && op != github.OpForget {
		return nil, Permanent(fmt.Errorf("ridify: %s: unknown op %q", rid, op))
	}
	p, ok := topics.PositionFromContext(ctx)
	if !ok {
		return nil, Permanent(errors.New("ridify: no log position for message"))
	}
	pos := logPos{partition: p.Partition, offset: p.Offset}
	receivedAt, err := time.Parse(time.RFC3339Nano, md.Get(topics.HeaderReceivedAt))
	if err != nil {
		return nil, Permanent(fmt.Errorf("ridify: %s: bad %s: %w", rid, topics.HeaderReceivedAt, err))
	}

	if immutableRID(rid) {
		if op != github.OpUpsert {
			return nil, nil
		}
		sum, err := contentHash(msg.Payload)
		if err != nil {
			return nil, Permanent(fmt.Errorf("ridify: %s: contents: %w", rid, err))
		}
		return r.emit(msg, rid, ridState{hash: sum, eventType: koi.EventNew, micros: receivedAt.UTC().UnixMicro()})
	}

	key := StateKey(RidifyName, rid)
	prev, known, err := r.load(key)
	if err != nil {
		return nil, err
	}
	if known && prev.pos.partition == pos.partition {
		if pos.offset < prev.pos.offset {
			return nil, nil // replayed after a crash: already handled
		}
		if pos.offset == prev.pos.offset {
			return r.emit(msg, rid, prev) // our own retry: same event again
		}
	}

	next := ridState{pos: pos}
	switch op {
	case github.OpForget:
		if !known || prev.eventType == koi.EventForget {
			return nil, nil
		}
		next.eventType = koi.EventForget
		next.micros = prev.micros
	case github.OpUpsert:
		sum, err := contentHash(msg.Payload)
		if err != nil {
			return nil, Permanent(fmt.Errorf("ridify: %s: contents: %w", rid, err))
		}
		next.hash = sum
		switch {
		case !known || prev.eventType == koi.EventForget:
			next.eventType = koi.EventNew
		case prev.hash == sum:
			return nil, nil // unchanged re-observation
		default:
			next.eventType = koi.EventUpdate
		}
		next.micros = receivedAt.UTC().UnixMicro()
		if known && next.micros <= prev.micros {
			next.micros = prev.micros + 1
		}
	}
	if err := r.write(key, next); err != nil {
		return nil, err
	}
	return r.emit(msg, rid, next)
}

func (r *Ridify) write(key []byte, st ridState) error {
	if err := r.db.Set(key, st.encode(), pebble.NoSync); err != nil {
		return fmt.Errorf("ridify: write state for %q: %w", key, err)
	}
	r.state.put(key, st)
	return nil
}

// immutableRID reports whether rid names something that never changes once
// announced.
func immutableRID(rid string) bool {
	return strings.HasPrefix(rid, koi.TypeGitHubEvent+":")
}

// canonBufs recycles canonical-JSON buffers: hashing is on every record's
// path and payloads run to tens of kilobytes.
var canonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// contentHash is the manifest hash of contents: sha256 of its RFC 8785
// canonical form.
func contentHash(contents []byte) ([32]byte, error) {
	bp := canonBufs.Get().(*[]byte)
	defer canonBufs.Put(bp)
	canon, err := koi.Canonicalize((*bp)[:0], contents)
	if err != nil {
		return [32]byte{}, err
	}
	*bp = canon
	return sha256.Sum256(canon), nil
}

func (r *Ridify) load(key []byte) (ridState, bool, error) {
	if s, ok := r.state.get(key); ok {
		return s, true, nil
	}
	val, closer, err := r.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return ridState{}, false, nil
	}
	if err != nil {
		return ridState{}, false, fmt.Errorf("ridify: read state: %w", err)
	}
	defer closer.Close()
	s, err := decodeRidState(val)
	if err != nil {
		return ridState{}, false, fmt.Errorf("ridify: state of %q: %w", key, err)
	}
	r.state.put(key, s)
	return s, true, nil
}

// emit builds the KOI event message for st. The event JSON is assembled by
// hand so the contents go out byte for byte as observed.
func (r *Ridify) emit(in *message.Message, rid string, st ridState) ([]*message.Message, error) {
	var b []byte
	b = append(b, `{"rid":`...)
	b = koi.AppendString(b, rid)
	b = append(b, `,"event_type":"`...)
	b = append(b, st.eventType...)
	b = append(b, '"')
	if st.eventType != koi.EventForget {
		ts := koi.FormatTimestamp(time.UnixMicro(st.micros))
		b = append(b, `,"manifest":{"rid":`...)
		b = koi.AppendString(b, rid)
		b = append(b, `,"timestamp":"`...)
		b = append(b, ts...)
		b = append(b, `","sha256_hash":"`...)
		b = hex.AppendEncode(b, st.hash[:])
		b = append(b, `"},"contents":`...)
		b = append(b, in.Payload...)
	}
	b = append(b, '}')

	out := message.NewMessage(watermill.NewUUID(), b)
	out.Metadata = make(message.Metadata, len(in.Metadata)+3)
	for k, v := range in.Metadata {
		out.Metadata[k] = v
	}
	out.Metadata.Set(topics.MetadataKey, rid)
	out.Metadata.Set(topics.HeaderEventType, string(st.eventType))
	out.Metadata.Set(topics.HeaderRoutingKey, RoutingKey(rid, in.Metadata.Get(topics.HeaderGitHubEvent), st.eventType))
	return []*message.Message{out}, nil
}

// RoutingKey returns the GHTorrent-style routing key of an event: for event
// RIDs "evt.<github event>.<op>", for entities "ent.<kind>.<op>", where op is
// insert (NEW), update (UPDATE) or delete (FORGET). Routing keys let AMQP-style
// consumers bind by pattern, e.g. "evt.push.*".
func RoutingKey(rid, githubEvent string, et koi.EventType) string {
	op := "insert"
	switch et {
	case koi.EventUpdate:
		op = "update"
	case koi.EventForget:
		op = "delete"
	}
	typ, _ := koi.RIDType(rid)
	kind := strings.TrimPrefix(typ, "orn:github.")
	if typ == koi.TypeGitHubEvent {
		if githubEvent == "" {
			githubEvent = "unknown"
		}
		return "evt." + githubEvent + "." + op
	}
	return "ent." + kind + "." + op
}
