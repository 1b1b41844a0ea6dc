package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics"
	koipkg "github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/topicstest"
)

// The KOI-net network of real processes (issue 11): a koistream sensor A; a
// second koistream node B, FULL, subscribed to orn:github.event through a
// WEBHOOK edge; a third, C, PARTIAL, polling; and a koi-net 1.0 node D,
// unsigned, beside the signed ones. Each starts from a config.yaml naming
// A as its first contact, as a user would write it, and finds its edge by
// itself: handshake, A's follow-up, edge proposal, approval.

// koiNode is a koistream process in the network, with its config file.
type koiNode struct {
	*node
	dir, config string
}

// startKOINode writes yaml as dir's config.yaml and runs serve on it.
func startKOINode(t *testing.T, dir, yaml string, extra ...string) *koiNode {
	t.Helper()
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return &koiNode{node: runKOINode(t, dir, config, extra...), dir: dir, config: config}
}

func runKOINode(t *testing.T, dir, config string, extra ...string) *node {
	t.Helper()
	args := append([]string{"serve", "--config", config, "--data-dir", filepath.Join(dir, "data"),
		"--listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0", "--log-format", "json"}, extra...)
	return startNodeWith(t, args, []string{"GITHUB_WEBHOOK_SECRET=" + testSecret})
}

// restart runs the node again on its data folder and config after it
// stopped or was killed.
func (k *koiNode) restart(t *testing.T, extra ...string) {
	t.Helper()
	k.node = runKOINode(t, k.dir, k.config, extra...)
}

// selfRID returns a node's own RID as `koistream identity` prints it for
// the node's config and data folder, as an operator would look it up.
func selfRID(t *testing.T, k *koiNode) string {
	t.Helper()
	out, err := runBinary(t, "identity", "--config", k.config, "--data-dir", filepath.Join(k.dir, "data"), "--listen", k.http)
	if err != nil {
		t.Fatalf("identity: %v\n%s", err, out)
	}
	var id struct {
		RID string `json:"rid"`
	}
	if err := json.Unmarshal([]byte(out), &id); err != nil {
		t.Fatalf("identity output %q: %v", out, err)
	}
	return id.RID
}

// edgeStatus returns the status of the cached edge source→target carrying
// ridType on node k, or "" when there is none.
func edgeStatus(t *testing.T, k *koiNode, source, target, ridType string) string {
	t.Helper()
	var bp bundlesPayload
	edges := rids(t, k.http, "orn:koi-net.edge")
	list := make([]string, 0, len(edges))
	for r := range edges {
		list = append(list, r)
	}
	if len(list) == 0 {
		return ""
	}
	if code := koi(t, k.http, "/bundles/fetch", map[string]any{"type": "fetch_bundles", "rids": list}, &bp); code != http.StatusOK {
		t.Fatalf("bundles/fetch of edges: %d", code)
	}
	for _, b := range bp.Bundles {
		var e struct {
			Source, Target, Status string
			RIDTypes               []string `json:"rid_types"`
		}
		if json.Unmarshal(b.Contents, &e) == nil && e.Source == source && e.Target == target && slices.Contains(e.RIDTypes, ridType) {
			return e.Status
		}
	}
	return ""
}

// sendIssueEvents posts n signed webhooks to the sensor, one at a time,
// each waiting until the sensor serves its event, and returns the event
// RIDs in the order sent.
func sendIssueEvents(t *testing.T, a *koiNode, n int) []string {
	t.Helper()
	d := loadDelivery(t, "../../pipeline/webhook/testdata/push.json")
	var sent []string
	for range n {
		d.id = newDeliveryID()
		if code, body := post(t, a.http, d, testSecret); code != http.StatusAccepted {
			t.Fatalf("webhook: %d %s", code, body)
		}
		rid := "orn:github.event:" + repoOf(t, d.body) + ":" + d.id
		topicstest.WaitFor(t, 30*time.Second, "sensor serves "+rid, func() bool { return rids(t, a.http, "orn:github.event")[rid] == 1 })
		sent = append(sent, rid)
	}
	return sent
}

func repoOf(t *testing.T, body []byte) string {
	t.Helper()
	var p struct {
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Repository.FullName == "" {
		t.Fatalf("delivery without repository.full_name: %v", err)
	}
	return p.Repository.FullName
}

// hasAll reports whether node k serves every RID in want.
func hasAll(t *testing.T, k *koiNode, want []string) bool {
	t.Helper()
	have := rids(t, k.http, "orn:github.event")
	for _, r := range want {
		if have[r] != 1 {
			return false
		}
	}
	return true
}

// eventOrder returns the orn:github.event RIDs in the order node k's raw
// topic received them from its peers (first arrival of each: delivery is
// at-least-once), read from k's one-partition raw topic.
func eventOrder(t *testing.T, k *koiNode) []string {
	t.Helper()
	var order []string
	seen := map[string]bool{}
	for _, rec := range topicstest.ReadAll(t, k.kafka, "koistream.raw") {
		in, ok := koiInput(rec)
		if !ok {
			continue
		}
		payload := in.Body
		var env struct {
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(in.Body, &env) == nil && len(env.Payload) > 0 {
			payload = env.Payload
		}
		var p struct {
			Events []struct {
				RID string `json:"rid"`
			} `json:"events"`
		}
		if err := json.Unmarshal(payload, &p); err != nil {
			continue
		}
		for _, e := range p.Events {
			if strings.HasPrefix(e.RID, "orn:github.event:") && !seen[e.RID] {
				seen[e.RID] = true
				order = append(order, e.RID)
			}
		}
	}
	return order
}

func koiInput(rec *kgo.Record) (koinet.Input, bool) {
	r, err := raw.Parse(topics.MessageFromRecord(rec))
	if err != nil {
		return koinet.Input{}, false
	}
	in, err := koinet.Parse(r)
	return in, err == nil
}

// eventsOnce checks that node k's events topic announces each (RID, hash)
// of want at most once: what a subscriber got twice (a batch re-sent after
// a crash) is not new.
func eventsOnce(t *testing.T, k *koiNode, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, rec := range topicstest.ReadAll(t, k.kafka, "koistream.events") {
		var ev struct {
			RID      string `json:"rid"`
			Manifest struct {
				Hash string `json:"sha256_hash"`
			} `json:"manifest"`
		}
		if json.Unmarshal(rec.Value, &ev) == nil && strings.HasPrefix(ev.RID, "orn:github.event:") {
			count[ev.RID+" "+ev.Manifest.Hash]++
		}
	}
	per := map[string]int{}
	for k, c := range count {
		rid, _, _ := strings.Cut(k, " ")
		per[rid]++
		if c != 1 {
			t.Errorf("%s announced %d times", k, c)
		}
	}
	for _, r := range want {
		if per[r] != 1 {
			t.Errorf("%s: %d versions in the events topic, want 1", r, per[r])
		}
	}
}

func TestKOINetNetworkOfProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four nodes")
	}
	a := startKOINode(t, t.TempDir(), "koi_net:\n  node_name: sensor\n")
	aRID := selfRID(t, a)
	aURL := "http://" + a.http + "/koi-net"

	b := startKOINode(t, t.TempDir(), fmt.Sprintf(`koi_net:
  node_name: subscriber
  rid_types_of_interest: [orn:github.event]
  first_contact: {rid: %s, url: %s}
`, aRID, aURL), "--partitions", "1")
	c := startKOINode(t, t.TempDir(), fmt.Sprintf(`koi_net:
  node_name: poller
  node_profile: {node_type: PARTIAL}
  rid_types_of_interest: [orn:github.event]
  polling_interval: 0.2
  first_contact: {rid: %s, url: %s}
`, aRID, aURL))
	d := startKOINode(t, t.TempDir(), fmt.Sprintf(`koi_net:
  node_name: legacy
  rid_types_of_interest: [orn:github.event]
  first_contact: %s
`, aURL))
	bRID, cRID, dRID := selfRID(t, b), selfRID(t, c), selfRID(t, d)

	t.Run("edges negotiated", func(t *testing.T) {
		for _, tc := range []struct {
			name, target string
		}{{"webhook subscriber", bRID}, {"partial poller", cRID}, {"1.0 peer", dRID}} {
			topicstest.WaitFor(t, 60*time.Second, tc.name+"'s edge approved at the sensor", func() bool {
				return edgeStatus(t, a, aRID, tc.target, "orn:github.event") == "APPROVED"
			})
		}
	})
	first := sendIssueEvents(t, a, 3)
	t.Run("every subscriber gets each event", func(t *testing.T) {
		for _, k := range []*koiNode{b, c, d} {
			topicstest.WaitFor(t, 60*time.Second, "subscriber serves the events", func() bool { return hasAll(t, k, first) })
		}
	})

	b.kill9()
	second := sendIssueEvents(t, a, 5)
	b.restart(t, "--partitions", "1")
	all := append(slices.Clone(first), second...)
	t.Run("a killed subscriber gets what it missed, in order", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				t.Logf("sensor's peers: %s", peersOf(t, a))
			}
		}()
		topicstest.WaitFor(t, 60*time.Second, "restarted subscriber serves every event", func() bool { return hasAll(t, b, all) })
		if got := eventOrder(t, b); !slices.Equal(got, all) {
			t.Errorf("arrival order\n got %v\nwant %v", got, all)
		}
		eventsOnce(t, b, all)
		topicstest.WaitFor(t, 60*time.Second, "poller serves every event", func() bool { return hasAll(t, c, all) })
		eventsOnce(t, c, all)
	})

	t.Run("bad envelopes change nothing", func(t *testing.T) {
		before := endOffsets(t, a.kafka, "koistream.raw")
		for _, tc := range badEnvelopes(t, aRID) {
			resp, err := http.Post(aURL+"/events/broadcast", "application/json", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.want != "" && string(got) != tc.want) {
				t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, got, tc.status, tc.want)
			}
		}
		if after := endOffsets(t, a.kafka, "koistream.raw"); after != before {
			t.Errorf("raw topic grew from %d to %d records on refused envelopes", before, after)
		}
	})
}

// peersOf returns node k's GET /peers answer, for failure reports.
func peersOf(t *testing.T, k *koiNode) string {
	t.Helper()
	resp, err := http.Get("http://" + k.http + "/peers")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// badEnvelope is a refused broadcast and the answer it must get.
type badEnvelope struct {
	name   string
	body   []byte
	status int
	want   string // the exact body, or "" to check the status only
}

// badEnvelopes returns one broadcast for each way the reference refuses
// an envelope (PROTOCOL.md 3), addressed to the node me: each must be
// answered with its error and append nothing.
func badEnvelopes(t *testing.T, me string) []badEnvelope {
	t.Helper()
	key, err := koipkg.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := koipkg.PublicKeyString(&key.PublicKey)
	rid, _ := koipkg.NodeRIDForKey("intruder", pub)
	other, _ := koipkg.GenerateKey()
	otherPub, _ := koipkg.PublicKeyString(&other.PublicKey)
	handshake := func(profileKey string) []byte {
		contents := []byte(`{"@context":"orn:koi-net.context:koi-net.node","base_url":"http://127.0.0.1:9/koi-net","node_type":"FULL","provides":{"event":[],"state":[]},"public_key":"` + profileKey + `"}`)
		b, err := koipkg.NewBundle(rid, contents, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return []byte(`{"type":"events_payload","events":[` + string(koipkg.NewForgetEvent(rid).AppendJSON(nil)) + `,` +
			string(koipkg.NewBundleEvent(koipkg.EventNew, b).AppendJSON(nil)) + `]}`)
	}
	seal := func(payload []byte, target string) []byte {
		body, err := koipkg.Seal(key, payload, rid, target)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	tampered := seal(handshake(pub), me)
	i := bytes.Index(tampered, []byte(`"signature":"`)) + len(`"signature":"`)
	tampered[i] ^= 'A' ^ 'B'
	if tampered[i] == '"' {
		tampered[i] = 'C'
	}
	errBody := func(code string) string { return `{"type":"error_response","error":"` + code + `"}` }
	return []badEnvelope{
		{"unknown sender, not a handshake", seal([]byte(`{"type":"events_payload","events":[{"rid":"orn:github.repo:o/r","event_type":"FORGET"}]}`), me), 400, errBody("unknown_node")},
		{"key not the RID's", seal(handshake(otherPub), me), 400, errBody("invalid_key")},
		{"signature tampered", tampered, 400, errBody("invalid_signature")},
		{"addressed to another node", seal(handshake(pub), rid), 400, errBody("invalid_target")},
		{"not JSON", []byte(`{"payload":`), 422, ""},
	}
}
