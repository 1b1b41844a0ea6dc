package koiapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/koistream/koistream/pipeline/httpjson"
	stageskoinet "github.com/koistream/koistream/stages/koinet"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/koinet"
)

// DefaultMaxBroadcastBody bounds a /events/broadcast body: the largest raw
// record (topics.MaxRecordBytes) less 1 MiB for the record's headers. A
// batch of any number of events is taken up to it (KOI-2.1.md 1f: the
// reference re-sends failed batches together with the next events), and
// one GitHub event of GitHub's largest webhook (25 MiB) fits in it.
const DefaultMaxBroadcastBody = topics.MaxRecordBytes - 1<<20

// DefaultPublishTimeout bounds the wait for the log to acknowledge a
// broadcast: under the reference client's 5 s timeout, so the peer reads
// our 503 rather than its own timeout, and keeps the batch to re-send.
const DefaultPublishTimeout = 4 * time.Second

// BroadcastHook is Config.OnBroadcast's type: sender is the envelope's
// source_node ("" for a koi-net 1.0 bare payload, which does not say who
// sent it); handshake reports that the batch carries the sender's own
// profile as a NEW event with manifest and contents (its
// self-introduction, KOI-2.1.md 1b); missing lists, in order and without
// repeats, the RIDs of NEW and UPDATE events that came without contents or
// with {} contents, whose bundles the node has to fetch from the sender
// (events about the node itself are left out: they are dropped anyway).
type BroadcastHook func(sender string, handshake bool, missing []string)

// ResolveFunc is Config.Resolve's type: the public key (a profile's
// public_key) of the node rid, found outside the cache (KOI-2.1.md 1a), and
// false when it cannot be found. The key is checked against the RID's hash
// and the signature verified afterwards whatever it returns.
type ResolveFunc func(ctx context.Context, rid string) (publicKey string, ok bool)

// broadcast is the handler of POST <path>/events/broadcast. It is mounted
// only when the server has a Publisher (and therefore an identity). Its
// body is read within MaxBroadcastBody (else 413) and the server's body
// budget (else 503 over_budget), and holds its share of the budget until
// the handler returns (readBody).
//
// A signed envelope must parse and carry an events_payload as
// stages/koinet.DecodePayload reads it (else 422, FastAPI-style, saying
// what is wrong), then pass koi.ValidateEnvelope in the reference's order
// (400 with the reference's error_response body): the sender's key from
// the cache, else from the handshake the batch carries, else from
// Config.Resolve, else unknown_node. A bare payload (koi-net 1.0) must parse
// the same way and is refused as the fetch endpoints refuse it when
// signatures are required. An accepted body is appended to the raw topic
// as one koi-net record (topics/koinet) exactly as received, and only once
// Publish returned nil (durable) is the answer 200 `null`; a failed append
// is 503 {"error":"log_unavailable","detail":…} and the peer keeps the
// batch to re-send it. Nothing is appended for a refused request.
// Re-sent batches are harmless: the same sender and bytes make the same
// record key, which the dedupe stage drops, and an event already seen
// (same RID and hash) makes nothing new in ridify.
func (s *Server) broadcast(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	body, held, done, ok := s.readBodyHeld(w, r, s.maxBroadcast)
	defer done()
	if !ok {
		return
	}
	receivedAt := time.Now().UTC()
	sender := ""
	payload := body
	signed := isEnvelope(body)
	if !signed && s.require {
		writeMissingEnvelope(w, body)
		return
	}
	var env koi.SignedEnvelope
	if signed {
		var err error
		if env, err = koi.ParseEnvelope(body); err != nil {
			writeValidationError(w, err)
			return
		}
		payload, sender = env.Payload, env.SourceNode
	}
	// The payload is validated before the envelope is checked, as FastAPI
	// validates the body model before the reference's handler runs: a
	// malformed batch is a 422 even from an unknown sender.
	events, err := stageskoinet.DecodePayload(payload, false)
	if err != nil {
		writeBroadcastInvalid(w, err)
		return
	}
	if signed {
		if !hasMember(env.Payload, "type") {
			// As in endpoint: the reference verifies over a payload with
			// its default type added first.
			env.Payload = withType(env.Payload, koi.PayloadTypeEventsPayload)
		}
		if err := s.validate(r.Context(), env); err != nil {
			s.refuse(w, r, env, err)
			return
		}
	}
	if !signed {
		if err := s.checkUnsigned(events); err != nil && s.signing() {
			writeValidationError(w, err)
			return
		}
		// koi-net 1.0 says nowhere who sends a broadcast, but its
		// handshake introduces the sender: FORGET X, NEW X's profile.
		sender = v1HandshakeSender(events)
	}
	msg, err := koinet.NewMessage(koinet.Input{
		Sender:      sender,
		Receiver:    s.self.RID,
		Via:         koinet.ViaBroadcast,
		Body:        body,
		ContentType: r.Header.Get("Content-Type"),
		UserAgent:   r.Header.Get("User-Agent"),
		ReceivedAt:  receivedAt,
	})
	if err != nil {
		// Cannot happen: the sender parsed as a node RID, the receiver is
		// ours and the body is not empty.
		s.logger.Error("koi-net broadcast not made into a record", "source_node", sender, "err", err)
		httpjson.Error(w, http.StatusInternalServerError, "internal_error", "the broadcast could not be made into a log record; nothing was stored")
		return
	}
	// The append must not depend on the client staying connected (see
	// pipeline/webhook): only PublishTimeout bounds the wait, and not the
	// record, whose share of the budget stays held until the log writes or
	// refuses it (bodybudget.Budget.Publish). PublishTimeout counts from
	// the request's start: resolving an unknown sender may already have
	// taken part of the peer's 5 s.
	msg.SetContext(context.WithoutCancel(r.Context()))
	if err := s.budget.Publish(held, max(s.publishTimeout-time.Since(began), 100*time.Millisecond), func() error {
		return s.publisher.Publish(s.rawTopic, msg)
	}); err != nil {
		s.logger.Error("koi-net broadcast not stored", "source_node", sender, "events", len(events), "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "log_unavailable", fmt.Sprintf(
			"the log did not confirm storing the broadcast within %s; it may not be stored: send it again (a batch stored twice is processed once)",
			s.publishTimeout))
		return
	}
	s.logger.Debug("koi-net broadcast stored", "source_node", sender, "events", len(events), "bytes", len(body))
	// With its length declared the answer is whole once flushed, before
	// the hook runs: a 2.1 peer's start-up waits for it (KOI-2.1.md 1b).
	w.Header().Set("Content-Length", "4")
	writeRaw(w, []byte("null"))
	if s.onBroadcast == nil {
		return
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	handshake, missing := s.summarize(sender, events)
	s.onBroadcast(sender, handshake, missing)
}

// checkUnsigned refuses a bare (unauthenticated, koi-net 1.0) batch that
// would change what a signing node says about itself: an event about a
// 1.1+ node RID (its key names it; it signs), or about an edge between two
// such nodes (read from the event's contents, or for a FORGET from the
// cached edge). Without this anyone could cancel a signed subscriber's
// edge or replace its profile with one bare POST. 1.0 nodes and their
// edges stay as open as koi-net 1.0 is.
func (s *Server) checkUnsigned(events []koi.Event) error {
	signs := func(rid string) bool {
		n, err := koi.ParseNodeRID(rid)
		return err == nil && !n.Legacy()
	}
	for _, ev := range events {
		t, err := koi.RIDType(ev.RID)
		if err != nil {
			continue // DecodePayload let it through; not a node's
		}
		switch t {
		case koi.TypeKoiNetNode:
			if signs(ev.RID) {
				return fmt.Errorf("events: %s is a node that signs; an unsigned (koi-net 1.0) body cannot change it, send it in a signed envelope", ev.RID)
			}
		case koi.TypeKoiNetEdge:
			contents := ev.Contents
			if !stageskoinet.HasContents(ev) {
				b, found, err := s.cache.Bundle(ev.RID)
				if err != nil || !found {
					continue
				}
				var bundle struct {
					Contents json.RawMessage `json:"contents"`
				}
				if json.Unmarshal(b, &bundle) != nil {
					continue
				}
				contents = bundle.Contents
			}
			var e struct{ Source, Target string }
			if json.Unmarshal(contents, &e) == nil && signs(e.Source) && signs(e.Target) {
				return fmt.Errorf("events: %s is an edge between nodes that sign; an unsigned (koi-net 1.0) body cannot change it, send it in a signed envelope", ev.RID)
			}
		}
	}
	return nil
}

// signing reports whether we are a 1.1+ node (our RID names our key): only
// then does an unsigned body meet the limits of checkUnsigned. A node on a
// 1.0 network takes bare bodies as 1.0 does, from 2.x nodes too (they speak
// 1.0 to it).
func (s *Server) signing() bool {
	n, err := koi.ParseNodeRID(s.self.RID)
	return err == nil && !n.Legacy()
}

// v1HandshakeSender returns the node a bare (koi-net 1.0) broadcast
// introduces, X when the batch is exactly a handshake, [FORGET X, NEW X
// with its profile] or [NEW X with its profile], X a node RID; "" for any
// other batch. Naming the sender lets the node answer a 1.0 handshake as
// it answers a signed one (our profile to the newcomer) and keeps what the
// newcomer says from being echoed back to it. 1.0 authenticates nothing,
// so this trusts the batch as far as 1.0 does.
func v1HandshakeSender(events []koi.Event) string {
	if len(events) == 2 && (events[0].EventType != koi.EventForget || events[0].RID != events[1].RID) {
		return ""
	}
	if len(events) < 1 || len(events) > 2 {
		return ""
	}
	ev := events[len(events)-1]
	if ev.EventType != koi.EventNew || ev.Manifest == nil || !stageskoinet.HasContents(ev) {
		return ""
	}
	if t, err := koi.RIDType(ev.RID); err != nil || t != koi.TypeKoiNetNode {
		return ""
	}
	return ev.RID
}

// summarize returns what OnBroadcast is told about a batch.
func (s *Server) summarize(sender string, events []koi.Event) (handshake bool, missing []string) {
	for _, ev := range events {
		if ev.RID == s.self.RID {
			continue
		}
		switch ev.EventType {
		case koi.EventNew:
			if sender != "" && ev.RID == sender && ev.Manifest != nil && stageskoinet.HasContents(ev) {
				handshake = true
			}
		case koi.EventForget:
			continue
		}
		if !stageskoinet.HasContents(ev) && !slices.Contains(missing, ev.RID) {
			missing = append(missing, ev.RID)
		}
	}
	return handshake, missing
}

// validate checks a signed request's envelope (koi.ValidateEnvelope) with
// the sender's key from the cache or the handshake the request carries,
// and, only when neither knows the sender, from Config.Resolve: resolving
// may ask another node, which a handshake must not wait for.
func (s *Server) validate(ctx context.Context, env koi.SignedEnvelope) error {
	var lookupErr error
	err := koi.ValidateEnvelope(env, s.self.RID, func(rid string) (string, bool) {
		pub, found, err := s.lookupKeyErr(rid)
		if err != nil {
			lookupErr = err
		}
		return pub, found
	})
	if lookupErr != nil {
		return lookupErr // a storage failure: ours to answer, not unknown_node
	}
	ee, ok := errors.AsType[*koi.EnvelopeError](err)
	if ok && ee.Code == koi.ErrorInvalidKey && env.SourceNode != s.self.RID {
		// The cached profile's key is not the RID's: a forgery cached by
		// an earlier build, which must not lock the real node out. Its own
		// handshake (or a resolution) decides; otherwise invalid_key
		// stands, as the reference answers.
		again := koi.ValidateEnvelope(env, s.self.RID, func(string) (string, bool) { return "", false })
		if again == nil {
			return nil
		}
		if ae, ok := errors.AsType[*koi.EnvelopeError](again); !ok || ae.Code != koi.ErrorUnknownNode || s.resolve == nil {
			return err
		}
		if pub, found := s.resolve(ctx, env.SourceNode); found {
			if koi.ValidateEnvelope(env, s.self.RID, func(rid string) (string, bool) { return pub, rid == env.SourceNode }) == nil {
				return nil
			}
		}
		return err
	}
	if !ok || ee.Code != koi.ErrorUnknownNode || s.resolve == nil {
		return err
	}
	pub, found := s.resolve(ctx, env.SourceNode)
	if !found {
		return err
	}
	return koi.ValidateEnvelope(env, s.self.RID, func(rid string) (string, bool) {
		return pub, rid == env.SourceNode
	})
}

// writeBroadcastInvalid answers 422 for a payload stages/koinet refused,
// with its account in the peer's terms.
func writeBroadcastInvalid(w http.ResponseWriter, err error) {
	if me, ok := errors.AsType[*stageskoinet.MalformedError](err); ok {
		writeValidationError(w, errors.New(me.Msg))
		return
	}
	writeValidationError(w, err)
}
