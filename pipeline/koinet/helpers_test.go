package koinet

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
	rawkoi "github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/raw"
)

// testTime is the time every test bundle is stamped with.
var testTime = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// ident is a node: its key, RID and profile.
type ident struct {
	key      *ecdsa.PrivateKey
	pub      string
	rid      string
	contents []byte
	bundle   koi.Bundle
}

// newIdent makes a node with a new key; baseURL "" makes it PARTIAL.
func newIdent(tb testing.TB, name, baseURL string, provides ...string) ident {
	tb.Helper()
	key, err := koi.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return identFor(tb, key, name, baseURL, provides...)
}

// identFor makes the node of key.
func identFor(tb testing.TB, key *ecdsa.PrivateKey, name, baseURL string, provides ...string) ident {
	tb.Helper()
	pub, err := koi.PublicKeyString(&key.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	rid, err := koi.NodeRIDForKey(name, pub)
	if err != nil {
		tb.Fatal(err)
	}
	id := ident{key: key, pub: pub, rid: rid}
	id.contents = profileContents(baseURL, pub, provides...)
	if id.bundle, err = koi.NewBundle(rid, id.contents, testTime); err != nil {
		tb.Fatal(err)
	}
	return id
}

// profileContents returns 2.1-style profile contents; baseURL "" is a
// PARTIAL node.
func profileContents(baseURL, pub string, provides ...string) []byte {
	b := []byte(`{"@context":"orn:koi-net.context:koi-net.node","base_url":`)
	nodeType := "FULL"
	if baseURL == "" {
		b = append(b, "null"...)
		nodeType = "PARTIAL"
	} else {
		b = koi.AppendString(b, baseURL)
	}
	b = append(b, `,"node_type":"`+nodeType+`","provides":{"event":`...)
	b = appendStringList(b, provides)
	b = append(b, `,"state":`...)
	b = appendStringList(b, provides)
	b = append(b, `},"public_key":`...)
	b = koi.AppendString(b, pub)
	return append(b, '}')
}

// self returns the Network identity of id.
func (id ident) self() Self {
	return Self{
		RID: id.rid, Key: id.key, PublicKey: id.pub,
		Manifest: id.bundle.Manifest.AppendJSON(nil), Bundle: id.bundle.AppendJSON(nil),
	}
}

// newEvent returns the events-topic value of a NEW or UPDATE of rid.
func newEvent(tb testing.TB, typ koi.EventType, rid string, contents []byte) []byte {
	tb.Helper()
	b, err := koi.NewBundle(rid, contents, testTime)
	if err != nil {
		tb.Fatal(err)
	}
	return koi.NewBundleEvent(typ, b).AppendJSON(nil)
}

// world is a node's projections: a store with the cache and the graph,
// filled as the projection runner would.
type world struct {
	tb    testing.TB
	store *projections.Store
	cache *projections.Cache
	graph *projections.Graph
	off   int64
}

func newWorld(tb testing.TB) *world {
	tb.Helper()
	store, err := projections.OpenStore(tb.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	cache, err := projections.NewCache(store)
	if err != nil {
		tb.Fatal(err)
	}
	graph := projections.NewGraph(store)
	if err := store.Attach(cache, graph); err != nil {
		tb.Fatal(err)
	}
	return &world{tb: tb, store: store, cache: cache, graph: graph}
}

// apply applies events-topic values.
func (w *world) apply(values ...[]byte) {
	w.tb.Helper()
	var recs []projections.Record
	for _, v := range values {
		recs = append(recs, projections.Record{Topic: "koistream.events", Offset: w.off, Value: v})
		w.off++
	}
	res, err := w.store.Apply(recs)
	if err != nil {
		w.tb.Fatal(err)
	}
	for _, s := range res.Skipped {
		if len(s) > 0 {
			w.tb.Fatalf("projections skipped events: %v", s)
		}
	}
}

// addNode puts id's profile in the world.
func (w *world) addNode(id ident) {
	w.tb.Helper()
	w.apply(newEvent(w.tb, koi.EventNew, id.rid, id.contents))
}

// addEdge puts an edge in the world and returns its RID and contents.
func (w *world) addEdge(source, target string, et projections.EdgeType, st projections.EdgeStatus, types ...string) (string, []byte) {
	w.tb.Helper()
	rid := koi.EdgeRID(source, target)
	c := edgeContents(true, source, target, et, st, types)
	w.apply(newEvent(w.tb, koi.EventNew, rid, c))
	return rid, c
}

// recorder is the raw topic: a message.Publisher that keeps what is
// published, in order, and fails while failing is set.
type recorder struct {
	mu      sync.Mutex
	topic   string
	msgs    []*message.Message
	failing bool
}

func (r *recorder) Publish(topic string, msgs ...*message.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		return errors.New("recorder: publishing fails")
	}
	if r.topic != "" && topic != r.topic {
		return errors.New("recorder: wrong topic " + topic)
	}
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) setFailing(f bool) {
	r.mu.Lock()
	r.failing = f
	r.mu.Unlock()
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// inputs returns the published records as koi-net inputs.
func (r *recorder) inputs(tb testing.TB) []rawkoi.Input {
	tb.Helper()
	r.mu.Lock()
	msgs := slices.Clone(r.msgs)
	r.mu.Unlock()
	var out []rawkoi.Input
	for _, m := range msgs {
		rec, err := raw.Parse(m)
		if err != nil {
			tb.Fatal(err)
		}
		in, err := rawkoi.Parse(rec)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, in)
	}
	return out
}

// localEvents decodes the events of a ViaLocal input.
func localEvents(tb testing.TB, in rawkoi.Input) []koi.Event {
	tb.Helper()
	if in.Via != rawkoi.ViaLocal {
		tb.Fatalf("via = %q, want local", in.Via)
	}
	p, err := koi.DecodeEventsPayload(in.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return p.Events
}

// newNetwork returns a network of self over w, publishing into rec.
func newNetwork(tb testing.TB, self ident, w *world, rec *recorder, kc KOIConfig) *Network {
	tb.Helper()
	rec.topic = "koistream.raw"
	n, err := New(Config{
		Self: self.self(), Cache: w.cache, Graph: w.graph, Publisher: rec, RawTopic: "koistream.raw",
		KOI: kc, Logger: slog.New(slog.DiscardHandler), ReconcileInterval: 10 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// request is one request a peer received.
type request struct {
	path   string
	header http.Header
	body   []byte
	env    koi.SignedEnvelope // zero for a bare payload
	err    error              // the envelope check's, nil when it passed
}

// payload returns the request's payload: the envelope's or the bare body.
func (r request) payload() []byte {
	if r.env.Payload != nil {
		return r.env.Payload
	}
	return r.body
}

// peer is a KOI-net node on loopback: the fetch endpoints of a real
// koiapi.Server over its own projections, and /events/broadcast and
// /events/poll that check envelopes as the reference does
// (koi.ValidateEnvelope), take handshakes into its projections (so that it
// knows the sender afterwards, as a reference node does), record every
// request and answer polls from a list of pages.
type peer struct {
	ident
	*httptest.Server
	world *world
	url   string

	mu       sync.Mutex
	reqs     []request
	pages    [][]byte             // events_payload payloads answered to polls, in order
	onPoll   func()               // called at every poll, before answering
	override func() (int, []byte) // when set, answers every request
}

// newPeer starts a peer named name providing provides.
func newPeer(tb testing.TB, name string, provides ...string) *peer {
	tb.Helper()
	key, err := koi.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	p := &peer{world: newWorld(tb)}
	mux := http.NewServeMux()
	p.Server = httptest.NewServer(mux)
	tb.Cleanup(p.Close)
	p.url = p.Server.URL + "/koi-net"
	p.ident = identFor(tb, key, name, p.url, provides...)
	p.world.addNode(p.ident)
	srv, err := koiapi.NewServer(koiapi.Config{
		Cache: p.world.cache, Logger: slog.New(slog.DiscardHandler),
		Self: &koiapi.Self{
			RID: p.rid, Key: p.key, PublicKey: p.pub,
			Manifest: p.bundle.Manifest.AppendJSON(nil), Bundle: p.bundle.AppendJSON(nil),
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	fetch := http.NewServeMux()
	srv.Register(fetch, "/koi-net")
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := request{path: strings.TrimPrefix(r.URL.Path, "/koi-net"), header: r.Header.Clone(), body: body}
		if env, err := koi.ParseEnvelope(body); err == nil {
			req.env = env
			req.err = koi.ValidateEnvelope(env, p.rid, p.lookup)
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, req)
		override, onPoll := p.override, p.onPoll
		p.mu.Unlock()
		if override != nil {
			status, b := override()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(b)
			return
		}
		switch req.path {
		case PathBroadcast:
			p.broadcast(tb, w, req)
		case PathPoll:
			if onPoll != nil {
				onPoll()
			}
			p.poll(w, req)
		default:
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			fetch.ServeHTTP(w, r)
		}
	})
	return p
}

// lookup is the peer's key lookup: its cache.
func (p *peer) lookup(rid string) (string, bool) {
	b, ok, err := p.world.cache.Bundle(rid)
	if err != nil || !ok {
		return "", false
	}
	return profileKey(b)
}

// refuse answers a refused envelope as the reference does.
func refuse(w http.ResponseWriter, err error) {
	var ee *koi.EnvelopeError
	if !errors.As(err, &ee) {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(ee.Body())
}

// broadcast answers /events/broadcast: a valid signed or bare payload is
// taken (events applied to the peer's projections) and answered null.
func (p *peer) broadcast(tb testing.TB, w http.ResponseWriter, req request) {
	if req.env.Payload != nil && req.err != nil {
		refuse(w, req.err)
		return
	}
	ep, err := koi.DecodeEventsPayload(req.payload())
	if err != nil {
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	var values [][]byte
	for _, ev := range ep.Events {
		if ev.EventType == koi.EventForget {
			continue // the peer's projections keep what they had
		}
		values = append(values, ev.AppendJSON(nil))
	}
	if len(values) > 0 {
		p.world.apply(values...)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("null"))
}

// poll answers /events/poll with the next page, signed for a signed poll.
func (p *peer) poll(w http.ResponseWriter, req request) {
	if req.env.Payload != nil && req.err != nil {
		refuse(w, req.err)
		return
	}
	p.mu.Lock()
	page := []byte(`{"type":"events_payload","events":[]}`)
	if len(p.pages) > 0 {
		page, p.pages = p.pages[0], p.pages[1:]
	}
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if req.env.Payload == nil {
		_, _ = w.Write(page)
		return
	}
	sealed, err := koi.Seal(p.key, page, p.rid, req.env.SourceNode)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(sealed)
}

// setOverride makes f answer every request from now on.
func (p *peer) setOverride(f func() (int, []byte)) {
	p.mu.Lock()
	p.override = f
	p.mu.Unlock()
}

// requests returns the requests received so far.
func (p *peer) requests() []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// paths returns the paths of the requests received so far.
func (p *peer) paths() []string {
	var out []string
	for _, r := range p.requests() {
		out = append(out, r.path)
	}
	return out
}

// asPeer returns p as a Client's Peer.
func (p *peer) asPeer() Peer { return Peer{RID: p.rid, URL: p.url} }

// waitFor polls cond until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runNetwork runs n until the test ends.
func runNetwork(tb testing.TB, n *Network) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.Run(ctx)
	}()
	tb.Cleanup(func() { cancel(); <-done })
}

// mustJSON is json.Marshal for tests.
func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
