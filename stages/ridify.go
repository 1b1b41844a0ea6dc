package stages

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
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
// Immutable observations (observed.Observation.Immutable: the source says
// the RID never changes once announced, as a GitHub event, one per
// delivery) keep no state: an upsert of one is always NEW, stamped with the
// receive time, and costs no state lookup or write. Dedupe has already
// dropped redeliveries, and the segment's transaction keeps a record
// handled again after a crash from announcing it twice. A forget of one is
// ignored.
//
// Its input is the observed topic (topics/observed), keyed by RID, so all
// observations of one RID arrive in order on one partition; its output is
// the events topic (topics/events), each event carrying the observation's
// headers, its event type and its routing key. Its state is stage state
// (see [State]), partitioned like the observed topic and committed with the
// events it caused, so a crash or a partition moving to another instance
// neither repeats nor loses an event. Each RID's state remembers the
// observed position that last changed it: when the retry middleware
// re-runs the chain for that same record, the same event is emitted again
// rather than nothing. Safe for concurrent use.
type Ridify struct {
	state State
}

// NewRidify is the [Factory] of the ridify stage. It takes no configuration
// and needs deps.OpenState.
func NewRidify(deps Deps, cfg Config) (Stage, error) {
	if err := decodeNone(cfg); err != nil {
		return nil, err
	}
	if deps.OpenState == nil {
		return nil, errors.New("ridify: stage state is required")
	}
	st, err := deps.OpenState()
	if err != nil {
		return nil, fmt.Errorf("ridify: %w", err)
	}
	return &Ridify{state: st}, nil
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
	o, err := observed.Parse(msg)
	if err != nil {
		return nil, Permanent(fmt.Errorf("ridify: %w", err))
	}
	p, ok := topics.PositionFromContext(ctx)
	if !ok {
		return nil, Permanent(errors.New("ridify: no log position for message"))
	}
	pos := logPos{partition: p.Partition, offset: p.Offset}

	if o.Immutable {
		if o.Op != observed.OpUpsert {
			return nil, nil
		}
		sum, err := contentHash(o.Contents)
		if err != nil {
			return nil, Permanent(fmt.Errorf("ridify: %s: contents: %w", o.RID, err))
		}
		return r.emit(o, ridState{hash: sum, eventType: koi.EventNew, micros: o.ReceivedAt.UnixMicro()})
	}

	key := []byte(o.RID)
	prev, known, err := r.load(ctx, key)
	if err != nil {
		return nil, err
	}
	if known && prev.pos.partition == pos.partition {
		if pos.offset < prev.pos.offset {
			return nil, nil // an older record: already handled
		}
		if pos.offset == prev.pos.offset {
			return r.emit(o, prev) // our own retry: same event again
		}
	}

	next := ridState{pos: pos}
	switch o.Op {
	case observed.OpForget:
		if !known || prev.eventType == koi.EventForget {
			return nil, nil
		}
		next.eventType = koi.EventForget
		next.micros = prev.micros
	case observed.OpUpsert:
		sum, err := contentHash(o.Contents)
		if err != nil {
			return nil, Permanent(fmt.Errorf("ridify: %s: contents: %w", o.RID, err))
		}
		next.hash = sum
		switch {
		case !known || prev.eventType == koi.EventForget:
			next.eventType = koi.EventNew
		case prev.hash == sum && len(o.Targets) > 0:
			// Unchanged, but meant for particular nodes (our profile for
			// a node that just introduced itself): announced again for
			// them alone, as a repeat that changes no state.
			return r.emitRepeat(o, prev)
		case prev.hash == sum:
			return nil, nil // unchanged re-observation
		default:
			next.eventType = koi.EventUpdate
		}
		next.micros = o.ReceivedAt.UnixMicro()
		if known && next.micros <= prev.micros {
			next.micros = prev.micros + 1
		}
	}
	if err := r.state.Set(ctx, key, next.encode()); err != nil {
		return nil, fmt.Errorf("ridify: write state for %q: %w", key, err)
	}
	return r.emit(o, next)
}

// emitRepeat is emit of an unchanged announcement, marked as a repeat.
func (r *Ridify) emitRepeat(o observed.Observation, st ridState) ([]*message.Message, error) {
	out, err := r.emit(o, st)
	if err != nil {
		return nil, err
	}
	events.MarkRepeat(out[0])
	return out, nil
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

func (r *Ridify) load(ctx context.Context, key []byte) (ridState, bool, error) {
	val, found, err := r.state.Get(ctx, key)
	if err != nil || !found {
		return ridState{}, false, err
	}
	s, err := decodeRidState(val)
	if err != nil {
		return ridState{}, false, fmt.Errorf("ridify: state of %q: %w", key, err)
	}
	return s, true, nil
}

// emit builds the events-topic message of st about o: the KOI event
// through koi.Event.AppendJSON, so the contents go out byte for byte as
// observed.
func (r *Ridify) emit(o observed.Observation, st ridState) ([]*message.Message, error) {
	ev := koi.Event{RID: o.RID, EventType: st.eventType}
	if st.eventType != koi.EventForget {
		ev.Manifest = &koi.Manifest{
			RID:        o.RID,
			Timestamp:  koi.FormatTimestamp(time.UnixMicro(st.micros)),
			SHA256Hash: hex.EncodeToString(st.hash[:]),
		}
		ev.Contents = o.Contents
	}
	out, err := events.NewMessage(ev, o)
	if err != nil {
		return nil, Permanent(fmt.Errorf("ridify: %w", err))
	}
	return []*message.Message{out}, nil
}
