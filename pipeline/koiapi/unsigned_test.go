package koiapi_test

import (
	"net/http"
	"testing"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/topicstest"
)

// TestBroadcastUnsignedCannotTouchSigningNodes: a bare (koi-net 1.0) body
// is refused, and appends nothing, when it would change a node that signs
// (its profile, or an edge between two such nodes: cancelling a signed
// subscriber's edge would otherwise take one anonymous POST); what 1.0
// nodes say about themselves and their edges is taken.
func TestBroadcastUnsignedCannotTouchSigningNodes(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	me := newPeer(t, "github-sensor")
	sub := newPeer(t, "subscriber")
	const legacy = "orn:koi-net.node:legacy+9f90e37e-bc8f-417a-872b-cd6e8a38d46f"
	edgeBetween := func(source, target string) (string, []byte) {
		return koi.EdgeRID(source, target), []byte(`{"source":"` + source + `","target":"` + target + `","edge_type":"WEBHOOK","status":"APPROVED","rid_types":["orn:github.event"]}`)
	}
	signedEdge, signedEdgeContents := edgeBetween(me.rid, sub.rid)
	legacyEdge, legacyEdgeContents := edgeBetween(me.rid, legacy)
	cache := newTestCache(t)
	cache.add(newEvent(t, signedEdge, signedEdgeContents), newEvent(t, legacyEdge, legacyEdgeContents))
	forget := func(rid string) string { return `{"rid":"` + rid + `","event_type":"FORGET"}` }
	upsert := func(rid string, contents []byte) string { return string(newEvent(t, rid, contents)) }
	for _, tc := range []struct {
		name   string
		events string
		status int
	}{
		{"forget of an edge between signing nodes", forget(signedEdge), http.StatusUnprocessableEntity},
		{"new edge between signing nodes", upsert(signedEdge, signedEdgeContents), http.StatusUnprocessableEntity},
		{"profile of a signing node", upsert(sub.rid, sub.profile), http.StatusUnprocessableEntity},
		{"forget of a signing node", forget(sub.rid), http.StatusUnprocessableEntity},
		{"a 1.0 node's handshake", forget(legacy) + "," + upsert(legacy, []byte(`{"base_url":"http://127.0.0.1:9/koi-net","node_type":"FULL","provides":{"event":[],"state":[]}}`)), http.StatusOK},
		{"an edge with a 1.0 end", forget(legacyEdge), http.StatusOK},
		{"github events", upsert("orn:github.issue:octo/hello:1", []byte(`{"a":1}`)), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := startIntake(t, addr, cache, selfFor(t, me), nil, koiapi.Config{})
			r := in.post(t, []byte(`{"events":[`+tc.events+`]}`))
			if r.status != tc.status {
				t.Fatalf("answer %d %s, want %d", r.status, r.body, tc.status)
			}
			want := 0
			if tc.status == http.StatusOK {
				want = 1
			}
			if recs := in.records(t); len(recs) != want {
				t.Errorf("%d records appended, want %d", len(recs), want)
			}
		})
	}
}
