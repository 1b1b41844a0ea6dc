package projections

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	eventstopic "github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/koi"
)

// The graph's key tables, all under the one tag 'g' so that the graph takes
// a single table tag of the store. Node and edge RIDs contain no zero byte
// (parseNode and parseEdge refuse them), so a zero byte ends each part.
var (
	prefixGraph = []byte("g\x00")
	// g\0n\0<node rid> → profile contents, as received.
	prefixGraphNode = []byte("g\x00n\x00")
	// g\0e\0<edge rid> → edge contents, as received.
	prefixGraphEdge = []byte("g\x00e\x00")
	// g\0s\0<source rid>\0<edge rid> → empty: the edges by source.
	prefixGraphFrom = []byte("g\x00s\x00")
	// g\0t\0<target rid>\0<edge rid> → empty: the edges by target.
	prefixGraphTo = []byte("g\x00t\x00")
	// g\0p\0<event|state>\0<rid type>\0<node rid> → empty: the nodes by
	// the types they provide.
	prefixGraphProvides = []byte("g\x00p\x00")
)

// graphName is the graph's Name.
const graphName = "graph"

// NodeType is a node profile's node_type.
type NodeType string

// The node types of KOI-net (PROTOCOL.md 6).
const (
	// NodeFull serves the KOI-net endpoints at its base_url.
	NodeFull NodeType = "FULL"
	// NodePartial is a client only: it has no base_url and polls.
	NodePartial NodeType = "PARTIAL"
)

// EdgeType is an edge profile's edge_type: how events travel from the
// edge's source to its target.
type EdgeType string

// The edge types of KOI-net (PROTOCOL.md 6).
const (
	// EdgeWebhook: the source POSTs the events to the target's
	// /events/broadcast.
	EdgeWebhook EdgeType = "WEBHOOK"
	// EdgePoll: the source queues the events and the target polls its
	// /events/poll.
	EdgePoll EdgeType = "POLL"
)

// EdgeStatus is an edge profile's status.
type EdgeStatus string

// The edge statuses of KOI-net. A rejected proposal is forgotten, not given
// a status of its own.
const (
	EdgeProposed EdgeStatus = "PROPOSED"
	EdgeApproved EdgeStatus = "APPROVED"
)

// Provision names one of a node profile's provides lists.
type Provision string

// The two lists of provides.
const (
	// ProvidesEvent lists the RID types a node broadcasts events of.
	ProvidesEvent Provision = "event"
	// ProvidesState lists the RID types a node answers fetches for.
	ProvidesState Provision = "state"
)

// Node is a node known to the graph: the contents of its latest profile
// bundle, byte for byte as received, and the fields the graph read from
// them. Fields absent from the profile are zero.
type Node struct {
	// RID is the node's RID, orn:koi-net.node:<name>+<hash>.
	RID string
	// BaseURL is the profile's base_url; empty when it is null or absent,
	// as it is for PARTIAL nodes.
	BaseURL string
	// NodeType is FULL or PARTIAL.
	NodeType NodeType
	// ProvidesEvent and ProvidesState are provides.event and
	// provides.state, in the profile's order.
	ProvidesEvent, ProvidesState []string
	// PublicKey is the profile's public_key; empty when absent (koi-net
	// 1.0 profiles have none). The graph does not check it against the
	// RID: what enters the events topic was checked on the way in, and the
	// graph mirrors the topic.
	PublicKey string
	// Contents are the profile's contents exactly as the event carried
	// them (key order, "@context", nulls): what is forwarded and served.
	Contents []byte
}

// Provides reports whether the node lists ridType in the provides list p.
func (n Node) Provides(p Provision, ridType string) bool {
	switch p {
	case ProvidesEvent:
		return slices.Contains(n.ProvidesEvent, ridType)
	case ProvidesState:
		return slices.Contains(n.ProvidesState, ridType)
	}
	return false
}

// Edge is an edge known to the graph: the contents of its latest bundle,
// byte for byte as received, and their fields.
type Edge struct {
	// RID is the edge's RID, orn:koi-net.edge:<id>. The graph does not
	// check it against source and target: 1.0 and 1.1+ derive it
	// differently, and the reference does not check it either.
	RID string
	// Source is the provider of the events, Target the subscriber.
	Source, Target string
	// EdgeType is WEBHOOK or POLL.
	EdgeType EdgeType
	// Status is PROPOSED or APPROVED.
	Status EdgeStatus
	// RIDTypes are the RID types the edge carries, in the profile's order.
	RIDTypes []string
	// Contents are the edge's contents exactly as the event carried them;
	// approving an edge means re-issuing them with only status changed.
	Contents []byte
}

// Carries reports whether the edge carries events of ridType.
func (e Edge) Carries(ridType string) bool { return slices.Contains(e.RIDTypes, ridType) }

// SameFields reports whether e and o describe the same edge: the same
// source, target, edge_type and status and the same set of rid_types (in
// any order, as the reference compares type sets). Edges must be compared
// this way, never by their contents' hashes: a koi-net 2.1 node adds
// "@context" to a profile that lacked it, which changes the hash of an
// otherwise identical edge (KOI-2.1.md 1c).
func (e Edge) SameFields(o Edge) bool {
	if e.Source != o.Source || e.Target != o.Target || e.EdgeType != o.EdgeType || e.Status != o.Status {
		return false
	}
	for _, t := range e.RIDTypes {
		if !slices.Contains(o.RIDTypes, t) {
			return false
		}
	}
	for _, t := range o.RIDTypes {
		if !slices.Contains(e.RIDTypes, t) {
			return false
		}
	}
	return true
}

// Graph is the graph projection: the KOI-net network as the events topic
// describes it, every node (orn:koi-net.node RIDs) with its profile and
// every edge (orn:koi-net.edge RIDs) with its profile, indexed by source,
// by target and by the RID types nodes provide. NEW and UPDATE events
// replace what the graph holds for the RID, FORGET deletes it; events of
// other RID types are not the graph's and are passed over. The graph
// mirrors the topic and decides nothing: forgetting a node leaves its edges
// in place until their own FORGET events arrive (the reference emits those,
// PROTOCOL.md 7 step 7), and approval or rejection of proposals is for the
// stages that write the topic.
//
// A Graph is safe for concurrent use under the [Projection] contract: Apply
// is called by one goroutine at a time, the query methods by any. Every
// query reads one snapshot of the store, so its answer reflects whole
// committed batches, never part of one.
type Graph struct {
	db *pebble.DB
}

// NewGraph returns the graph projection kept in s; attach it with
// [Store.Attach]. A store already built by other projections refuses a set
// that adds the graph (see [ErrStoreMismatch]) until it is rebuilt once.
func NewGraph(s *Store) *Graph {
	return &Graph{db: s.db}
}

// Name returns "graph".
func (g *Graph) Name() string { return graphName }

// Tables returns the graph's one tag, 'g'.
func (g *Graph) Tables() []byte { return []byte{prefixGraph[0]} }

// graphEntry is what the graph holds for one RID while a batch is staged:
// a node or an edge, or neither when the RID is unknown or was forgotten.
type graphEntry struct {
	node *Node
	edge *Edge
}

// Apply stages the effect of recs into b: NEW and UPDATE of a node or an
// edge replace its stored contents and move its index entries, FORGET
// deletes both. Records keyed by an RID of another type are passed over
// unread (see mayBeGraphRecord). Records that are not valid KOI events, and node or edge
// events whose contents are not a valid profile, are skipped and reported
// in the returned slice, and leave what the graph held for the RID as it
// was. Apply fails only on a failed read or write of the store.
func (g *Graph) Apply(b *pebble.Batch, recs []Record) (skipped []error, err error) {
	// The batch is not indexed, so the entries staged by earlier records
	// of this call are kept here: an index entry is deleted by the key the
	// previous version wrote, which the database does not have yet.
	staged := map[string]graphEntry{}
	for _, r := range recs {
		if !mayBeGraphRecord(r.Key) {
			continue
		}
		if err := g.applyEvent(b, staged, r.Value); err != nil {
			if !errors.Is(err, ErrBadEvent) {
				return skipped, fmt.Errorf("graph: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
			}
			skipped = append(skipped, fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
		}
	}
	return skipped, nil
}

// mayBeGraphRecord reports whether a record with key may be about a node
// or an edge. Records of the events topic are keyed by the RID of their
// event (topics/events.NewMessage refuses an event about another RID than
// its observation's, whose RID is the key), so a key of another RID type
// is passed over without parsing the value: GitHub events are the bulk of
// the topic, kilobytes each, and the cache has already walked them once.
// A record without a key (tools, tests) is parsed.
func mayBeGraphRecord(key []byte) bool {
	if len(key) == 0 {
		return true
	}
	return bytes.HasPrefix(key, []byte(koi.TypeKoiNetNode+":")) || bytes.HasPrefix(key, []byte(koi.TypeKoiNetEdge+":"))
}

// applyEvent stages one event; errors wrapping ErrBadEvent mean the record
// is skipped.
func (g *Graph) applyEvent(b *pebble.Batch, staged map[string]graphEntry, value []byte) error {
	ev, err := eventstopic.ParseValue(value)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	typ, err := koi.RIDType(ev.RID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if typ != koi.TypeKoiNetNode && typ != koi.TypeKoiNetEdge {
		return nil
	}
	var next graphEntry
	switch ev.EventType {
	case koi.EventNew, koi.EventUpdate:
		if len(ev.Contents) == 0 {
			return fmt.Errorf("%w: %s %s without contents", ErrBadEvent, ev.EventType, ev.RID)
		}
		if typ == koi.TypeKoiNetNode {
			n, err := parseNode(ev.RID, ev.Contents)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrBadEvent, err)
			}
			next.node = &n
		} else {
			e, err := parseEdge(ev.RID, ev.Contents)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrBadEvent, err)
			}
			next.edge = &e
		}
	case koi.EventForget:
	default:
		return fmt.Errorf("%w: unknown event type %q", ErrBadEvent, ev.EventType)
	}
	prev, ok := staged[ev.RID]
	if !ok {
		if prev, err = g.load(g.db, typ, ev.RID); err != nil {
			return err
		}
	}
	if err := stageGraphEntry(b, ev.RID, prev, next); err != nil {
		return err
	}
	staged[ev.RID] = next
	return nil
}

// load reads what r holds for rid, of type typ.
func (g *Graph) load(r pebble.Reader, typ, rid string) (graphEntry, error) {
	if typ == koi.TypeKoiNetNode {
		n, ok, err := getNode(r, rid)
		if err != nil || !ok {
			return graphEntry{}, err
		}
		return graphEntry{node: &n}, nil
	}
	e, ok, err := getEdge(r, rid)
	if err != nil || !ok {
		return graphEntry{}, err
	}
	return graphEntry{edge: &e}, nil
}

// stageGraphEntry stages the change of rid from prev to next: the contents
// key, and the index keys that differ. Index keys are decided by the parsed
// fields, so an UPDATE that changes only status (or adds "@context")
// rewrites the contents and leaves the indexes alone.
func stageGraphEntry(b *pebble.Batch, rid string, prev, next graphEntry) error {
	var old, cur [][]byte
	if prev.node != nil {
		old = nodeIndexKeys(prev.node)
	}
	if prev.edge != nil {
		old = edgeIndexKeys(prev.edge)
	}
	switch {
	case next.node != nil:
		cur = nodeIndexKeys(next.node)
		if err := b.Set(prefixed(prefixGraphNode, rid), next.node.Contents, nil); err != nil {
			return err
		}
	case next.edge != nil:
		cur = edgeIndexKeys(next.edge)
		if err := b.Set(prefixed(prefixGraphEdge, rid), next.edge.Contents, nil); err != nil {
			return err
		}
	case prev.node != nil:
		if err := b.Delete(prefixed(prefixGraphNode, rid), nil); err != nil {
			return err
		}
	case prev.edge != nil:
		if err := b.Delete(prefixed(prefixGraphEdge, rid), nil); err != nil {
			return err
		}
	}
	for _, k := range old {
		if !slices.ContainsFunc(cur, func(c []byte) bool { return bytes.Equal(c, k) }) {
			if err := b.Delete(k, nil); err != nil {
				return err
			}
		}
	}
	for _, k := range cur {
		if !slices.ContainsFunc(old, func(o []byte) bool { return bytes.Equal(o, k) }) {
			if err := b.Set(k, nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// nodeIndexKeys returns the provides index keys of n.
func nodeIndexKeys(n *Node) [][]byte {
	var keys [][]byte
	for _, l := range []struct {
		p     Provision
		types []string
	}{{ProvidesEvent, n.ProvidesEvent}, {ProvidesState, n.ProvidesState}} {
		for _, t := range l.types {
			keys = append(keys, joinKey(prefixGraphProvides, string(l.p), t, n.RID))
		}
	}
	return keys
}

// edgeIndexKeys returns the source and target index keys of e.
func edgeIndexKeys(e *Edge) [][]byte {
	return [][]byte{joinKey(prefixGraphFrom, e.Source, e.RID), joinKey(prefixGraphTo, e.Target, e.RID)}
}

// joinKey returns prefix followed by parts separated by zero bytes.
func joinKey(prefix []byte, parts ...string) []byte {
	return append(bytes.Clone(prefix), strings.Join(parts, "\x00")...)
}

// profileMembers returns the top-level members of profile contents by
// name. Names match exactly, as in Python: encoding/json would also fill a
// struct field from "Node_Type". Of a member given twice the last counts,
// as with Python's json.
func profileMembers(contents []byte) (map[string]json.RawMessage, error) {
	if c := bytes.TrimLeft(contents, " \t\r\n"); len(c) == 0 || c[0] != '{' {
		return nil, errors.New("contents are not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(contents, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// member decodes the member name of m into v. It returns false, leaving v
// alone, when the member is absent or null.
func member(m map[string]json.RawMessage, name string, v any) (bool, error) {
	raw, ok := m[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	return true, nil
}

// parseNode reads the profile contents of node rid as the reference's
// NodeProfile would accept them, leniently: node_type is required and must
// be FULL or PARTIAL, base_url and public_key may be null or absent,
// provides and its lists default to empty, every provided type must be an
// RID type, and unknown keys are ignored. The returned Node keeps contents
// itself, not a copy.
func parseNode(rid string, contents []byte) (Node, error) {
	if _, err := koi.ParseNodeRID(rid); err != nil {
		return Node{}, err
	}
	if err := checkKeyPart("node RID", rid); err != nil {
		return Node{}, err
	}
	m, err := profileMembers(contents)
	if err != nil {
		return Node{}, fmt.Errorf("node profile of %s: %w", rid, err)
	}
	n := Node{RID: rid, Contents: contents}
	var nodeType string
	var provides map[string]json.RawMessage
	for _, f := range []struct {
		name string
		v    any
	}{{"node_type", &nodeType}, {"base_url", &n.BaseURL}, {"public_key", &n.PublicKey}, {"provides", &provides}} {
		if _, err := member(m, f.name, f.v); err != nil {
			return Node{}, fmt.Errorf("node profile of %s: %w", rid, err)
		}
	}
	if _, err := member(provides, "event", &n.ProvidesEvent); err != nil {
		return Node{}, fmt.Errorf("node profile of %s: provides: %w", rid, err)
	}
	if _, err := member(provides, "state", &n.ProvidesState); err != nil {
		return Node{}, fmt.Errorf("node profile of %s: provides: %w", rid, err)
	}
	switch t := NodeType(nodeType); t {
	case NodeFull, NodePartial:
		n.NodeType = t
	default:
		return Node{}, fmt.Errorf("node profile of %s: node_type %q is neither FULL nor PARTIAL", rid, t)
	}
	for _, t := range slices.Concat(n.ProvidesEvent, n.ProvidesState) {
		if err := checkRIDType(t); err != nil {
			return Node{}, fmt.Errorf("node profile of %s: provides: %w", rid, err)
		}
	}
	return n, nil
}

// parseEdge reads the contents of edge rid as the reference's EdgeProfile
// would accept them: source and target node RIDs, edge_type WEBHOOK or
// POLL, status PROPOSED or APPROVED, rid_types a list of RID types; unknown
// keys ("@context") are ignored. The returned Edge keeps contents itself.
func parseEdge(rid string, contents []byte) (Edge, error) {
	if err := checkKeyPart("edge RID", rid); err != nil {
		return Edge{}, err
	}
	m, err := profileMembers(contents)
	if err != nil {
		return Edge{}, fmt.Errorf("edge profile of %s: %w", rid, err)
	}
	e := Edge{RID: rid, Contents: contents}
	for _, f := range []struct {
		name string
		v    any
	}{{"source", &e.Source}, {"target", &e.Target}, {"edge_type", &e.EdgeType}, {"status", &e.Status}, {"rid_types", &e.RIDTypes}} {
		ok, err := member(m, f.name, f.v)
		if err != nil {
			return Edge{}, fmt.Errorf("edge profile of %s: %w", rid, err)
		}
		if !ok {
			return Edge{}, fmt.Errorf("edge profile of %s: %s is required", rid, f.name)
		}
	}
	for _, n := range []string{e.Source, e.Target} {
		if _, err := koi.ParseNodeRID(n); err != nil {
			return Edge{}, fmt.Errorf("edge profile of %s: %w", rid, err)
		}
		if err := checkKeyPart("node RID", n); err != nil {
			return Edge{}, fmt.Errorf("edge profile of %s: %w", rid, err)
		}
	}
	if e.EdgeType != EdgeWebhook && e.EdgeType != EdgePoll {
		return Edge{}, fmt.Errorf("edge profile of %s: edge_type %q is neither WEBHOOK nor POLL", rid, e.EdgeType)
	}
	if e.Status != EdgeProposed && e.Status != EdgeApproved {
		return Edge{}, fmt.Errorf("edge profile of %s: status %q is neither PROPOSED nor APPROVED", rid, e.Status)
	}
	for _, t := range e.RIDTypes {
		if err := checkRIDType(t); err != nil {
			return Edge{}, fmt.Errorf("edge profile of %s: rid_types: %w", rid, err)
		}
	}
	return e, nil
}

// checkRIDType reports whether t is an RID type string ("orn:github.issue",
// "https"): what an RID with that type and some reference would return
// as its type. The zero byte is refused because it separates the parts of
// index keys.
func checkRIDType(t string) error {
	if rid, err := koi.ParseRID(t + ":x"); err != nil || rid.Type() != t {
		return fmt.Errorf("%q is not an RID type", t)
	}
	return checkKeyPart("RID type", t)
}

// checkKeyPart refuses s if it holds a zero byte, which separates the
// parts of the graph's keys.
func checkKeyPart(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s %q holds a zero byte", what, s)
	}
	return nil
}

// getValue returns a copy of the value of key in r, or ok=false.
func getValue(r pebble.Reader, key []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("graph: get %q: %w", key, err)
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// getNode reads node rid from r. Stored contents were valid when written,
// so a failure to parse them is corruption, an error.
func getNode(r pebble.Reader, rid string) (Node, bool, error) {
	v, ok, err := getValue(r, prefixed(prefixGraphNode, rid))
	if err != nil || !ok {
		return Node{}, false, err
	}
	n, err := parseNode(rid, v)
	if err != nil {
		return Node{}, false, fmt.Errorf("graph: stored %v", err)
	}
	return n, true, nil
}

// getEdge reads edge rid from r, as getNode.
func getEdge(r pebble.Reader, rid string) (Edge, bool, error) {
	v, ok, err := getValue(r, prefixed(prefixGraphEdge, rid))
	if err != nil || !ok {
		return Edge{}, false, err
	}
	e, err := parseEdge(rid, v)
	if err != nil {
		return Edge{}, false, fmt.Errorf("graph: stored %v", err)
	}
	return e, true, nil
}

// scanSuffixes returns, in key order, the rest of every key of r that
// starts with prefix.
func scanSuffixes(r pebble.Reader, prefix []byte) ([]string, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return nil, fmt.Errorf("graph: scan %q: %w", prefix, err)
	}
	var out []string
	for it.First(); it.Valid(); it.Next() {
		out = append(out, string(it.Key()[len(prefix):]))
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("graph: scan %q: %w", prefix, err)
	}
	return out, nil
}

// Node returns node rid as the graph holds it, or ok=false if it holds
// none. The returned Node is the caller's.
func (g *Graph) Node(rid string) (Node, bool, error) {
	return getNode(g.db, rid)
}

// Edge returns edge rid as the graph holds it, or ok=false.
func (g *Graph) Edge(rid string) (Edge, bool, error) {
	return getEdge(g.db, rid)
}

// Nodes returns every node of the graph, sorted by RID.
func (g *Graph) Nodes() ([]Node, error) {
	snap := g.db.NewSnapshot()
	defer snap.Close()
	rids, err := scanSuffixes(snap, prefixGraphNode)
	if err != nil {
		return nil, err
	}
	return nodesOf(snap, rids)
}

// nodesOf reads the nodes rids from r, which must hold them all.
func nodesOf(r pebble.Reader, rids []string) ([]Node, error) {
	out := make([]Node, 0, len(rids))
	for _, rid := range rids {
		n, ok, err := getNode(r, rid)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("graph: node %s indexed but not stored", rid)
		}
		out = append(out, n)
	}
	return out, nil
}

// EdgesFrom returns the edges whose source is the node source, sorted by
// edge RID: the edges on which source provides events.
func (g *Graph) EdgesFrom(source string) ([]Edge, error) {
	return g.edgesBy(prefixGraphFrom, source)
}

// EdgesTo returns the edges whose target is the node target, sorted by
// edge RID: the edges on which target subscribes.
func (g *Graph) EdgesTo(target string) ([]Edge, error) {
	return g.edgesBy(prefixGraphTo, target)
}

func (g *Graph) edgesBy(index []byte, node string) ([]Edge, error) {
	if strings.IndexByte(node, 0) >= 0 {
		return nil, nil // no such key can be stored
	}
	snap := g.db.NewSnapshot()
	defer snap.Close()
	rids, err := scanSuffixes(snap, joinKey(index, node, ""))
	if err != nil {
		return nil, err
	}
	out := make([]Edge, 0, len(rids))
	for _, rid := range rids {
		e, ok, err := getEdge(snap, rid)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("graph: edge %s indexed but not stored", rid)
		}
		out = append(out, e)
	}
	return out, nil
}

// Subscribers returns the edges on which source owes events of ridType to
// their targets: source is the edge's source, ridType is among its
// rid_types, and its status is APPROVED or PROPOSED. Proposed edges count
// because the reference already sends events on them before they are
// approved (PROTOCOL.md 7 step 6), and a subscriber that proposed an edge
// expects them. The result is sorted by edge RID; each edge's EdgeType
// says whether its target is reached by webhook or polls.
func (g *Graph) Subscribers(source, ridType string) ([]Edge, error) {
	edges, err := g.EdgesFrom(source)
	if err != nil {
		return nil, err
	}
	out := edges[:0]
	for _, e := range edges {
		if (e.Status == EdgeApproved || e.Status == EdgeProposed) && e.Carries(ridType) {
			out = append(out, e)
		}
	}
	return out, nil
}

// NodesProviding returns the nodes whose profile lists ridType in the
// provides list p (event: they broadcast events of it; state: they answer
// fetches for it), sorted by RID. An unknown p provides nothing.
func (g *Graph) NodesProviding(ridType string, p Provision) ([]Node, error) {
	if (p != ProvidesEvent && p != ProvidesState) || strings.IndexByte(ridType, 0) >= 0 {
		return nil, nil
	}
	snap := g.db.NewSnapshot()
	defer snap.Close()
	rids, err := scanSuffixes(snap, joinKey(prefixGraphProvides, string(p), ridType, ""))
	if err != nil {
		return nil, err
	}
	return nodesOf(snap, rids)
}
