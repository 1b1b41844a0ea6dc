package koiapi

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
)

// pollEvents serves /events/poll from the outbound queues: the events
// queued for the poller, oldest first, at most the request's limit (0 =
// all, up to projections.MaxPollPage per answer). The poller is a signed
// envelope's source_node, checked as the fetch endpoints check it (an
// unknown sender gets unknown_node), or a bare 1.0 body's "rid". What an
// answer carries stays queued until the poller's next poll acknowledges it
// (projections.Queues.Poll); an answer that could not be written is handed
// back, so the next poll returns it again.
//
// Unlike the fetch endpoints, the request is checked in full before the
// queue is touched: a poll acknowledges the previous page, which only the
// poller itself may do.
func (s *Server) pollEvents(w http.ResponseWriter, r *http.Request) {
	body, done, ok := s.readBody(w, r, s.maxRequest)
	defer done()
	if !ok {
		return
	}
	if s.self == nil || !isEnvelope(body) {
		if s.require {
			writeMissingEnvelope(w, body)
			return
		}
		s.pollBare(w, r, body)
		return
	}
	env, err := koi.ParseEnvelope(body)
	if err != nil {
		writeValidationError(w, err)
		return
	}
	req, err := koi.DecodePollEvents(env.Payload)
	if err != nil {
		writeValidationError(w, err)
		return
	}
	if !hasMember(env.Payload, "type") {
		env.Payload = withType(env.Payload, koi.PayloadTypePollEvents)
	}
	if err := s.validate(r.Context(), env); err != nil {
		s.refuse(w, r, env, err)
		return
	}
	defer s.lockPoller(env.SourceNode)()
	page, err := s.queues.Poll(env.SourceNode, req.Limit)
	if err != nil {
		s.internal(w, err)
		return
	}
	payload := s.eventsPayload(env.SourceNode, page, true)
	sealed := koi.SignedEnvelope{Payload: payload, SourceNode: s.self.RID, TargetNode: env.SourceNode}
	if sealed.Signature, err = koi.Sign(s.self.Key, sealed.Message()); err != nil {
		s.release(env.SourceNode, page)
		s.internal(w, fmt.Errorf("sign the answer to %s: %w", env.SourceNode, err))
		return
	}
	s.deliverPage(w, r, env.SourceNode, page, sealed.AppendJSON(nil))
}

// pollBare serves a bare koi-net 1.0 PollEvents, {"rid": poller, "limit":
// n}, answered with a bare events_payload. A node whose cached profile has
// a public key signs its requests (1.1 and later), so a bare poll in its
// name is refused as a 2.x node refuses a bare body: otherwise anyone could
// drain a signing node's queue by naming it.
func (s *Server) pollBare(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := koi.DecodePollEvents(body)
	if err != nil {
		writeValidationError(w, err)
		return
	}
	if req.Rid == "" {
		writeValidationError(w, errors.New("rid: Field required (the polling node's RID)"))
		return
	}
	if _, err := koi.ParseNodeRID(req.Rid); err != nil {
		writeValidationError(w, fmt.Errorf("rid: %q is not a node RID", req.Rid))
		return
	}
	if s.self != nil {
		// Only a koi-net 1.0 node (<name>+<uuid4>) polls bare: a 1.1+ RID
		// names a key, so its owner signs; answering a bare poll for it
		// would let anyone read and acknowledge that node's queue.
		if n, err := koi.ParseNodeRID(req.Rid); err != nil || !n.Legacy() {
			writeMissingEnvelope(w, body)
			return
		}
	}
	defer s.lockPoller(req.Rid)()
	page, err := s.queues.Poll(req.Rid, req.Limit)
	if err != nil {
		s.internal(w, err)
		return
	}
	s.deliverPage(w, r, req.Rid, page, s.eventsPayload(req.Rid, page, false))
}

// eventsPayload returns the events_payload of page: the queued events as
// the events topic holds them. For a signed answer each is printed as
// pydantic re-prints it, the form the poller verifies the signature over;
// an event that cannot be (duplicate keys in its contents) is left out and
// logged: it would fail the whole answer, every time. It stays in the page
// and is acknowledged with it.
func (s *Server) eventsPayload(poller string, page []projections.QueueEntry, pydantic bool) []byte {
	n := len(`{"type":"events_payload","events":[]}`)
	for _, e := range page {
		n += len(e.Event) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, `{"type":"events_payload","events":[`...)
	first := true
	for _, e := range page {
		mark := len(out)
		if !first {
			out = append(out, ',')
		}
		if !pydantic {
			out = append(out, e.Event...)
			first = false
			continue
		}
		p, err := koi.AppendPydanticJSON(out, e.Event)
		if err != nil {
			s.logger.Error("koi-net poll: queued event left out, a Python node could not verify it", "poller", poller, "err", err)
			out = out[:mark]
			continue
		}
		out, first = p, false
	}
	return append(out, "]}"...)
}

// deliverPage writes an answer carrying page and hands the page back to
// the queue when it could not be delivered: the poller went away before
// or while it was written.
func (s *Server) deliverPage(w http.ResponseWriter, r *http.Request, poller string, page []projections.QueueEntry, answer []byte) {
	if err := r.Context().Err(); err != nil {
		s.release(poller, page)
		return
	}
	writeRaw(w, answer)
	if err := http.NewResponseController(w).Flush(); err != nil {
		s.release(poller, page)
	}
}

// lockPoller serialises the polls of one node from taking a page to
// having written it (or handed it back), and returns the unlock. A poll
// acknowledges the page before it; without this, a poll made while the one
// before it was still being written (a client that timed out and asked
// again) acknowledged a page that was then found undelivered and handed
// back too late.
func (s *Server) lockPoller(poller string) func() {
	m, _ := s.pollLocks.LoadOrStore(poller, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// release hands page back to poller's queue (projections.Queues.Release).
func (s *Server) release(poller string, page []projections.QueueEntry) {
	if len(page) == 0 {
		return
	}
	keys := make([][]byte, len(page))
	for i, e := range page {
		keys[i] = e.Key
	}
	if err := s.queues.Release(poller, keys); err != nil {
		s.logger.Error("koi-net poll: hand back an undelivered page", "poller", poller, "err", err)
	}
}
