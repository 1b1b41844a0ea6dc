package koinet

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/pipeline/httpjson"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
	rawkoi "github.com/koistream/koistream/topics/koinet"
)

// Defaults of a Network's timings.
const (
	// DefaultReconcileInterval is how often the graph is checked for edges
	// to propose, approve or reject when nothing nudges it earlier.
	DefaultReconcileInterval = 250 * time.Millisecond
	// DefaultResolveTimeout bounds the resolution of an unknown sender:
	// the peer waiting for our answer gives up after 5 s.
	DefaultResolveTimeout = 2 * time.Second
	// DefaultPollingInterval is how often a PARTIAL node polls (koi-net's
	// polling_interval).
	DefaultPollingInterval = 5 * time.Second
	// inFlightRetry is how long a published proposal, approval or
	// rejection is waited for in the graph before it is published again
	// (its record may have been lost with a crash before it was durable).
	inFlightRetry = 30 * time.Second
)

// Node types and protocol of a KOIConfig, as pipeline.KOIConfig spells them.
const (
	// NodeTypeFull serves the KOI-net API and proposes WEBHOOK edges.
	NodeTypeFull = "FULL"
	// NodeTypePartial is a client only: it proposes POLL edges and polls.
	NodeTypePartial = "PARTIAL"
	// ProtocolV1 speaks unsigned koi-net 1.0 to every peer.
	ProtocolV1 = "1.0"
)

// KOIConfig is the node's part in the network, a copy of the values of
// pipeline.KOIConfig (this package cannot import pipeline, which imports
// it). See there for their meaning.
type KOIConfig struct {
	// NodeType is FULL or PARTIAL; empty means FULL.
	NodeType string
	// FirstContactRID and FirstContactURL name the first contact; a URL
	// without a RID is a koi-net 1.0 first contact.
	FirstContactRID, FirstContactURL string
	// RidTypesOfInterest are the types we subscribe to at peers.
	RidTypesOfInterest []string
	// AllRidTypes subscribes to every type a peer provides.
	AllRidTypes bool
	// Protocol is "" or "1.0".
	Protocol string
	// PollingInterval is how often a PARTIAL node polls; 0 means
	// DefaultPollingInterval.
	PollingInterval time.Duration
}

// Self is our node: its RID, key and profile bundle, as koiapi.Self has
// them.
type Self struct {
	// RID is our node RID.
	RID string
	// Key signs our requests.
	Key *ecdsa.PrivateKey
	// PublicKey is our profile's public_key.
	PublicKey string
	// Manifest is our profile bundle's manifest as KOI-net JSON.
	Manifest []byte
	// Bundle is our profile bundle as KOI-net JSON,
	// {"manifest":…,"contents":…}.
	Bundle []byte
}

// QueueStat is one outbound queue's state, for the peers listing.
type QueueStat struct {
	// Subscriber is the node the queue delivers to.
	Subscriber string `json:"subscriber"`
	// Depth is how many events wait in it.
	Depth int64 `json:"depth"`
	// OldestAgeSeconds is how long its oldest event has waited.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// Config configures a Network.
type Config struct {
	// Self is our node. Required.
	Self Self
	// Cache is the node's cache projection, read for what we hold. Required.
	Cache *projections.Cache
	// Graph is the node's graph projection, read for nodes and edges.
	// Required.
	Graph *projections.Graph
	// Publisher appends to the raw topic: what peers answer (fetches,
	// polls) and our own knowledge (profile, edges). Its Publish must
	// return only once the records are durable (koistream's does), since
	// a poll answer counts as kept when it returns. Required.
	Publisher message.Publisher
	// RawTopic is the raw topic's name. Required.
	RawTopic string
	// KOI is the node's KOI-net configuration.
	KOI KOIConfig
	// HTTP sends our requests; nil means a client with DefaultHTTPTimeout.
	HTTP *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Queues reports the outbound queues for the peers listing; nil lists
	// none.
	Queues func() []QueueStat
	// ReconcileInterval defaults to DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// ResolveTimeout defaults to DefaultResolveTimeout.
	ResolveTimeout time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.ResolveTimeout <= 0 {
		c.ResolveTimeout = DefaultResolveTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.KOI.NodeType == "" {
		c.KOI.NodeType = NodeTypeFull
	}
	if c.KOI.PollingInterval <= 0 {
		c.KOI.PollingInterval = DefaultPollingInterval
	}
}

// Validate reports the first missing or inconsistent setting.
func (c *Config) Validate() error {
	switch {
	case c.Self.RID == "" || len(c.Self.Bundle) == 0:
		return errors.New("koinet: our RID and profile bundle are required")
	case c.Self.Key == nil && c.KOI.Protocol != ProtocolV1:
		return errors.New("koinet: a key is required unless the protocol is 1.0")
	case c.Cache == nil || c.Graph == nil:
		return errors.New("koinet: the cache and graph projections are required")
	case c.Publisher == nil || c.RawTopic == "":
		return errors.New("koinet: a publisher and the raw topic are required")
	}
	switch c.KOI.NodeType {
	case NodeTypeFull, NodeTypePartial:
	default:
		return fmt.Errorf("koinet: node type must be FULL or PARTIAL, got %q", c.KOI.NodeType)
	}
	if c.KOI.FirstContactRID != "" && c.KOI.FirstContactURL == "" {
		return errors.New("koinet: the first contact has a RID but no URL")
	}
	return nil
}

// Network is the node's KOI-net control plane: it introduces the node to
// its first contact, resolves unknown senders, follows up handshakes,
// proposes edges for our interests and catches up on them, approves or
// rejects edges proposed to us, polls as a PARTIAL node and sends event
// batches for the outbound queues. Everything it learns goes to the raw
// topic as koi-net records, so it passes the stages like any input and
// reaches the graph and the cache from the log; the Network only reads
// them. Its methods are safe for concurrent use.
type Network struct {
	cfg      Config
	log      *slog.Logger
	client   *Client
	profile  koi.Bundle
	provides []string // our provides.event

	nudge chan struct{}
	bg    sync.WaitGroup // catch-ups and fetches Run started

	mu        sync.Mutex
	proposals map[string]flight // edges we proposed, by RID, until the graph shows them
	decisions map[string]flight // proposals we answered, by RID, until the graph shows it
	followUp  []followUp        // OnBroadcast work waiting for Run
	unkept    map[string][]byte // poll answers not kept yet, by peer
	// orphans holds, by edge RID, since when the other end of one of our
	// edges has been missing from the graph (forgetOrphanEdges).
	orphans map[string]time.Time
	// profileSent is when our profile was last published (ensureProfile).
	profileSent time.Time

	res *resolver
}

// flight is something we published about an edge and wait to see in the
// graph.
type flight struct {
	at    time.Time // when it was last published
	tries int       // how many times it was published again
}

// wait is how long f is awaited before it is published again: inFlightRetry,
// doubling with every try up to an hour, so that a peer that keeps
// refusing a proposal is not asked every few seconds.
func (f flight) wait() time.Duration {
	return min(inFlightRetry<<min(f.tries, 7), time.Hour)
}

// followUp is one OnBroadcast call's work.
type followUp struct {
	sender    string
	handshake bool
	missing   []string
	tries     int // rounds waited for the sender to be reachable
}

// New returns the network of cfg. It does nothing on the network until
// Start and Run.
func New(cfg Config) (*Network, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var b struct {
		Manifest koi.Manifest    `json:"manifest"`
		Contents json.RawMessage `json:"contents"`
	}
	if err := json.Unmarshal(cfg.Self.Bundle, &b); err != nil || len(b.Contents) == 0 || b.Manifest.RID != cfg.Self.RID {
		return nil, fmt.Errorf("koinet: our profile bundle is not a bundle of %s (%v)", cfg.Self.RID, err)
	}
	var prof struct {
		Provides struct {
			Event []string `json:"event"`
		} `json:"provides"`
	}
	if err := json.Unmarshal(b.Contents, &prof); err != nil {
		return nil, fmt.Errorf("koinet: our profile: %w", err)
	}
	n := &Network{
		cfg:       cfg,
		log:       cfg.Logger,
		profile:   koi.Bundle{Manifest: b.Manifest, Contents: []byte(b.Contents)},
		provides:  prof.Provides.Event,
		nudge:     make(chan struct{}, 1),
		proposals: map[string]flight{},
		decisions: map[string]flight{},
		unkept:    map[string][]byte{},
	}
	var err error
	n.client, err = NewClient(ClientConfig{
		Self: cfg.Self.RID, Key: cfg.Self.Key, Profile: &n.profile, HTTP: cfg.HTTP, Lookup: n.knownKey,
	})
	if err != nil {
		return nil, err
	}
	n.res = newResolver(n)
	return n, nil
}

// Client returns the network's client, for requests of our own to peers.
func (n *Network) Client() *Client { return n.client }

// Start does what must happen before the node serves: it puts our own
// profile bundle into our log, so that the node's profile is in its cache
// and peers subscribed to node events learn of a changed one. It always
// publishes: the ridify stage, whose state is the authority on what was
// announced, drops an unchanged profile; the cache is not, as it may lag
// the log at start (a node killed right after announcing another profile
// left the cache behind, and a start that compared with the cache skipped
// its own announcement for good). The handshake with the first contact
// happens in Run, without holding up the start.
func (n *Network) Start(ctx context.Context) error {
	return n.publishProfile(ctx)
}

// publishProfile puts our profile bundle into our log.
func (n *Network) publishProfile(ctx context.Context) error {
	n.mu.Lock()
	n.profileSent = n.cfg.Now()
	n.mu.Unlock()
	ev := koi.NewBundleEvent(koi.EventNew, n.profile)
	if err := n.publishLocalCtx(ctx, []koi.Event{ev}, nil); err != nil {
		return fmt.Errorf("koinet: publish our profile: %w", err)
	}
	return nil
}

// ProfileRecheck is how long after publishing our profile the network
// checks that the cache holds it, and publishes it again if not.
const ProfileRecheck = 5 * time.Second

// ensureProfile publishes our profile again when, ProfileRecheck after the
// last time, the cache still holds another one. Local records are keyed by
// a new UUID each, so the announcement of an earlier run that died before
// its stages handled it can land on another partition and be handled after
// ours, leaving its profile last (seen in kill -9 cycles); announcing ours
// again puts it back on top.
func (n *Network) ensureProfile() {
	n.mu.Lock()
	due := n.cfg.Now().Sub(n.profileSent) >= ProfileRecheck
	n.mu.Unlock()
	if !due {
		return
	}
	m, ok, err := n.cfg.Cache.Manifest(n.cfg.Self.RID)
	if err != nil {
		return
	}
	if ok {
		var cached koi.Manifest
		if json.Unmarshal(m, &cached) == nil && cached.SHA256Hash == n.profile.Manifest.SHA256Hash {
			return
		}
	}
	if err := n.publishProfile(context.Background()); err != nil {
		n.log.Error("koi-net: publish our profile again", "err", err)
	}
}

// Run runs the network until ctx ends: the handshake with the first
// contact (retried with backoff while it is down), the reconciliation of
// the graph (edge proposals, approvals, rejections) every
// ReconcileInterval and on every nudge, the follow-ups of OnBroadcast, and
// for a PARTIAL node the poller. It returns nil when ctx ends.
func (n *Network) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { n.handshakeLoop(ctx) })
	if n.cfg.KOI.NodeType == NodeTypePartial {
		wg.Go(func() { n.pollLoop(ctx) })
	}
	t := time.NewTicker(n.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		n.runFollowUps(ctx)
		n.reconcile(ctx)
		select {
		case <-ctx.Done():
			wg.Wait()
			n.bg.Wait()
			return nil
		case <-t.C:
		case <-n.nudge:
		}
	}
}

// Nudge asks Run to reconcile the graph now rather than at its next tick.
// It never blocks.
func (n *Network) Nudge() {
	select {
	case n.nudge <- struct{}{}:
	default:
	}
}

// Resolve returns the public key of node rid for the inbound check of a
// signed request (a koi.KeyLookup with a context): ours, a cached
// profile's, or one fetched from a provider of node state and checked
// against the RID (KOI-2.1.md 1a). It answers within ResolveTimeout.
func (n *Network) Resolve(ctx context.Context, rid string) (publicKey string, ok bool) {
	return n.res.resolve(ctx, rid)
}

// Broadcast sends events (event JSON objects) to subscriber sub's
// /events/broadcast, at the base_url of its profile in the graph (or the
// first contact's URL when sub is the first contact and not in the graph
// yet). It is for the outbound queues: an error means the batch was not
// acknowledged and must be sent again.
func (n *Network) Broadcast(ctx context.Context, sub string, events [][]byte) error {
	p, err := n.peerOf(sub)
	if err != nil {
		return err
	}
	return n.client.Broadcast(ctx, p, events)
}

// ErrNoBaseURL is wrapped by Broadcast's error for a subscriber we cannot
// reach: unknown, or without a base_url.
var ErrNoBaseURL = errors.New("koinet: no base_url for the node")

// peerOf returns how to reach node rid.
func (n *Network) peerOf(rid string) (Peer, error) {
	node, ok, err := n.cfg.Graph.Node(rid)
	if err != nil {
		return Peer{}, err
	}
	if ok && node.BaseURL != "" {
		return n.peer(rid, node.BaseURL), nil
	}
	if rid != "" && rid == n.cfg.KOI.FirstContactRID {
		return n.firstContact(), nil
	}
	return Peer{}, fmt.Errorf("%w %s", ErrNoBaseURL, rid)
}

// peer returns the Peer of node rid at url: 1.0 when we speak 1.0 or the
// RID is a 1.0 RID.
func (n *Network) peer(rid, url string) Peer {
	v1 := n.cfg.KOI.Protocol == ProtocolV1
	if nr, err := koi.ParseNodeRID(rid); err == nil && nr.Legacy() {
		v1 = true
	}
	return Peer{RID: rid, URL: url, V1: v1}
}

// firstContact returns the first contact as a Peer; a URL without a RID is
// a 1.0 peer.
func (n *Network) firstContact() Peer {
	p := n.peer(n.cfg.KOI.FirstContactRID, n.cfg.KOI.FirstContactURL)
	if p.RID == "" {
		p.V1 = true
	}
	return p
}

// Push reports whether sub receives our events by webhook: it is a FULL
// node with a base_url and not only polling us (it has no edge from us, or
// one of its edges from us is WEBHOOK). The reference decides the same way
// by node type (PROTOCOL.md 7.1): a FULL newcomer is sent our profile
// (the handshake's follow-up) before any edge exists. Otherwise its events
// wait for its polls.
func (n *Network) Push(sub string) bool {
	node, ok, err := n.cfg.Graph.Node(sub)
	if err != nil || !ok || node.NodeType != projections.NodeFull || node.BaseURL == "" {
		return false
	}
	edges, err := n.cfg.Graph.EdgesFrom(n.cfg.Self.RID)
	if err != nil {
		return false
	}
	polls := false
	for _, e := range edges {
		if e.Target != sub {
			continue
		}
		if e.EdgeType == projections.EdgeWebhook {
			return true
		}
		polls = true
	}
	return !polls
}

// knownKey is the client's lookup of answers' signers: ours, or a cached
// node profile's. It does not resolve: an answer is not worth a fetch.
func (n *Network) knownKey(rid string) (string, bool) {
	if rid == n.cfg.Self.RID {
		return n.cfg.Self.PublicKey, n.cfg.Self.PublicKey != ""
	}
	return n.res.cached(rid)
}

// publishLocal appends our own knowledge, events to reach targets (nil:
// whoever the edges say).
func (n *Network) publishLocal(events []koi.Event, targets []string) error {
	return n.publishLocalCtx(context.Background(), events, targets)
}

// publishLocalCtx is publishLocal bounded by ctx.
func (n *Network) publishLocalCtx(ctx context.Context, events []koi.Event, targets []string) error {
	msg, err := rawkoi.LocalEvents(n.cfg.Self.RID, events, targets, n.cfg.Now())
	if err != nil {
		return err
	}
	msg.SetContext(ctx)
	return n.cfg.Publisher.Publish(n.cfg.RawTopic, msg)
}

// appendInput appends a peer's answer (a poll's or a fetch's body, as
// received) to the raw topic.
func (n *Network) appendInput(sender, via string, body []byte) error {
	msg, err := rawkoi.NewMessage(rawkoi.Input{
		Sender: sender, Receiver: n.cfg.Self.RID, Via: via, Body: body, ReceivedAt: n.cfg.Now(),
	})
	if err != nil {
		return err
	}
	return n.cfg.Publisher.Publish(n.cfg.RawTopic, msg)
}

// PeersPath is where the node's HTTP listener serves PeersHandler. It is
// not under the KOI-net API path, whose endpoints are the POST-only peer
// protocol; `koistream peers` asks here.
const PeersPath = "/peers"

// PeersView is the body of the peers listing (PeersHandler): our RID, the
// nodes and edges of the graph, and the outbound queues.
type PeersView struct {
	// Self is our node RID.
	Self string `json:"self"`
	// Nodes are the graph's nodes, sorted by RID.
	Nodes []PeerNode `json:"nodes"`
	// Edges are the edges touching a known node or us, sorted by RID.
	Edges []PeerEdge `json:"edges"`
	// Queues are the outbound queues, sorted by subscriber.
	Queues []QueueStat `json:"queues"`
}

// PeerNode is a node of the graph in the peers listing.
type PeerNode struct {
	// RID is the node's RID.
	RID string `json:"rid"`
	// NodeType is FULL or PARTIAL.
	NodeType string `json:"node_type"`
	// BaseURL is empty for a node without one (PARTIAL).
	BaseURL string `json:"base_url"`
	// Provides are the types the node broadcasts and serves.
	Provides PeerProvides `json:"provides"`
}

// PeerProvides is a node's provides lists.
type PeerProvides struct {
	// Event are the types it broadcasts events of.
	Event []string `json:"event"`
	// State are the types it answers fetches for.
	State []string `json:"state"`
}

// PeerEdge is an edge of the graph in the peers listing.
type PeerEdge struct {
	// RID is the edge's RID.
	RID string `json:"rid"`
	// Source provides the events, Target receives them.
	Source string `json:"source"`
	Target string `json:"target"`
	// EdgeType is WEBHOOK or POLL.
	EdgeType string `json:"edge_type"`
	// Status is PROPOSED or APPROVED.
	Status string `json:"status"`
	// RIDTypes are the types the edge carries.
	RIDTypes []string `json:"rid_types"`
}

// Peers returns the peers listing: every node of the graph (us included
// when our profile is there), every edge touching a known node or us, and
// the queues Config.Queues reports. Lists are sorted by RID and never nil.
func (n *Network) Peers() (PeersView, error) {
	v := PeersView{Self: n.cfg.Self.RID, Nodes: []PeerNode{}, Edges: []PeerEdge{}, Queues: []QueueStat{}}
	nodes, err := n.cfg.Graph.Nodes()
	if err != nil {
		return v, err
	}
	rids := []string{n.cfg.Self.RID}
	for _, node := range nodes {
		v.Nodes = append(v.Nodes, PeerNode{
			RID: node.RID, NodeType: string(node.NodeType), BaseURL: node.BaseURL,
			Provides: PeerProvides{Event: nonNil(node.ProvidesEvent), State: nonNil(node.ProvidesState)},
		})
		rids = append(rids, node.RID)
	}
	seen := map[string]bool{}
	for _, rid := range rids {
		for _, list := range []func(string) ([]projections.Edge, error){n.cfg.Graph.EdgesFrom, n.cfg.Graph.EdgesTo} {
			edges, err := list(rid)
			if err != nil {
				return v, err
			}
			for _, e := range edges {
				if seen[e.RID] {
					continue
				}
				seen[e.RID] = true
				v.Edges = append(v.Edges, PeerEdge{
					RID: e.RID, Source: e.Source, Target: e.Target, EdgeType: string(e.EdgeType),
					Status: string(e.Status), RIDTypes: nonNil(e.RIDTypes),
				})
			}
		}
	}
	slices.SortFunc(v.Edges, func(a, b PeerEdge) int { return strings.Compare(a.RID, b.RID) })
	if n.cfg.Queues != nil {
		v.Queues = append(v.Queues, n.cfg.Queues()...)
		slices.SortFunc(v.Queues, func(a, b QueueStat) int { return strings.Compare(a.Subscriber, b.Subscriber) })
	}
	return v, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PeersHandler serves the peers listing as JSON (PeersView) to GET; other
// methods get 405. It is for the node's own HTTP listener (GET /peers), not
// the KOI-net API, whose paths are POST-only peer protocol.
func (n *Network) PeersHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpjson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed", "the peers listing answers GET only")
			return
		}
		v, err := n.Peers()
		if err != nil {
			n.log.Error("koi-net: peers listing", "err", err)
			httpjson.Error(w, http.StatusInternalServerError, "internal", "reading the graph failed")
			return
		}
		httpjson.Write(w, http.StatusOK, v)
	})
}
