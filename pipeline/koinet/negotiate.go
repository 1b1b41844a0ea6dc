package koinet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/koi"
)

// maxFollowUpTries bounds how many reconcile rounds a follow-up waits for
// its sender to appear in the graph (its handshake travels through the
// log first).
const maxFollowUpTries = 40

// OnBroadcast is the inbound /events/broadcast hook: sender's broadcast was
// accepted (and appended to the log); handshake says it was a handshake
// (sender introduced itself), missing lists RIDs its events announced
// without contents. It queues the follow-up and returns at once: for a
// handshake, our own profile sent to the newcomer as the coordinator does
// (PROTOCOL.md 7.4); for missing RIDs, a /bundles/fetch of them from the
// sender. Edge proposals to the newcomer follow from the graph once its
// profile is there (reconcile).
func (n *Network) OnBroadcast(sender string, handshake bool, missing []string) {
	if sender == "" || sender == n.cfg.Self.RID || (!handshake && len(missing) == 0) {
		// Nothing to follow up. No nudge either: what the batch changes
		// in the graph shows there only after the stages and projections
		// (the 250 ms reconciliation sees it), and a reconciliation per
		// broadcast scanned every node and edge ~800 times a second under
		// load, 5% of the node's CPU in BenchmarkKOIBroadcast's profile.
		return
	}
	n.mu.Lock()
	n.followUp = append(n.followUp, followUp{sender: sender, handshake: handshake, missing: slices.Clone(missing)})
	n.mu.Unlock()
	n.Nudge()
}

// runFollowUps does the queued OnBroadcast work. Fetches run in their own
// goroutines so that a slow peer does not hold up reconciliation; a
// follow-up whose sender cannot be reached yet waits for later rounds.
func (n *Network) runFollowUps(ctx context.Context) {
	n.mu.Lock()
	work := n.followUp
	n.followUp = nil
	n.mu.Unlock()
	var again []followUp
	for _, f := range work {
		if f.handshake {
			ev := koi.NewBundleEvent(koi.EventNew, n.profile)
			if err := n.publishLocal([]koi.Event{ev}, []string{f.sender}); err != nil {
				n.log.Error("koi-net: answer a handshake with our profile", "node", f.sender, "err", err)
				again = append(again, f) // the handshake part is retried
				continue
			}
			f.handshake = false
		}
		if len(f.missing) == 0 {
			continue
		}
		p, err := n.peerOf(f.sender)
		if err != nil {
			if f.tries++; f.tries < maxFollowUpTries {
				again = append(again, f)
			} else {
				n.log.Warn("koi-net: cannot fetch what a peer announced without contents", "node", f.sender, "err", err)
			}
			continue
		}
		n.bg.Go(func() {
			if err := n.fetchInto(ctx, p, f.missing); err != nil && ctx.Err() == nil {
				n.log.Warn("koi-net: fetch what a peer announced without contents", "node", p.RID, "err", err)
			}
		})
	}
	if len(again) > 0 {
		n.mu.Lock()
		n.followUp = append(again, n.followUp...)
		n.mu.Unlock()
	}
}

// reconcile brings the graph's edges in line with our rules: edges to
// propose for our interests (NodeContact, PROTOCOL.md 7.2) and proposals
// to us to approve or reject (7.3). What it decides is published as local
// events; until the graph shows it, it is not published again (for
// inFlightRetry).
func (n *Network) reconcile(ctx context.Context) {
	n.ensureProfile()
	if err := n.forgetOrphanEdges(); err != nil {
		n.log.Error("koi-net: forget the edges of forgotten nodes", "err", err)
	}
	if err := n.proposeEdges(ctx); err != nil {
		n.log.Error("koi-net: propose edges", "err", err)
	}
	if err := n.negotiateEdges(); err != nil {
		n.log.Error("koi-net: negotiate edges", "err", err)
	}
}

// wanted returns the types of provided we subscribe to, in provided's
// order.
func (n *Network) wanted(provided []string) []string {
	if n.cfg.KOI.AllRidTypes {
		return slices.Clone(provided)
	}
	var out []string
	for _, t := range provided {
		if slices.Contains(n.cfg.KOI.RidTypesOfInterest, t) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// sameTypes reports whether a and b hold the same set of types.
func sameTypes(a, b []string) bool {
	for _, t := range a {
		if !slices.Contains(b, t) {
			return false
		}
	}
	for _, t := range b {
		if !slices.Contains(a, t) {
			return false
		}
	}
	return true
}

// proposeEdges proposes, to every node of the graph whose events we want,
// an edge from it to us carrying those types, unless one with the same
// types exists; then it catches up with that node.
func (n *Network) proposeEdges(ctx context.Context) error {
	nodes, err := n.cfg.Graph.Nodes()
	if err != nil {
		return err
	}
	incoming, err := n.cfg.Graph.EdgesTo(n.cfg.Self.RID)
	if err != nil {
		return err
	}
	now := n.cfg.Now()
	for _, node := range nodes {
		if node.RID == n.cfg.Self.RID {
			continue
		}
		want := n.wanted(node.ProvidesEvent)
		if len(want) == 0 {
			continue
		}
		p := n.peer(node.RID, node.BaseURL)
		rid := koi.EdgeRID(node.RID, n.cfg.Self.RID)
		if p.V1 {
			rid = koi.LegacyEdgeRID(node.RID, n.cfg.Self.RID)
		}
		if slices.ContainsFunc(incoming, func(e projections.Edge) bool {
			return e.Source == node.RID && sameTypes(e.RIDTypes, want)
		}) {
			n.land(rid)
			continue
		}
		if n.flying(n.proposals, rid, now) {
			continue
		}
		edgeType := projections.EdgePoll
		if n.cfg.KOI.NodeType == NodeTypeFull {
			edgeType = projections.EdgeWebhook
		}
		contents := edgeContents(!p.V1, node.RID, n.cfg.Self.RID, edgeType, projections.EdgeProposed, want)
		b, err := koi.NewBundle(rid, contents, now)
		if err != nil {
			return err
		}
		if err := n.publishLocal([]koi.Event{koi.NewBundleEvent(koi.EventNew, b)}, []string{node.RID}); err != nil {
			return fmt.Errorf("propose %s to %s: %w", rid, node.RID, err)
		}
		n.fly(n.proposals, rid, now)
		n.log.Info("koi-net: proposed an edge", "edge", rid, "source", node.RID, "rid_types", want, "edge_type", edgeType)
		if node.NodeType == projections.NodeFull && node.BaseURL != "" {
			n.bg.Go(func() {
				if err := n.catchUp(ctx, p, want); err != nil && ctx.Err() == nil {
					n.log.Warn("koi-net: catch up after proposing an edge", "node", node.RID, "err", err)
				}
			})
		}
	}
	return nil
}

// edgeContents returns an edge profile's contents in the order koi-net 2.1
// prints them, with "@context" first when withContext (1.0 peers get the
// five fields only).
func edgeContents(withContext bool, source, target string, et projections.EdgeType, st projections.EdgeStatus, types []string) []byte {
	b := []byte{'{'}
	if withContext {
		b = append(b, `"@context":`...)
		b = koi.AppendString(b, koi.ContextEdgeProfile)
		b = append(b, ',')
	}
	b = append(b, `"source":`...)
	b = koi.AppendString(b, source)
	b = append(b, `,"target":`...)
	b = koi.AppendString(b, target)
	b = append(b, `,"edge_type":`...)
	b = koi.AppendString(b, string(et))
	b = append(b, `,"status":`...)
	b = koi.AppendString(b, string(st))
	b = append(b, `,"rid_types":`...)
	b = appendStringList(b, types)
	return append(b, '}')
}

// negotiateEdges approves or rejects every PROPOSED edge of the graph whose
// source is us (PROTOCOL.md 7.3, KOI-2.1.md 1c): rejected (FORGET sent to
// the target) when it is WEBHOOK to a PARTIAL node or carries a type we do
// not provide events of (node and edge events always count as provided);
// otherwise approved by re-issuing its contents byte for byte with only
// status changed to APPROVED, sent to the target. Proposals to targets we
// have no profile of wait.
func (n *Network) negotiateEdges() error {
	edges, err := n.cfg.Graph.EdgesFrom(n.cfg.Self.RID)
	if err != nil {
		return err
	}
	now := n.cfg.Now()
	n.landDecisions(edges)
	for _, e := range edges {
		if e.Status != projections.EdgeProposed || n.flying(n.decisions, e.RID, now) {
			continue
		}
		target, ok, err := n.cfg.Graph.Node(e.Target)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		var ev koi.Event
		if reason := n.rejects(e, target); reason != "" {
			ev = koi.NewForgetEvent(e.RID)
			n.log.Info("koi-net: rejected an edge proposal", "edge", e.RID, "target", e.Target, "why", reason)
		} else {
			contents, err := SetStatus(e.Contents, projections.EdgeApproved)
			if err != nil {
				n.log.Warn("koi-net: cannot approve an edge", "edge", e.RID, "err", err)
				continue
			}
			b, err := koi.NewBundle(e.RID, contents, now)
			if err != nil {
				return err
			}
			ev = koi.NewBundleEvent(koi.EventUpdate, b)
			n.log.Info("koi-net: approved an edge proposal", "edge", e.RID, "target", e.Target, "rid_types", e.RIDTypes)
		}
		if err := n.publishLocal([]koi.Event{ev}, []string{e.Target}); err != nil {
			return fmt.Errorf("answer the proposal %s: %w", e.RID, err)
		}
		n.fly(n.decisions, e.RID, now)
	}
	return nil
}

// rejects returns why the proposal e to target is refused, or "".
func (n *Network) rejects(e projections.Edge, target projections.Node) string {
	if e.EdgeType == projections.EdgeWebhook && target.NodeType == projections.NodePartial {
		return "WEBHOOK edge to a PARTIAL node"
	}
	for _, t := range e.RIDTypes {
		if t != koi.TypeKoiNetNode && t != koi.TypeKoiNetEdge && !slices.Contains(n.provides, t) {
			return "we do not provide events of " + t
		}
	}
	return ""
}

// landDecisions forgets the decisions the graph shows done: the edge is
// gone (rejected) or no longer PROPOSED (approved).
func (n *Network) landDecisions(edges []projections.Edge) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for rid := range n.decisions {
		i := slices.IndexFunc(edges, func(e projections.Edge) bool { return e.RID == rid })
		if i < 0 || edges[i].Status != projections.EdgeProposed {
			delete(n.decisions, rid)
		}
	}
}

// flying reports whether what was published about edge rid (in flights)
// is still awaited in the graph.
func (n *Network) flying(flights map[string]flight, rid string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok := flights[rid]
	return ok && now.Sub(f.at) < f.wait()
}

// fly records in flights that something about edge rid was published at
// now.
func (n *Network) fly(flights map[string]flight, rid string, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok := flights[rid]
	if ok {
		f.tries++
	}
	f.at = now
	flights[rid] = f
}

// land forgets the proposal rid: the graph shows it.
func (n *Network) land(rid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.proposals, rid)
}

// ErrNoStatus is wrapped by SetStatus's error for contents without a
// top-level string "status".
var ErrNoStatus = errors.New("koinet: edge contents have no status")

// SetStatus returns edge contents with the value of every top-level
// "status" member replaced by status, and every other byte as it was: key
// order, "@context", spacing and escapes (KOI-2.1.md 1c: approve by
// changing only status). contents must be a JSON object whose status is a
// string.
func SetStatus(contents []byte, status projections.EdgeStatus) ([]byte, error) {
	if !json.Valid(contents) {
		return nil, fmt.Errorf("%w: not JSON", ErrNoStatus)
	}
	i := jsonscan.SkipSpace(contents, 0)
	if i >= len(contents) || contents[i] != '{' {
		return nil, fmt.Errorf("%w: not an object", ErrNoStatus)
	}
	out := make([]byte, 0, len(contents)+len(status))
	last, found := 0, false
	var key []byte
	i = jsonscan.SkipSpace(contents, i+1)
	for i < len(contents) && contents[i] != '}' {
		if contents[i] != '"' {
			return nil, fmt.Errorf("%w: malformed object", ErrNoStatus)
		}
		end := jsonscan.StringEnd(contents, i+1)
		if end < 0 || end > len(contents) {
			return nil, fmt.Errorf("%w: malformed object", ErrNoStatus)
		}
		key = jsonscan.AppendUnescaped(key[:0], contents[i+1:end-1])
		i = jsonscan.SkipSpace(contents, end)
		if i >= len(contents) || contents[i] != ':' {
			return nil, fmt.Errorf("%w: malformed object", ErrNoStatus)
		}
		i = jsonscan.SkipSpace(contents, i+1)
		vend, err := jsonscan.ValueEnd(contents, i, koi.MaxNestingDepth)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoStatus, err)
		}
		if string(key) == "status" {
			if contents[i] != '"' {
				return nil, fmt.Errorf("%w: status is not a string", ErrNoStatus)
			}
			out = append(out, contents[last:i]...)
			out = koi.AppendString(out, string(status))
			last, found = vend, true
		}
		i = jsonscan.SkipSpace(contents, vend)
		if i < len(contents) && contents[i] == ',' {
			i = jsonscan.SkipSpace(contents, i+1)
		}
	}
	if !found {
		return nil, ErrNoStatus
	}
	return append(out, contents[last:]...), nil
}

// OrphanGrace is how long the other end of one of our edges must be absent
// from the graph before the edge is forgotten. A handshake forgets the node
// and introduces it again at once (FORGET, NEW); the grace keeps that gap,
// and any lag of the projections, from costing the node its subscription.
const OrphanGrace = time.Minute

// forgetOrphanEdges forgets our edges whose other end the graph has not
// known for OrphanGrace: the reference forgets a node's edges with the node
// (its ForgetNodeHandler), and an edge to a node that is gone only fills its
// queue. The FORGET goes to nobody: the node is gone.
func (n *Network) forgetOrphanEdges() error {
	from, err := n.cfg.Graph.EdgesFrom(n.cfg.Self.RID)
	if err != nil {
		return err
	}
	to, err := n.cfg.Graph.EdgesTo(n.cfg.Self.RID)
	if err != nil {
		return err
	}
	now := n.cfg.Now()
	seen := map[string]bool{}
	for _, e := range append(from, to...) {
		other := e.Target
		if other == n.cfg.Self.RID {
			other = e.Source
		}
		seen[e.RID] = true
		_, known, err := n.cfg.Graph.Node(other)
		if err != nil {
			return err
		}
		n.mu.Lock()
		if n.orphans == nil {
			n.orphans = map[string]time.Time{}
		}
		since, counted := n.orphans[e.RID]
		switch {
		case known:
			delete(n.orphans, e.RID)
		case !counted:
			n.orphans[e.RID] = now
		}
		n.mu.Unlock()
		if known || !counted || now.Sub(since) < OrphanGrace {
			continue
		}
		n.log.Info("koi-net: forgetting an edge to a node that is gone", "edge", e.RID, "node", other)
		if err := n.publishLocal([]koi.Event{koi.NewForgetEvent(e.RID)}, nil); err != nil {
			return fmt.Errorf("forget the edge %s: %w", e.RID, err)
		}
		n.mu.Lock()
		n.orphans[e.RID] = now // again after another grace if the FORGET is lost
		n.mu.Unlock()
	}
	n.mu.Lock()
	for rid := range n.orphans {
		if !seen[rid] {
			delete(n.orphans, rid)
		}
	}
	n.mu.Unlock()
	return nil
}
