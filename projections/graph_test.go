package projections_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/koistream/koistream/projections"
)

// RIDs of the captured network (testdata/graph_events.txt).
const (
	ridGosim       = "orn:koi-net.node:gosim+dc4a44a0095d16ce5d86dab149b44677c0cb1847cdab15618b1f3e4976c46988"
	ridCoordinator = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
	ridPartial     = "orn:koi-net.node:gopartial+471f91578b8e8a138ac296cc69669c4c77be9f27e39b2320d2f96ad478a968c6"
	ridSensor      = "orn:koi-net.node:github-sensor+659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2"
	// gosim → coordinator and back, both approved in the capture.
	ridEdgeGosimCoord = "orn:koi-net.edge:b95eb4c15a95359858c93027e412a47c1c8c227219e14522847bf1b4bbedc9ff"
	ridEdgeCoordGosim = "orn:koi-net.edge:14d1a69ea452096cfb2df279589ea2e21e72f086a0146d2b54a7553eb10bd211"
	// The KOI-2.1.md vector edge S → C, proposed then approved.
	ridEdgeSensorCoord = "orn:koi-net.edge:660e330b535732bf71d162748318152eaf812956b27fe8efd5bc803b5d6a4df5"
)

// graphEvents returns the events of testdata/graph_events.txt, byte for
// byte, in order.
func graphEvents(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "graph_events.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// contentsOf returns the contents member of an event, byte for byte.
func contentsOf(t *testing.T, event string) string {
	t.Helper()
	var ev struct{ Contents json.RawMessage }
	if err := json.Unmarshal([]byte(event), &ev); err != nil {
		t.Fatal(err)
	}
	return string(ev.Contents)
}

// openGraph opens the store in dir with the cache and the graph attached,
// as a node runs them; the caller closes the store.
func openGraph(t *testing.T, dir string) (*projections.Store, *projections.Graph) {
	t.Helper()
	s, err := projections.OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := projections.NewCache(s)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	g := projections.NewGraph(s)
	if err := s.Attach(c, g); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s, g
}

// applyGraph applies events, numbered on from off in partition 0, and
// returns what the graph skipped.
func applyGraph(t *testing.T, s *projections.Store, off int64, events ...string) []error {
	t.Helper()
	recs := make([]projections.Record, len(events))
	for i, e := range events {
		recs[i] = rec(0, off+int64(i), e)
	}
	res, err := s.Apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	return res.Skipped[1]
}

func nodeRIDs(ns []projections.Node) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.RID)
	}
	return out
}

func edgeRIDs(es []projections.Edge) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.RID)
	}
	return out
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

// TestGraphFromCapturedEvents applies the captured node and edge events and
// queries the graph, then reopens the store and queries it again: the
// answers come from Pebble, not from memory.
func TestGraphFromCapturedEvents(t *testing.T) {
	t.Parallel()
	evs := graphEvents(t)
	dir := t.TempDir()
	s, g := openGraph(t, dir)
	if skipped := applyGraph(t, s, 0, evs...); len(skipped) != 0 {
		t.Fatalf("skipped %v", skipped)
	}
	// The last event of each RID is what the graph must hold, verbatim.
	last := map[string]string{}
	for _, e := range evs {
		var ev struct{ RID string }
		if err := json.Unmarshal([]byte(e), &ev); err != nil {
			t.Fatal(err)
		}
		last[ev.RID] = contentsOf(t, e)
	}

	check := func(t *testing.T, g *projections.Graph) {
		for _, tc := range []struct {
			name  string
			query func() ([]string, error)
			want  []string
		}{
			{"Nodes", func() ([]string, error) { ns, err := g.Nodes(); return nodeRIDs(ns), err },
				sorted(ridGosim, ridCoordinator, ridPartial, ridSensor)},
			{"EdgesFrom gosim", func() ([]string, error) { es, err := g.EdgesFrom(ridGosim); return edgeRIDs(es), err },
				[]string{ridEdgeGosimCoord}},
			{"EdgesTo coordinator", func() ([]string, error) { es, err := g.EdgesTo(ridCoordinator); return edgeRIDs(es), err },
				sorted(ridEdgeGosimCoord, ridEdgeSensorCoord)},
			{"EdgesFrom coordinator", func() ([]string, error) { es, err := g.EdgesFrom(ridCoordinator); return edgeRIDs(es), err },
				[]string{ridEdgeCoordGosim}},
			{"EdgesTo partial", func() ([]string, error) { es, err := g.EdgesTo(ridPartial); return edgeRIDs(es), err },
				[]string{}},
			{"EdgesFrom a prefix of a node RID", func() ([]string, error) {
				es, err := g.EdgesFrom(ridGosim[:len(ridGosim)-1])
				return edgeRIDs(es), err
			}, []string{}},
			{"Subscribers of coordinator node events", func() ([]string, error) {
				es, err := g.Subscribers(ridCoordinator, "orn:koi-net.node")
				return edgeRIDs(es), err
			}, []string{ridEdgeCoordGosim}},
			{"Subscribers of coordinator edge events", func() ([]string, error) {
				es, err := g.Subscribers(ridCoordinator, "orn:koi-net.edge")
				return edgeRIDs(es), err
			}, []string{}},
			{"Subscribers of sensor edge events", func() ([]string, error) {
				es, err := g.Subscribers(ridSensor, "orn:koi-net.edge")
				return edgeRIDs(es), err
			}, []string{ridEdgeSensorCoord}},
			{"NodesProviding github.event events", func() ([]string, error) {
				ns, err := g.NodesProviding("orn:github.event", projections.ProvidesEvent)
				return nodeRIDs(ns), err
			}, sorted(ridGosim, ridPartial)},
			{"NodesProviding node state", func() ([]string, error) {
				ns, err := g.NodesProviding("orn:koi-net.node", projections.ProvidesState)
				return nodeRIDs(ns), err
			}, []string{ridCoordinator}},
			{"NodesProviding github.issue state", func() ([]string, error) {
				ns, err := g.NodesProviding("orn:github.issue", projections.ProvidesState)
				return nodeRIDs(ns), err
			}, []string{ridSensor}},
			{"NodesProviding a prefix of a type", func() ([]string, error) {
				ns, err := g.NodesProviding("orn:github", projections.ProvidesEvent)
				return nodeRIDs(ns), err
			}, []string{}},
			{"NodesProviding an unknown list", func() ([]string, error) {
				ns, err := g.NodesProviding("orn:github.event", "both")
				return nodeRIDs(ns), err
			}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := tc.query()
				if err != nil || !slices.Equal(got, tc.want) {
					t.Errorf("got %q, %v; want %q", got, err, tc.want)
				}
			})
		}

		t.Run("nodes", func(t *testing.T) {
			for _, tc := range []struct {
				rid       string
				baseURL   string
				nodeType  projections.NodeType
				events    []string
				keyPrefix string
			}{
				{ridCoordinator, "http://127.0.0.1:8080/koi-net", projections.NodeFull,
					[]string{"orn:koi-net.node", "orn:koi-net.edge"}, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzskq"},
				{ridPartial, "", projections.NodePartial, []string{"orn:github.event"}, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECGDg"},
				{ridSensor, "http://127.0.0.1:8091/koi-net", projections.NodeFull,
					[]string{"orn:github.issue"}, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEa/hd"},
			} {
				n, ok, err := g.Node(tc.rid)
				if err != nil || !ok {
					t.Fatalf("Node(%s): %v %v", tc.rid, ok, err)
				}
				if n.RID != tc.rid || n.BaseURL != tc.baseURL || n.NodeType != tc.nodeType ||
					!slices.Equal(n.ProvidesEvent, tc.events) || !strings.HasPrefix(n.PublicKey, tc.keyPrefix) {
					t.Errorf("Node(%s) = %+v", tc.rid, n)
				}
				if string(n.Contents) != last[tc.rid] {
					t.Errorf("contents of %s\n got %s\nwant %s (byte for byte)", tc.rid, n.Contents, last[tc.rid])
				}
			}
			if _, ok, err := g.Node(ridEdgeGosimCoord); ok || err != nil {
				t.Errorf("Node of an edge RID: %v %v", ok, err)
			}
		})

		t.Run("edges", func(t *testing.T) {
			for _, tc := range []struct {
				rid            string
				source, target string
				types          []string
			}{
				{ridEdgeGosimCoord, ridGosim, ridCoordinator, []string{"orn:koi-net.node", "orn:koi-net.edge"}},
				{ridEdgeCoordGosim, ridCoordinator, ridGosim, []string{"orn:koi-net.node"}},
				{ridEdgeSensorCoord, ridSensor, ridCoordinator, []string{"orn:koi-net.node", "orn:koi-net.edge"}},
			} {
				e, ok, err := g.Edge(tc.rid)
				if err != nil || !ok {
					t.Fatalf("Edge(%s): %v %v", tc.rid, ok, err)
				}
				if e.Source != tc.source || e.Target != tc.target || e.EdgeType != projections.EdgeWebhook ||
					e.Status != projections.EdgeApproved || !slices.Equal(e.RIDTypes, tc.types) {
					t.Errorf("Edge(%s) = %+v", tc.rid, e)
				}
				if string(e.Contents) != last[tc.rid] {
					t.Errorf("contents of %s\n got %s\nwant %s (byte for byte)", tc.rid, e.Contents, last[tc.rid])
				}
			}
		})
	}

	t.Run("applied", func(t *testing.T) { check(t, g) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, g = openGraph(t, dir)
	defer s.Close()
	t.Run("reopened", func(t *testing.T) { check(t, g) })
}

// edgeEvent returns a NEW or UPDATE event of edge rid with contents c.
func edgeEvent(typ, rid, c string) string {
	man := `{"rid":"` + rid + `","timestamp":"2026-08-06T12:00:00Z","sha256_hash":"00"}`
	return `{"rid":"` + rid + `","event_type":"` + typ + `","manifest":` + man + `,"contents":` + c + `}`
}

func forgetEvent(rid string) string { return `{"rid":"` + rid + `","event_type":"FORGET"}` }

// edgeContents returns 2.0-style edge contents.
func edgeContents(source, target, edgeType, status string, types ...string) string {
	ts, _ := json.Marshal(types)
	return `{"source":"` + source + `","target":"` + target + `","edge_type":"` + edgeType +
		`","status":"` + status + `","rid_types":` + string(ts) + `}`
}

// TestGraphForget: FORGET deletes a node or an edge and every index entry
// it had, also when the forgotten version was staged earlier in the same
// batch; forgetting an unknown RID changes nothing; forgetting a node
// leaves its edges until they are forgotten themselves.
func TestGraphForget(t *testing.T) {
	t.Parallel()
	evs := graphEvents(t)
	for _, tc := range []struct {
		name       string
		split      bool // apply the captured events and the FORGETs in two batches
		forget     []string
		wantNodes  []string
		wantToCoor []string
	}{
		{"an edge, next batch", true, []string{ridEdgeGosimCoord},
			sorted(ridGosim, ridCoordinator, ridPartial, ridSensor), []string{ridEdgeSensorCoord}},
		{"an edge, same batch", false, []string{ridEdgeGosimCoord},
			sorted(ridGosim, ridCoordinator, ridPartial, ridSensor), []string{ridEdgeSensorCoord}},
		{"a node keeps its edges", true, []string{ridGosim},
			sorted(ridCoordinator, ridPartial, ridSensor), sorted(ridEdgeGosimCoord, ridEdgeSensorCoord)},
		{"a node and its edges", false, []string{ridSensor, ridEdgeSensorCoord},
			sorted(ridGosim, ridCoordinator, ridPartial), []string{ridEdgeGosimCoord}},
		{"unknown RIDs", true, []string{"orn:koi-net.node:nobody+00", "orn:koi-net.edge:00"},
			sorted(ridGosim, ridCoordinator, ridPartial, ridSensor), sorted(ridEdgeGosimCoord, ridEdgeSensorCoord)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, g := openGraph(t, dir)
			var forgets []string
			for _, r := range tc.forget {
				forgets = append(forgets, forgetEvent(r))
			}
			var skipped []error
			if tc.split {
				skipped = append(applyGraph(t, s, 0, evs...), applyGraph(t, s, int64(len(evs)), forgets...)...)
			} else {
				skipped = applyGraph(t, s, 0, append(slices.Clone(evs), forgets...)...)
			}
			if len(skipped) != 0 {
				t.Fatalf("skipped %v", skipped)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, g = openGraph(t, dir)
			defer s.Close()
			ns, err := g.Nodes()
			if got := nodeRIDs(ns); err != nil || !slices.Equal(got, tc.wantNodes) {
				t.Errorf("Nodes() = %q, %v; want %q", got, err, tc.wantNodes)
			}
			es, err := g.EdgesTo(ridCoordinator)
			if got := edgeRIDs(es); err != nil || !slices.Equal(got, tc.wantToCoor) {
				t.Errorf("EdgesTo(coordinator) = %q, %v; want %q", got, err, tc.wantToCoor)
			}
			for _, r := range tc.forget {
				if _, ok, err := g.Node(r); ok || err != nil {
					t.Errorf("Node(%s) after FORGET: %v %v", r, ok, err)
				}
				if _, ok, err := g.Edge(r); ok || err != nil {
					t.Errorf("Edge(%s) after FORGET: %v %v", r, ok, err)
				}
				es, err := g.EdgesFrom(r)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range es {
					if slices.Contains(tc.forget, e.RID) {
						t.Errorf("EdgesFrom(%s) holds forgotten edge %s", r, e.RID)
					}
				}
			}
			for _, ty := range []string{"orn:github.issue", "orn:github.event", "orn:koi-net.node"} {
				ns, err := g.NodesProviding(ty, projections.ProvidesEvent)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range ns {
					if slices.Contains(tc.forget, n.RID) {
						t.Errorf("NodesProviding(%s) still lists forgotten %s", ty, n.RID)
					}
				}
			}
		})
	}
}

// TestGraphUpdateStatusOnly: an approval is an UPDATE whose contents differ
// from the proposal only in status (and, from a 2.1 node, an added
// "@context", which changes the hash): the graph holds the new contents
// verbatim, the edge stays indexed once under its source and target, and
// SameFields tells the two versions apart by status alone.
func TestGraphUpdateStatusOnly(t *testing.T) {
	t.Parallel()
	const edge = ridEdgeSensorCoord
	proposal20 := edgeContents(ridSensor, ridCoordinator, "WEBHOOK", "PROPOSED", "orn:koi-net.node", "orn:koi-net.edge")
	// KOI-2.1.md 2.3: a 2.1 node approves a 2.0-style proposal and adds
	// "@context" first.
	approval21 := `{"@context":"orn:koi-net.context:koi-net.edge","source":"` + ridSensor + `","target":"` + ridCoordinator +
		`","edge_type":"WEBHOOK","status":"APPROVED","rid_types":["orn:koi-net.node","orn:koi-net.edge"]}`
	for _, tc := range []struct {
		name    string
		batches [][]string
		want    string
		status  projections.EdgeStatus
	}{
		{"approved in a later batch", [][]string{{edgeEvent("NEW", edge, proposal20)}, {edgeEvent("UPDATE", edge, approval21)}},
			approval21, projections.EdgeApproved},
		{"approved in the same batch", [][]string{{edgeEvent("NEW", edge, proposal20), edgeEvent("UPDATE", edge, approval21)}},
			approval21, projections.EdgeApproved},
		{"re-proposed after approval", [][]string{{edgeEvent("NEW", edge, proposal20)}, {edgeEvent("UPDATE", edge, approval21)},
			{edgeEvent("UPDATE", edge, proposal20)}}, proposal20, projections.EdgeProposed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, g := openGraph(t, dir)
			var off int64
			for _, b := range tc.batches {
				if skipped := applyGraph(t, s, off, b...); len(skipped) != 0 {
					t.Fatalf("skipped %v", skipped)
				}
				off += int64(len(b))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, g = openGraph(t, dir)
			defer s.Close()
			e, ok, err := g.Edge(edge)
			if err != nil || !ok {
				t.Fatalf("Edge: %v %v", ok, err)
			}
			if string(e.Contents) != tc.want || e.Status != tc.status {
				t.Errorf("edge %s %s, want %s %s", e.Status, e.Contents, tc.status, tc.want)
			}
			from, err := g.EdgesFrom(ridSensor)
			if err != nil || !slices.Equal(edgeRIDs(from), []string{edge}) {
				t.Errorf("EdgesFrom = %q, %v", edgeRIDs(from), err)
			}
			to, err := g.EdgesTo(ridCoordinator)
			if err != nil || !slices.Equal(edgeRIDs(to), []string{edge}) {
				t.Errorf("EdgesTo = %q, %v", edgeRIDs(to), err)
			}
		})
	}

	t.Run("SameFields", func(t *testing.T) {
		t.Parallel()
		base := projections.Edge{Source: ridSensor, Target: ridCoordinator, EdgeType: projections.EdgeWebhook,
			Status: projections.EdgeProposed, RIDTypes: []string{"orn:koi-net.node", "orn:koi-net.edge"}, Contents: []byte(proposal20)}
		for _, tc := range []struct {
			name   string
			change func(*projections.Edge)
			same   bool
		}{
			{"other contents bytes (@context added)", func(e *projections.Edge) { e.Contents = []byte(approval21) }, true},
			{"rid_types reordered", func(e *projections.Edge) { e.RIDTypes = []string{"orn:koi-net.edge", "orn:koi-net.node"} }, true},
			{"status", func(e *projections.Edge) { e.Status = projections.EdgeApproved }, false},
			{"edge_type", func(e *projections.Edge) { e.EdgeType = projections.EdgePoll }, false},
			{"a type fewer", func(e *projections.Edge) { e.RIDTypes = []string{"orn:koi-net.node"} }, false},
			{"target", func(e *projections.Edge) { e.Target = ridGosim }, false},
		} {
			o := base
			o.RIDTypes = slices.Clone(base.RIDTypes)
			tc.change(&o)
			if got := base.SameFields(o); got != tc.same {
				t.Errorf("%s: SameFields = %v, want %v", tc.name, got, tc.same)
			}
		}
	})
}

// TestGraphSkipsMalformed: node and edge events whose contents are not a
// profile the reference would accept are skipped with an error, not fatal,
// and leave the version the graph held; lenient parsing still takes unknown
// keys and null base_url and public_key. Events about other RID types are
// not the graph's and are neither applied nor skipped.
func TestGraphSkipsMalformed(t *testing.T) {
	t.Parallel()
	edge := ridEdgeSensorCoord
	good := edgeContents(ridSensor, ridCoordinator, "WEBHOOK", "PROPOSED", "orn:github.issue")
	nodeNew := func(c string) string { return edgeEvent("UPDATE", ridSensor, c) }
	for _, tc := range []struct {
		name  string
		event string
		skip  bool
	}{
		{"edge contents not JSON", edgeEvent("UPDATE", edge, `{"source":`), true},
		{"edge contents an array", edgeEvent("UPDATE", edge, `[]`), true},
		{"edge contents null", edgeEvent("UPDATE", edge, `null`), true},
		{"edge without contents", `{"rid":"` + edge + `","event_type":"UPDATE"}`, true},
		{"edge without status", edgeEvent("UPDATE", edge, `{"source":"`+ridSensor+`","target":"`+ridCoordinator+`","edge_type":"POLL","rid_types":[]}`), true},
		{"edge with unknown status", edgeEvent("UPDATE", edge, edgeContents(ridSensor, ridCoordinator, "WEBHOOK", "REJECTED")), true},
		{"edge with unknown edge_type", edgeEvent("UPDATE", edge, edgeContents(ridSensor, ridCoordinator, "EMAIL", "APPROVED")), true},
		{"edge source not a node RID", edgeEvent("UPDATE", edge, edgeContents("orn:github.repo:o/r", ridCoordinator, "WEBHOOK", "APPROVED")), true},
		{"edge target with a zero byte", edgeEvent("UPDATE", edge, edgeContents(ridSensor, `orn:koi-net.node:a\u0000b+00`, "WEBHOOK", "APPROVED")), true},
		{"edge rid_types not types", edgeEvent("UPDATE", edge, edgeContents(ridSensor, ridCoordinator, "WEBHOOK", "APPROVED", "orn:github.issue:o/r:1")), true},
		{"edge rid_types null", edgeEvent("UPDATE", edge, `{"source":"`+ridSensor+`","target":"`+ridCoordinator+`","edge_type":"POLL","status":"APPROVED","rid_types":null}`), true},
		{"node without node_type", nodeNew(`{"base_url":"http://x/koi-net","provides":{"event":[],"state":[]}}`), true},
		{"node with unknown node_type", nodeNew(`{"node_type":"HALF"}`), true},
		{"node provides a number", nodeNew(`{"node_type":"FULL","provides":{"event":[1]}}`), true},
		{"node provides an RID, not a type", nodeNew(`{"node_type":"FULL","provides":{"event":["orn:github.issue:o/r:1"]}}`), true},
		{"node contents a string", nodeNew(`"FULL"`), true},
		{"node RID without hash", edgeEvent("NEW", "orn:koi-net.node:nameonly", `{"node_type":"FULL"}`), true},
		{"unknown event type", `{"rid":"` + edge + `","event_type":"DELETE"}`, true},
		{"not an event", `not json`, true},
		{"node_type only in another case", nodeNew(`{"NODE_TYPE":"FULL"}`), true},
		{"edge status only in another case", edgeEvent("UPDATE", edge, `{"source":"`+ridSensor+`","target":"`+ridCoordinator+`","edge_type":"POLL","Status":"APPROVED","rid_types":[]}`), true},
		{"node_type given twice, the last invalid", nodeNew(`{"node_type":"FULL","node_type":"HALF"}`), true},
		{"lenient node: unknown keys, nulls, no provides", nodeNew(`{"@context":"x","extra":{"a":[1]},"base_url":null,"node_type":"PARTIAL","public_key":null}`), false},
		{"lenient edge: unknown keys, empty rid_types", edgeEvent("UPDATE", edge, `{"@context":"orn:koi-net.context:koi-net.edge","source":"`+ridSensor+`","target":"`+ridCoordinator+`","edge_type":"POLL","status":"APPROVED","rid_types":[],"note":null}`), false},
		{"another RID type", edgeEvent("NEW", "orn:github.issue:o/r:1", `[]`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, g := openGraph(t, t.TempDir())
			defer s.Close()
			evs := graphEvents(t)
			sensorProfile := contentsOf(t, evs[slices.IndexFunc(evs, func(e string) bool { return strings.Contains(e, `"rid":"`+ridSensor) })])
			if skipped := applyGraph(t, s, 0, edgeEvent("NEW", edge, good), edgeEvent("NEW", ridSensor, sensorProfile)); len(skipped) != 0 {
				t.Fatalf("skipped %v", skipped)
			}
			skipped := applyGraph(t, s, 2, tc.event)
			if got := len(skipped) == 1; got != tc.skip {
				t.Fatalf("skipped %v, want skipped: %v", skipped, tc.skip)
			}
			if !tc.skip {
				return
			}
			e, ok, err := g.Edge(edge)
			if err != nil || !ok || string(e.Contents) != good {
				t.Errorf("edge after a skipped event: %s %v %v, want %s", e.Contents, ok, err, good)
			}
			n, ok, err := g.Node(ridSensor)
			if err != nil || !ok || string(n.Contents) != sensorProfile {
				t.Errorf("node after a skipped event: %s %v %v", n.Contents, ok, err)
			}
			if es, err := g.EdgesFrom(ridSensor); err != nil || len(es) != 1 {
				t.Errorf("EdgesFrom after a skipped event: %q %v", edgeRIDs(es), err)
			}
		})
	}
}

// TestGraphSubscribers: the subscribers of a source for a type are its
// PROPOSED and APPROVED edges carrying that type, whatever their edge_type,
// and not edges of other sources, edges to the source, or forgotten ones.
func TestGraphSubscribers(t *testing.T) {
	t.Parallel()
	const me = ridSensor
	peers := []string{ridGosim, ridCoordinator, ridPartial,
		"orn:koi-net.node:processor+a18c5fbb0c6341b5157365b7d386945aac23398cd9d43f863c228232a07a89a9"}
	type edgeDef struct {
		source, target, edgeType, status string
		types                            []string
	}
	defs := map[string]edgeDef{
		"gosim webhook approved":   {me, peers[0], "WEBHOOK", "APPROVED", []string{"orn:github.issue", "orn:github.pr"}},
		"coord webhook proposed":   {me, peers[1], "WEBHOOK", "PROPOSED", []string{"orn:koi-net.node", "orn:github.issue"}},
		"partial poll approved":    {me, peers[2], "POLL", "APPROVED", []string{"orn:github.pr"}},
		"processor poll forgotten": {me, peers[3], "POLL", "APPROVED", []string{"orn:github.issue"}},
		"incoming from gosim":      {peers[0], me, "WEBHOOK", "APPROVED", []string{"orn:github.issue"}},
		"gosim to coord":           {peers[0], peers[1], "WEBHOOK", "APPROVED", []string{"orn:github.issue"}},
	}
	ridOf := map[string]string{}
	var evs []string
	for name, d := range defs {
		rid := "orn:koi-net.edge:" + strings.ReplaceAll(name, " ", "-")
		ridOf[rid] = name
		evs = append(evs, edgeEvent("NEW", rid, edgeContents(d.source, d.target, d.edgeType, d.status, d.types...)))
	}
	slices.Sort(evs)
	evs = append(evs, forgetEvent("orn:koi-net.edge:processor-poll-forgotten"))
	s, g := openGraph(t, t.TempDir())
	defer s.Close()
	if skipped := applyGraph(t, s, 0, evs...); len(skipped) != 0 {
		t.Fatalf("skipped %v", skipped)
	}
	for _, tc := range []struct {
		source, ridType string
		want            []string
	}{
		{me, "orn:github.issue", []string{"coord webhook proposed", "gosim webhook approved"}},
		{me, "orn:github.pr", []string{"gosim webhook approved", "partial poll approved"}},
		{me, "orn:koi-net.node", []string{"coord webhook proposed"}},
		{me, "orn:github", nil},
		{me, "orn:github.repo", nil},
		{peers[0], "orn:github.issue", []string{"gosim to coord", "incoming from gosim"}},
		{peers[3], "orn:github.issue", nil},
	} {
		name, _, _ := strings.Cut(strings.TrimPrefix(tc.source, "orn:koi-net.node:"), "+")
		t.Run(name+" "+tc.ridType, func(t *testing.T) {
			es, err := g.Subscribers(tc.source, tc.ridType)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range es {
				if e.Source != tc.source || !e.Carries(tc.ridType) {
					t.Errorf("subscriber edge %+v", e)
				}
				got = append(got, ridOf[e.RID])
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Subscribers(%s, %s) = %q, want %q", tc.source, tc.ridType, got, tc.want)
			}
		})
	}
}

// TestGraphPassesOverOtherKeys: a record keyed by an RID of another type is
// not the graph's, and is neither parsed nor skipped; one keyed by a node
// RID is applied.
func TestGraphPassesOverOtherKeys(t *testing.T) {
	t.Parallel()
	s, g := openGraph(t, t.TempDir())
	defer s.Close()
	ev := graphEvents(t)[0]
	res, err := s.Apply([]projections.Record{
		{Topic: "koistream.events", Offset: 0, Key: []byte("orn:github.issue:o/r:1"), Value: []byte(`not json`)},
		{Topic: "koistream.events", Offset: 1, Key: []byte(ridGosim), Value: []byte(ev)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped[1]) != 0 {
		t.Errorf("graph skipped %v, want the other type's record passed over", res.Skipped[1])
	}
	if _, ok, err := g.Node(ridGosim); !ok || err != nil {
		t.Errorf("Node(gosim): %v %v", ok, err)
	}
}

// TestGraphAttachForcesRebuild: a store built without the graph refuses a
// node that runs it, until it is rebuilt: the graph would miss the part of
// the log already applied.
func TestGraphAttachForcesRebuild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, _ := openCache(t, dir)
	apply(t, s, rec(0, 0, graphEvents(t)[0]))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := projections.OpenStore(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := projections.NewCache(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Attach(c, projections.NewGraph(s)); err == nil || !strings.Contains(err.Error(), "rebuild") {
		t.Errorf("Attach(cache, graph) on a cache-only store: %v, want a mismatch asking for a rebuild", err)
	}
}
