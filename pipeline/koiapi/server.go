package koiapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/segmentio/encoding/json"

	"github.com/koistream/koistream/pipeline/bodybudget"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/koi"
)

// DefaultPath is where the KOI-net API is mounted when none is configured,
// as in the Python reference nodes.
const DefaultPath = "/koi-net"

// DefaultMaxRequestBody bounds a fetch or poll request body: RID lists of
// tens of thousands fit easily.
const DefaultMaxRequestBody = 8 << 20

// Server answers KOI-net fetch requests from a [projections.Cache] and,
// when it has an identity ([Config.Self]), the node's own profile bundle.
//
// A request is either a signed envelope (koi-net 1.1 and later) or a bare
// payload (koi-net 1.0, with or without the "type" discriminator); which one
// is decided per request by whether the body's top-level object has a
// "payload" or "signature" member, which no bare payload has. A signed
// request is checked as the reference checks it: the envelope and its
// payload must parse (else 422), then the sender, its key, the signature
// over the bytes received and the target, in that order (else 400 with the
// reference's error_response body, see [koi.ValidateEnvelope]); its answer
// is an envelope signed by us and addressed to the sender. A bare payload is
// answered with a bare payload, unless [Config.RequireSignatures] is set:
// it is then refused with 422 as a 2.x reference node refuses it (its body
// model has a required "payload"). Without an identity every body is read
// as a bare payload, as before signing existed.
//
// Malformed bodies get 422 with a FastAPI-style {"detail":[…]} body, as a
// Python node answers them, whose msg says what is wrong in the peer's terms
// (koi.PayloadError's Msg). Only canonical orn:github.* RIDs leave the
// server (KOI-2.1.md 1e): a stored GitHub RID a 2.1 peer would refuse or
// re-print is neither listed nor served.
//
// Request bodies are read whole within the endpoint's largest size (413
// {"detail":…}, decided from Content-Length before the body is read) and
// within one memory budget shared by all endpoints, Config.BodyBudget: a
// body that does not fit beside those in flight is answered 503
// {"error":"over_budget","detail":…} with Retry-After before it is read
// (see readBody). A Server is safe for concurrent use.
type Server struct {
	cache  *projections.Cache
	queues *projections.Queues // /events/poll (poll.go); nil: not mounted
	logger *slog.Logger
	self   *Self
	// ridsLast is the last /rids/fetch answer, good while the cache's
	// version is the one it was computed at (see fetchRids).
	ridsMu   sync.Mutex
	ridsLast struct {
		version uint64
		key     string
		payload []byte
	}
	// pollLocks holds a *sync.Mutex per poller (see lockPoller).
	pollLocks sync.Map
	// printed memoizes stored bundles as pydantic prints them.
	printed pydanticMemo
	// selfHash is our profile manifest's sha256_hash (see cachedSelf).
	selfHash string
	require  bool

	// The /events/broadcast intake (broadcast.go); publisher nil: not
	// mounted.
	publisher      message.Publisher
	rawTopic       string
	resolve        ResolveFunc
	onBroadcast    BroadcastHook
	maxBroadcast   int64
	publishTimeout time.Duration

	// Dereference (dereference.go); deref nil: RIDs not cached are not
	// found.
	deref        Dereferencer
	derefTimeout time.Duration

	// budget bounds the request bodies held at once (body.go);
	// maxRequest bounds a fetch or poll body.
	budget     *bodybudget.Budget
	maxRequest int64
}

// Self is the node a Server answers as: its node RID and key, which sign
// the answers to signed requests, and its own profile bundle, which the
// fetch endpoints serve as if it were cached.
type Self struct {
	// RID is the node's RID, orn:koi-net.node:<name>+<hash>.
	RID string
	// Key is the node's P-256 private key.
	Key *ecdsa.PrivateKey
	// PublicKey is the profile's public_key (base64 DER SPKI), the key
	// peers verify our answers with.
	PublicKey string
	// Manifest is the profile bundle's manifest as KOI-net JSON (exactly
	// rid, timestamp, sha256_hash).
	Manifest []byte
	// Bundle is the profile bundle as KOI-net JSON, {"manifest":…,
	// "contents":…}, served byte for byte.
	Bundle []byte
}

// Config configures a Server.
type Config struct {
	// Cache holds what the node serves; required.
	Cache *projections.Cache
	// Queues are the outbound queues /events/poll serves (poll.go). Nil
	// leaves /events/poll unmounted.
	Queues *projections.Queues
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Self is the node's identity. Nil serves bare payloads only and
	// reads every body as one.
	Self *Self
	// RequireSignatures refuses bare (koi-net 1.0) payloads with 422, as a
	// 2.x reference node does. It needs Self.
	RequireSignatures bool

	// Publisher appends the batches POSTed to /events/broadcast to
	// RawTopic, as koi-net raw records (topics/koinet); a nil error from
	// Publish must mean the record is durably in the log. Nil leaves
	// /events/broadcast unmounted (a node or test without an intake). It
	// needs Self (the record names the receiver) and RawTopic.
	Publisher message.Publisher
	// RawTopic is the full name of the raw topic.
	RawTopic string
	// Resolve finds the key of a sender of a signed broadcast that is
	// neither cached nor introducing itself in the batch, before the
	// request is refused with unknown_node (KOI-2.1.md 1a). It runs on the
	// request's goroutine with the request's context: it must answer well
	// within the peer's 5 s timeout. Nil: such senders get unknown_node.
	Resolve ResolveFunc
	// OnBroadcast, if set, is called after each stored broadcast, once the
	// 200 answer has been written and flushed, on the request's goroutine
	// (see BroadcastHook for its arguments). It must return fast (hand the
	// work to a goroutine or a queue): the connection is not reused until
	// it returns. It is never called for a refused or unstored broadcast.
	OnBroadcast BroadcastHook
	// MaxBroadcastBody bounds a broadcast body, in bytes; larger bodies
	// get 413. Defaults to DefaultMaxBroadcastBody, which must not be
	// exceeded (the record would not fit the log).
	MaxBroadcastBody int64
	// MaxRequestBody bounds the body of a fetch or poll request, in
	// bytes; larger bodies get 413. Defaults to DefaultMaxRequestBody.
	MaxRequestBody int64
	// PublishTimeout bounds the wait for the log's acknowledgement of a
	// broadcast; past it the answer is 503. Defaults to
	// DefaultPublishTimeout.
	PublishTimeout time.Duration
	// Dereferencer, if set, fetches RIDs asked for by /bundles/fetch and
	// /manifests/fetch that the cache does not hold from where they live
	// (GitHub's API for orn:github.* RIDs) into the log, and the answer
	// waits for the cache to hold them (dereference.go). Nil: they are
	// not found.
	Dereferencer Dereferencer
	// DereferenceTimeout bounds how long a fetch answer waits for
	// dereferenced RIDs; those not cached by then are deferred.
	// Defaults to DefaultDereferenceTimeout.
	DereferenceTimeout time.Duration
	// BodyBudget bounds the bytes of request bodies held at once by the
	// requests in flight on every endpoint, in bytes: a request whose
	// declared body (or a chunked body as it grows) does not fit is
	// answered 503 {"error":"over_budget",…} with Retry-After rather than
	// read, and a peer sends it again. At least the largest body an
	// endpoint takes (MaxRequestBody, and MaxBroadcastBody with the
	// broadcast intake), so that a body of the largest size fits alone.
	// An eighth of the room beyond that, up to 1 MiB, is kept for bodies
	// of at most 16 KiB (a peer's start-up broadcast of its profile among
	// them), which larger bodies cannot take. Defaults to
	// DefaultBodyBudget.
	BodyBudget int64
}

// setDefaults fills in the defaults of the settings left zero.
func (c *Config) setDefaults() {
	if c.MaxBroadcastBody == 0 {
		c.MaxBroadcastBody = DefaultMaxBroadcastBody
	}
	if c.MaxRequestBody == 0 {
		c.MaxRequestBody = DefaultMaxRequestBody
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DereferenceTimeout == 0 {
		c.DereferenceTimeout = DefaultDereferenceTimeout
	}
	if c.BodyBudget == 0 {
		c.BodyBudget = max(DefaultBodyBudget, c.largestBody())
	}
}

// largestBody is the largest request body an endpoint of the server takes,
// zero sizes read as their defaults.
func (c Config) largestBody() int64 {
	orDefault := func(n, def int64) int64 {
		if n == 0 {
			return def
		}
		return n
	}
	largest := orDefault(c.MaxRequestBody, DefaultMaxRequestBody)
	if c.Publisher != nil {
		largest = max(largest, orDefault(c.MaxBroadcastBody, DefaultMaxBroadcastBody))
	}
	return largest
}

// Validate reports the first setting a server cannot run with. Zero
// durations and sizes stand for their defaults (NewServer fills them in).
func (c Config) Validate() error {
	switch {
	case c.Cache == nil:
		return errors.New("koiapi: a cache is required")
	case c.RequireSignatures && c.Self == nil:
		return errors.New("koiapi: require_signatures needs the node's identity")
	case c.Self != nil && (c.Self.Key == nil || c.Self.RID == ""):
		return errors.New("koiapi: the identity needs a RID and a key")
	case c.Publisher != nil && (c.Self == nil || c.RawTopic == ""):
		return errors.New("koiapi: the broadcast intake needs the node's identity and the raw topic")
	case c.MaxBroadcastBody < 0 || c.MaxBroadcastBody > DefaultMaxBroadcastBody:
		return fmt.Errorf("koiapi: max broadcast body %d is not within 1..%d", c.MaxBroadcastBody, DefaultMaxBroadcastBody)
	case c.MaxRequestBody < 0:
		return fmt.Errorf("koiapi: max request body must not be negative, got %d", c.MaxRequestBody)
	case c.PublishTimeout < 0:
		return fmt.Errorf("koiapi: publish timeout must not be negative, got %s", c.PublishTimeout)
	case c.DereferenceTimeout < 0:
		return fmt.Errorf("koiapi: dereference timeout must not be negative, got %s", c.DereferenceTimeout)
	case c.BodyBudget < 0:
		return fmt.Errorf("koiapi: body budget must not be negative, got %d", c.BodyBudget)
	case c.BodyBudget != 0 && c.BodyBudget < c.largestBody():
		return fmt.Errorf("koiapi: body budget %d is smaller than the largest request body %d: a request of that size could never be taken", c.BodyBudget, c.largestBody())
	}
	return nil
}

// New returns a server reading from cache without an identity: bare
// payloads only. logger defaults to slog.Default().
func New(cache *projections.Cache, logger *slog.Logger) *Server {
	s, _ := NewServer(Config{Cache: cache, Logger: logger})
	return s
}

// NewServer returns a server as cfg says, with the defaults filled in. It
// fails when cfg does not pass Validate: when cfg.Cache is nil, when
// RequireSignatures is set without an identity to verify with, or when a
// bound is out of range.
func NewServer(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var selfHash string
	if cfg.Self != nil {
		var m koi.Manifest
		if err := json.Unmarshal(cfg.Self.Manifest, &m); err == nil {
			selfHash = m.SHA256Hash
		}
	}
	return &Server{
		cache: cfg.Cache, queues: cfg.Queues, logger: cfg.Logger, self: cfg.Self, selfHash: selfHash, require: cfg.RequireSignatures,
		publisher: cfg.Publisher, rawTopic: cfg.RawTopic, resolve: cfg.Resolve, onBroadcast: cfg.OnBroadcast,
		maxBroadcast: cfg.MaxBroadcastBody, maxRequest: cfg.MaxRequestBody, publishTimeout: cfg.PublishTimeout,
		deref: cfg.Dereferencer, derefTimeout: cfg.DereferenceTimeout,
		budget: bodybudget.NewReserved(cfg.BodyBudget, min(smallReserve, (cfg.BodyBudget-cfg.largestBody())/8), smallBody),
	}, nil
}

// Register mounts the endpoints on mux under path (DefaultPath if empty):
// the fetch endpoints, and /events/broadcast when the server has a
// Publisher.
func (s *Server) Register(mux *http.ServeMux, path string) {
	if path == "" {
		path = DefaultPath
	}
	path = "/" + strings.Trim(path, "/")
	mux.HandleFunc("POST "+path+"/rids/fetch", s.endpoint(koi.PayloadTypeFetchRids, s.fetchRids))
	mux.HandleFunc("POST "+path+"/manifests/fetch", s.endpoint(koi.PayloadTypeFetchManifests, s.fetchManifests))
	mux.HandleFunc("POST "+path+"/bundles/fetch", s.endpoint(koi.PayloadTypeFetchBundles, s.fetchBundles, s.fetchBundlesPrinted))
	paths := []string{"/rids/fetch", "/manifests/fetch", "/bundles/fetch"}
	if s.publisher != nil {
		mux.HandleFunc("POST "+path+"/events/broadcast", s.broadcast)
		paths = append(paths, "/events/broadcast")
	}
	// Other methods and paths get FastAPI's JSON answers, as from a Python
	// node, rather than the mux's plain text.
	for _, p := range paths {
		mux.HandleFunc(path+p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			writeDetail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		})
	}
	if s.queues != nil {
		mux.HandleFunc("POST "+path+"/events/poll", s.pollEvents)
		mux.HandleFunc(path+"/events/poll", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			writeDetail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		})
	}
	mux.HandleFunc(path+"/", func(w http.ResponseWriter, _ *http.Request) {
		writeDetail(w, http.StatusNotFound, "Not Found")
	})
}

// answerFunc answers one request payload with the response payload's JSON.
// An error wrapping errBadPayload is the peer's (422); any other is ours
// (500).
//
// deref says whether RIDs the cache does not hold may be fetched from their
// origin (Config.Dereferencer): only once the request is known to be
// allowed, since a fetch spends the origin's quota.
type answerFunc func(ctx context.Context, payload []byte, deref bool) ([]byte, error)

// errBadPayload marks an answerFunc's refusal of the request payload.
var errBadPayload = errors.New("koiapi: bad request payload")

// endpoint wraps answer with the envelope handling: unwrap and check a
// signed request, sign the answer to it, or answer a bare payload bare.
// reqType is the request payload's "type".
//
// printed, when given, answers signed requests instead of answer, with a
// payload already as pydantic prints it, which is signed as it is
// (koi.SealPrinted) rather than re-printed.
func (s *Server) endpoint(reqType string, answer answerFunc, printed ...answerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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
			resp, err := answer(r.Context(), body, true)
			if err != nil {
				s.fail(w, err)
				return
			}
			writeRaw(w, resp)
			return
		}
		env, err := koi.ParseEnvelope(body)
		if err != nil {
			writeValidationError(w, err)
			return
		}
		// FastAPI validates the whole body model, payload included, before
		// the reference's handler checks the envelope: a malformed payload
		// is a 422 even from an unknown sender.
		signedAnswer := answer
		if len(printed) > 0 {
			signedAnswer = printed[0]
		}
		resp, err := signedAnswer(r.Context(), env.Payload, false)
		if err != nil {
			s.fail(w, err)
			return
		}
		if !hasMember(env.Payload, "type") {
			// The reference fills in the default "type" and verifies over
			// its re-serialization, which has it first: a signature over a
			// payload without it fails there (wire_full_vs_coordinator.log),
			// so it fails here too rather than being accepted by one
			// implementation and refused by the other.
			env.Payload = withType(env.Payload, reqType)
		}
		if err := s.validate(r.Context(), env); err != nil {
			s.refuse(w, r, env, err)
			return
		}
		if s.deref != nil && (reqType == koi.PayloadTypeFetchBundles || reqType == koi.PayloadTypeFetchManifests) {
			// Now that the sender is known, the RIDs the first answer
			// did not find may be fetched from their origin.
			if resp, err = signedAnswer(r.Context(), env.Payload, true); err != nil {
				s.fail(w, err)
				return
			}
		}
		seal := koi.Seal
		if reqType == koi.PayloadTypeFetchRids || reqType == koi.PayloadTypeFetchManifests || len(printed) > 0 {
			// Printed by our own pydantic-exact writers: signed as is.
			seal = koi.SealPrinted
		}
		sealed, err := seal(s.self.Key, resp, s.self.RID, env.SourceNode)
		if err != nil {
			s.internal(w, fmt.Errorf("sign the answer to %s: %w", env.SourceNode, err))
			return
		}
		writeRaw(w, sealed)
	}
}

// refuse answers a signed request validate refused: the reference's 400
// error_response for an envelope error, 500 for a failure of ours.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, env koi.SignedEnvelope, err error) {
	ee, ok := errors.AsType[*koi.EnvelopeError](err)
	if !ok {
		s.internal(w, err)
		return
	}
	s.logger.Info("koi-net request refused", "source_node", env.SourceNode, "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(ee.Body())
}

// fail answers an answerFunc's error: 422 for the peer's payload, 500 for
// ours.
func (s *Server) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, errBadPayload) {
		writeValidationError(w, err)
		return
	}
	s.internal(w, err)
}

// lookupKey is the koi.KeyLookup of signed requests: our own key, else the
// public_key of a cached node profile bundle. Resolving a sender that is in
// neither, by /bundles/fetch from a node-state provider (KOI-2.1.md 1a),
// comes with first contact; until then such a sender gets unknown_node.
func (s *Server) lookupKey(rid string) (string, bool) {
	pub, found, _ := s.lookupKeyErr(rid)
	return pub, found
}

// lookupKeyErr is lookupKey that also returns a failure to read the cache,
// which is ours to answer (500), not the peer's (unknown_node).
func (s *Server) lookupKeyErr(rid string) (string, bool, error) {
	if rid == s.self.RID {
		return s.self.PublicKey, true, nil
	}
	if t, err := koi.RIDType(rid); err != nil || t != koi.TypeKoiNetNode {
		return "", false, nil
	}
	b, found, err := s.cache.Bundle(rid)
	if err != nil {
		return "", false, fmt.Errorf("koi-net key lookup of %s: %w", rid, err)
	}
	if !found {
		return "", false, nil
	}
	var bundle struct {
		Contents struct {
			PublicKey string `json:"public_key"`
		} `json:"contents"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil || bundle.Contents.PublicKey == "" {
		return "", false, nil
	}
	return bundle.Contents.PublicKey, true, nil
}

// isEnvelope reports whether body is a JSON object with a top-level
// "payload" or "signature" member: a signed envelope, possibly a malformed
// one, rather than a bare 1.0 payload, none of whose models has either.
// Bodies that are not JSON objects are not envelopes.
func isEnvelope(body []byte) bool {
	return hasMember(body, "payload", "signature")
}

// withType returns the payload object with "type":typ as its first member.
func withType(payload []byte, typ string) []byte {
	i := jsonscan.SkipSpace(payload, 1)
	out := append([]byte(nil), `{"type":`...)
	out = koi.AppendString(out, typ)
	if payload[i] != '}' {
		out = append(out, ',')
	}
	return append(out, payload[i:]...)
}

// hasMember reports whether body is a JSON object with a top-level member
// of one of the names.
func hasMember(body []byte, names ...string) bool {
	return json.Valid(body) && jsonscan.HasMember(body, koi.MaxNestingDepth, names...)
}

// advertisable reports whether rid may leave the node: any RID but a
// GitHub one that is not in canonical form (KOI-2.1.md 1e).
func advertisable(rid string) bool {
	if !strings.HasPrefix(rid, "orn:github.") {
		return true
	}
	return github.IsCanonicalRID(rid)
}

// listRIDs returns the RIDs of the given types (all when empty) that the
// fetch endpoints answer: the cache's advertisable RIDs and our own node RID,
// in the cache's order (by type, then RID).
func (s *Server) listRIDs(types []string) ([]string, error) {
	rids, err := s.cache.RIDs(types)
	if err != nil {
		return nil, err
	}
	out := rids[:0]
	for _, rid := range rids {
		if advertisable(rid) {
			out = append(out, rid)
		}
	}
	if s.self == nil || (len(types) > 0 && !slices.Contains(types, koi.TypeKoiNetNode)) {
		return out, nil
	}
	// Our profile sits where the cache would list it.
	key := func(rid string) (string, string) {
		t, _ := koi.RIDType(rid)
		return t, rid
	}
	st, sr := key(s.self.RID)
	at := len(out)
	for i, rid := range out {
		t, r := key(rid)
		if t > st || (t == st && r >= sr) {
			at = i
			break
		}
	}
	if at < len(out) && out[at] == s.self.RID {
		return out, nil
	}
	return slices.Insert(out, at, s.self.RID), nil
}

func (s *Server) fetchRids(_ context.Context, payload []byte, _ bool) ([]byte, error) {
	req, err := koi.DecodeFetchRids(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadPayload, err)
	}
	// The last answer serves again while the cache has not changed: a
	// listing of 10,000 RIDs took 7 ms of CPU (a Pebble scan, the canonical
	// check of each RID, printing), and peers ask the same question at
	// once when they subscribe or restart.
	key := strings.Join(req.RidTypes, "\x00")
	version := s.cache.Version()
	s.ridsMu.Lock()
	if s.ridsLast.payload != nil && s.ridsLast.version == version && s.ridsLast.key == key {
		p := s.ridsLast.payload
		s.ridsMu.Unlock()
		return p, nil
	}
	s.ridsMu.Unlock()
	rids, err := s.listRIDs(req.RidTypes)
	if err != nil {
		return nil, err
	}
	p := koi.NewRidsPayload(rids).AppendJSON(nil)
	s.ridsMu.Lock()
	s.ridsLast.version, s.ridsLast.key, s.ridsLast.payload = version, key, p
	s.ridsMu.Unlock()
	return p, nil
}

func (s *Server) fetchManifests(ctx context.Context, payload []byte, deref bool) ([]byte, error) {
	req, err := koi.DecodeFetchManifests(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadPayload, err)
	}
	rids := req.Rids
	if len(rids) == 0 {
		// As in Python: a non-empty rids list wins, else filter by type.
		if rids, err = s.listRIDs(req.RidTypes); err != nil {
			return nil, err
		}
	}
	var manifests []json.RawMessage
	var notFound []string
	for _, rid := range rids {
		m, found, err := s.manifest(rid)
		if err != nil {
			return nil, err
		}
		if !found {
			notFound = append(notFound, rid)
			continue
		}
		manifests = append(manifests, m)
	}
	var deferred []string
	if deref && s.deref != nil && len(notFound) > 0 {
		var got []string
		if got, notFound, deferred, err = s.dereference(ctx, notFound, s.manifest); err != nil {
			return nil, err
		}
		for _, rid := range got {
			m, _, err := s.manifest(rid)
			if err != nil {
				return nil, err
			}
			manifests = append(manifests, m)
		}
	}
	// Manifests are stored as KOI-net JSON, so they go out as stored.
	// A manifests_payload has no deferred list: what is still on its way
	// is not found yet.
	notFound = append(notFound, deferred...)
	return koi.RawManifestsPayload{Manifests: manifests, NotFound: notFound}.AppendJSON(nil), nil
}

func (s *Server) fetchBundles(ctx context.Context, payload []byte, deref bool) ([]byte, error) {
	// Bundles are stored as served, so they go out byte for byte:
	// re-marshalling would reformat contents whose exact bytes peers hash.
	return s.answerBundles(ctx, payload, deref, nil)
}

// answerBundles answers a fetch_bundles payload with each bundle found as
// stored, or as print returns it when print is not nil.
func (s *Server) answerBundles(ctx context.Context, payload []byte, deref bool, print func([]byte) ([]byte, error)) ([]byte, error) {
	req, err := koi.DecodeFetchBundles(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadPayload, err)
	}
	var bundles []json.RawMessage
	var notFound []string
	add := func(rid string, b []byte) error {
		if print != nil {
			if b, err = print(b); err != nil {
				return fmt.Errorf("print the bundle of %s: %w", rid, err)
			}
		}
		bundles = append(bundles, b)
		return nil
	}
	for _, rid := range req.Rids {
		b, found, err := s.bundle(rid)
		if err != nil {
			return nil, err
		}
		if !found {
			notFound = append(notFound, rid)
			continue
		}
		if err := add(rid, b); err != nil {
			return nil, err
		}
	}
	var deferred []string
	if deref && s.deref != nil && len(notFound) > 0 {
		var got []string
		if got, notFound, deferred, err = s.dereference(ctx, notFound, s.bundle); err != nil {
			return nil, err
		}
		for _, rid := range got {
			b, _, err := s.bundle(rid)
			if err != nil {
				return nil, err
			}
			if err := add(rid, b); err != nil {
				return nil, err
			}
		}
	}
	return koi.RawBundlesPayload{Bundles: bundles, NotFound: notFound, Deferred: deferred}.AppendJSON(nil), nil
}

// fetchBundlesPrinted is fetchBundles for a signed answer: each bundle as
// pydantic prints it (memoized by its bytes: re-printing every stored
// bundle per request cost a signed /bundles/fetch a fifth of its CPU), in a
// payload our writers print exactly, so that koi.SealPrinted signs it as is.
func (s *Server) fetchBundlesPrinted(ctx context.Context, payload []byte, deref bool) ([]byte, error) {
	return s.answerBundles(ctx, payload, deref, s.printed.print)
}

// manifest returns the manifest of rid: ours, or the cache's for an
// advertisable RID.
func (s *Server) manifest(rid string) ([]byte, bool, error) {
	if s.self != nil && rid == s.self.RID {
		if m, ok := s.cachedSelf(s.cache.Manifest); ok {
			return m, true, nil
		}
		return s.self.Manifest, true, nil
	}
	if !advertisable(rid) {
		return nil, false, nil
	}
	return s.cache.Manifest(rid)
}

// cachedSelf returns our own profile's manifest or bundle (get) as the
// cache holds it when that is the profile we run with (same hash): the
// manifest our log announced to peers, whose timestamp is the stage's, not
// the one we started with. Until the cache has it (the first start, a
// changed profile) the profile is served from memory.
func (s *Server) cachedSelf(get func(string) ([]byte, bool, error)) ([]byte, bool) {
	m, found, err := s.cache.Manifest(s.self.RID)
	if err != nil || !found || !bytes.Contains(m, []byte(`"sha256_hash":"`+s.selfHash+`"`)) {
		return nil, false
	}
	b, found, err := get(s.self.RID)
	return b, err == nil && found
}

// bundle returns the bundle of rid: ours, or the cache's for an
// advertisable RID.
func (s *Server) bundle(rid string) ([]byte, bool, error) {
	if s.self != nil && rid == s.self.RID {
		if b, ok := s.cachedSelf(s.cache.Bundle); ok {
			return b, true, nil
		}
		return s.self.Bundle, true, nil
	}
	if !advertisable(rid) {
		return nil, false, nil
	}
	return s.cache.Bundle(rid)
}

func (s *Server) internal(w http.ResponseWriter, err error) {
	s.logger.Error("koi-net request failed", "err", err)
	writeDetail(w, http.StatusInternalServerError, "internal error reading the cache")
}

// validationDetail is one entry of a FastAPI 422 body.
type validationDetail struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// writeValidationError answers 422 for a request body the decoder refused.
// The message is the decoder's account in the peer's terms (which member,
// what it must be, what it is), without the Go package's prefix.
func writeValidationError(w http.ResponseWriter, err error) {
	msg := err.Error()
	if pe, ok := errors.AsType[*koi.PayloadError](err); ok {
		msg = pe.Msg
	}
	b, _ := json.Marshal(struct {
		Detail []validationDetail `json:"detail"`
	}{[]validationDetail{{Loc: []string{"body"}, Msg: msg, Type: "value_error"}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	_, _ = w.Write(b)
}

// writeMissingEnvelope refuses a bare payload where a signed envelope is
// required, with the 422 a 2.x reference node answers a 1.0 body with
// (wire_full_vs_coordinator.log): FastAPI's "Field required" for each of the
// envelope's four members, each with the body as its input. A body that is
// not JSON at all gets the usual validation error.
func writeMissingEnvelope(w http.ResponseWriter, body []byte) {
	var input bytes.Buffer
	if err := stdjson.Compact(&input, body); err != nil {
		writeValidationError(w, errors.New("the body is not valid JSON"))
		return
	}
	b := []byte(`{"detail":[`)
	for i, member := range []string{"payload", "source_node", "target_node", "signature"} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"missing","loc":["body",`...)
		b = koi.AppendString(b, member)
		b = append(b, `],"msg":"Field required","input":`...)
		b = append(b, input.Bytes()...)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	_, _ = w.Write(b)
}

// writeDetail answers status with FastAPI's {"detail": detail}. The answer
// declares its Content-Length, so that it is whole once flushed, before a
// lingering close (see readBody).
func writeDetail(w http.ResponseWriter, status int, detail string) {
	b, _ := json.Marshal(struct {
		Detail string `json:"detail"`
	}{detail})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeRaw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
