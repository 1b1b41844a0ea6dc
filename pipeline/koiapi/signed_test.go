package koiapi_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
)

// testCache is a cache that tests add events to as the projection runner
// would.
type testCache struct {
	tb     testing.TB
	store  *projections.Store
	cache  *projections.Cache
	offset int64
}

func newTestCache(tb testing.TB) *testCache {
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
	if err := store.Attach(cache); err != nil {
		tb.Fatal(err)
	}
	return &testCache{tb: tb, store: store, cache: cache}
}

// add applies events-topic values (KOI-net events as JSON).
func (c *testCache) add(values ...[]byte) {
	c.tb.Helper()
	var recs []projections.Record
	for _, v := range values {
		recs = append(recs, projections.Record{Topic: "koistream.events", Offset: c.offset, Value: v})
		c.offset++
	}
	res, err := c.store.Apply(recs)
	if err != nil {
		c.tb.Fatal(err)
	}
	if len(res.Skipped[0]) > 0 {
		c.tb.Fatalf("cache skipped events: %v", res.Skipped[0])
	}
}

// newEvent returns a NEW event of rid with contents, as the events topic
// carries it.
func newEvent(tb testing.TB, rid string, contents []byte) []byte {
	tb.Helper()
	b, err := koi.NewBundle(rid, contents, time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	if err != nil {
		tb.Fatal(err)
	}
	out := []byte(`{"rid":`)
	out = koi.AppendString(out, rid)
	out = append(out, `,"event_type":"NEW","manifest":`...)
	out = b.Manifest.AppendJSON(out)
	out = append(out, `,"contents":`...)
	out = append(out, contents...)
	return append(out, '}')
}

// peer is a node with a key: its RID and profile contents.
type peer struct {
	key     *ecdsa.PrivateKey
	pub     string
	rid     string
	profile []byte
}

func newPeer(tb testing.TB, name string) peer {
	tb.Helper()
	key, err := koi.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := koi.PublicKeyString(&key.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	rid, err := koi.NodeRIDForKey(name, pub)
	if err != nil {
		tb.Fatal(err)
	}
	return peer{key: key, pub: pub, rid: rid, profile: pipeline.NodeProfileJSON("http://127.0.0.1:9/koi-net", nil, pub)}
}

// selfFor returns the server identity of p with its profile bundle.
func selfFor(tb testing.TB, p peer) *koiapi.Self {
	tb.Helper()
	id := pipeline.Identity{Key: p.key, PublicKey: p.pub, RID: p.rid}
	m, b, err := id.ProfileBundle("http://127.0.0.1:9/koi-net", time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	if err != nil {
		tb.Fatal(err)
	}
	return &koiapi.Self{RID: p.rid, Key: p.key, PublicKey: p.pub, Manifest: m, Bundle: b}
}

func startSigned(tb testing.TB, cfg koiapi.Config) *httptest.Server {
	tb.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := koiapi.NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux, "")
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

// seal signs payload from p to target.
func seal(tb testing.TB, p peer, payload, target string) []byte {
	tb.Helper()
	b, err := koi.Seal(p.key, []byte(payload), p.rid, target)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// openAnswer checks that r is a 200 envelope from me to p, signed with
// me's key over the bytes received, and returns its payload.
func openAnswer(tb testing.TB, r response, me, p peer) []byte {
	tb.Helper()
	if r.status != http.StatusOK {
		tb.Fatalf("status %d: %s", r.status, r.body)
	}
	env, err := koi.ParseEnvelope(r.body)
	if err != nil {
		tb.Fatalf("answer is not an envelope: %v: %s", err, r.body)
	}
	if env.SourceNode != me.rid || env.TargetNode != p.rid {
		tb.Errorf("answer from %s to %s, want from %s to %s", env.SourceNode, env.TargetNode, me.rid, p.rid)
	}
	// Verify, not ValidateEnvelope: the wire replays answer as a captured
	// node's RID with a key of ours, which does not hash to it.
	if err := env.Verify(me.pub); err != nil {
		tb.Errorf("answer does not verify: %v", err)
	}
	return env.Payload
}

func TestSignedFetch(t *testing.T) {
	me, friend := newPeer(t, "github-sensor"), newPeer(t, "processor")
	c := newTestCache(t)
	evs := loadEvents(t)
	for _, ev := range evs {
		c.add(ev.raw)
	}
	c.add(newEvent(t, friend.rid, friend.profile))
	// Stored non-canonical GitHub RIDs never leave the node (KOI-2.1.md 1e).
	c.add(newEvent(t, "orn:github.issue:o/r:007", []byte(`{"number":7}`)))
	self := selfFor(t, me)
	srv := startSigned(t, koiapi.Config{Cache: c.cache, Self: self})
	client := &http.Client{Timeout: 30 * time.Second}

	var selfBundle struct {
		Manifest koi.Manifest    `json:"manifest"`
		Contents json.RawMessage `json:"contents"`
	}
	if err := json.Unmarshal(self.Bundle, &selfBundle); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, payload string
		want                any // the decoded answer payload
		decode              func([]byte) (any, error)
	}{
		{
			name: "rids of node type: the friend and us", path: "/rids/fetch",
			payload: `{"type":"fetch_rids","rid_types":["orn:koi-net.node"]}`,
			want:    koi.NewRidsPayload(sorted(friend.rid, me.rid)),
			decode:  func(b []byte) (any, error) { return koi.DecodeRidsPayload(b) },
		},
		{
			name: "all rids: canonical GitHub RIDs, nodes", path: "/rids/fetch",
			payload: `{"type":"fetch_rids","rid_types":[]}`,
			want:    koi.NewRidsPayload(append([]string{ridEvent, ridIssue1, ridIssue10, ridPR3}, sorted(friend.rid, me.rid)...)),
			decode:  func(b []byte) (any, error) { return koi.DecodeRidsPayload(b) },
		},
		{
			name: "our manifest and a missing one", path: "/manifests/fetch",
			payload: `{"type":"fetch_manifests","rid_types":[],"rids":["` + me.rid + `","orn:github.issue:o/r:007"]}`,
			want:    koi.NewManifestsPayload([]koi.Manifest{selfBundle.Manifest}, []string{"orn:github.issue:o/r:007"}),
			decode:  func(b []byte) (any, error) { return koi.DecodeManifestsPayload(b) },
		},
		{
			name: "our profile and an issue", path: "/bundles/fetch",
			payload: `{"type":"fetch_bundles","rids":["` + me.rid + `","` + ridIssue1 + `","orn:github.issue:o/r:007"]}`,
			want: koi.NewBundlesPayload([]koi.Bundle{
				{Manifest: selfBundle.Manifest, Contents: selfBundle.Contents},
				bundleOf(t, latest(t, evs, ridIssue1)),
			}, []string{"orn:github.issue:o/r:007"}, nil),
			decode: func(b []byte) (any, error) { return koi.DecodeBundlesPayload(b) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, client, http.MethodPost, srv.URL+"/koi-net"+tc.path, seal(t, friend, tc.payload, me.rid))
			got, err := tc.decode(openAnswer(t, r, me, friend))
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tc.want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("answer\n got %s\nwant %s", gotJSON, wantJSON)
			}
		})
	}

	t.Run("bare 1.0 payload answered bare", func(t *testing.T) {
		r := do(t, client, http.MethodPost, srv.URL+"/koi-net/rids/fetch", []byte(`{"rid_types":["orn:koi-net.node"]}`))
		want, _ := json.Marshal(koi.NewRidsPayload(sorted(friend.rid, me.rid)))
		if r.status != http.StatusOK || !bytes.Equal(r.body, want) {
			t.Errorf("got %d %s, want 200 %s", r.status, r.body, want)
		}
	})
	t.Run("require_signatures refuses a bare payload", func(t *testing.T) {
		strict := startSigned(t, koiapi.Config{Cache: c.cache, Self: self, RequireSignatures: true})
		for _, path := range []string{"/rids/fetch", "/manifests/fetch", "/bundles/fetch"} {
			r := do(t, client, http.MethodPost, strict.URL+"/koi-net"+path, []byte(`{"rids":[],"rid_types":[]}`))
			if r.status != http.StatusUnprocessableEntity || !bytes.Contains(r.body, []byte(`"loc":["body","payload"]`)) {
				t.Errorf("%s: got %d %s, want 422 for the missing payload", path, r.status, r.body)
			}
		}
		r := do(t, client, http.MethodPost, strict.URL+"/koi-net/rids/fetch", seal(t, friend, `{"type":"fetch_rids","rid_types":[]}`, me.rid))
		openAnswer(t, r, me, friend)
	})
}

// sorted returns rids sorted, the order the cache lists one type in.
func sorted(rids ...string) []string {
	return slices.Sorted(slices.Values(rids))
}

func bundleOf(tb testing.TB, ev event) koi.Bundle {
	tb.Helper()
	var m koi.Manifest
	if err := json.Unmarshal(ev.manifest, &m); err != nil {
		tb.Fatal(err)
	}
	return koi.Bundle{Manifest: m, Contents: ev.contents}
}

// TestSignedFetchRefusals: each bad envelope gets the reference's answer,
// in its check order, and leaves the cache as it was.
func TestSignedFetchRefusals(t *testing.T) {
	me, friend, stranger, other := newPeer(t, "github-sensor"), newPeer(t, "processor"), newPeer(t, "stranger"), newPeer(t, "other")
	c := newTestCache(t)
	c.add(newEvent(t, friend.rid, friend.profile))
	// A cached profile whose key does not hash to its RID.
	liarRID := strings.Replace(friend.rid, "processor+", "liar+", 1)
	c.add(newEvent(t, liarRID, other.profile))
	liar := friend
	liar.rid = liarRID
	srv := startSigned(t, koiapi.Config{Cache: c.cache, Self: selfFor(t, me)})
	client := &http.Client{Timeout: 30 * time.Second}
	before, err := c.cache.RIDs(nil)
	if err != nil {
		t.Fatal(err)
	}

	const fetch = `{"type":"fetch_rids","rid_types":[]}`
	good := seal(t, friend, fetch, me.rid)
	tamper := func(old, new string) []byte {
		b := bytes.Replace(good, []byte(old), []byte(new), 1)
		if bytes.Equal(b, good) {
			t.Fatalf("tampering %q changed nothing", old)
		}
		return b
	}
	env, err := koi.ParseEnvelope(good)
	if err != nil {
		t.Fatal(err)
	}
	refusal := func(code string) string { return `{"type":"error_response","error":"` + code + `"}` }
	for _, tc := range []struct {
		name       string
		body       []byte
		status     int
		wantBody   string // exact, for 400s
		wantDetail string // a substring, for 422s
	}{
		{"unknown sender", seal(t, stranger, fetch, me.rid), 400, refusal(koi.ErrorUnknownNode), ""},
		{"key does not hash to the RID", seal(t, liar, fetch, me.rid), 400, refusal(koi.ErrorInvalidKey), ""},
		{"payload changed", tamper(`"rid_types":[]`, `"rid_types":["orn:koi-net.node"]`), 400, refusal(koi.ErrorInvalidSignature), ""},
		{"signature of another message", tamper(env.Signature, mustSign(t, friend, "x")), 400, refusal(koi.ErrorInvalidSignature), ""},
		{"signature not 64 bytes", tamper(env.Signature, "AAAA"), 400, refusal(koi.ErrorInvalidSignature), ""},
		{"addressed to another node", seal(t, friend, fetch, other.rid), 400, refusal(koi.ErrorInvalidTarget), ""},
		// The signature is checked before the target, as in the reference.
		{"target changed after signing", tamper(me.rid, other.rid), 400, refusal(koi.ErrorInvalidSignature), ""},
		// The reference verifies over its re-serialization, which adds the
		// default type: a signature over the payload without it fails.
		{"signed payload without its type", seal(t, friend, `{"rid_types":[]}`, me.rid), 400, refusal(koi.ErrorInvalidSignature), ""},
		{"no signature", tamper(`,"signature":"`+env.Signature+`"`, ""), 422, "", "signature"},
		{"source not a node RID", tamper(`"source_node":"`+friend.rid, `"source_node":"orn:x:y`), 422, "", ""},
		{"payload not a fetch", seal(t, friend, `{"type":"fetch_rids","rid_types":"x"}`, me.rid), 422, "", "rid_types"},
		// A malformed payload is a 422 even from a stranger: the body model
		// is validated before the envelope is checked.
		{"stranger with a malformed payload", seal(t, stranger, `{"type":"fetch_rids","rid_types":[1]}`, me.rid), 422, "", ""},
		{"payload not an object", tamper(`"payload":{"type":"fetch_rids","rid_types":[]}`, `"payload":[]`), 422, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, client, http.MethodPost, srv.URL+"/koi-net/rids/fetch", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 400 && string(r.body) != tc.wantBody {
				t.Errorf("body %s, want %s", r.body, tc.wantBody)
			}
			if tc.status == 422 {
				msgs := checkValidationError(t, r)
				if tc.wantDetail != "" && !strings.Contains(strings.Join(msgs, " "), tc.wantDetail) {
					t.Errorf("422 says %q, want it to mention %q", msgs, tc.wantDetail)
				}
			}
			after, err := c.cache.RIDs(nil)
			if err != nil || !slices.Equal(before, after) {
				t.Errorf("cache changed: %v -> %v (%v)", before, after, err)
			}
		})
	}
	// The good one still works after all that.
	openAnswer(t, do(t, client, http.MethodPost, srv.URL+"/koi-net/rids/fetch", good), me, friend)
}

func mustSign(tb testing.TB, p peer, msg string) string {
	tb.Helper()
	s, err := koi.Sign(p.key, []byte(msg))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// wireExchange is one request a Python node sent to a Go node in a wire
// capture and the answer it got and accepted.
type wireExchange struct {
	path, request string
	status        int
	reply         string
}

// readWire returns the fetch requests the capture's Go node received and
// what it replied.
func readWire(tb testing.TB, file string) []wireExchange {
	tb.Helper()
	f, err := os.Open(file)
	if err != nil {
		tb.Fatalf("wire capture: %v", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	var out []wireExchange
	for i, l := range lines {
		path, ok := strings.CutPrefix(l, "<<< RECV /koi-net/")
		if !ok {
			continue
		}
		path, _, _ = strings.Cut(path, " ")
		if !strings.HasSuffix(path, "/fetch") || i+1 >= len(lines) {
			continue
		}
		ex := wireExchange{path: "/" + path, request: lines[i+1]}
		for _, r := range lines[i+2:] {
			if rest, ok := strings.CutPrefix(r, ">>> REPLY "); ok {
				code, body, _ := strings.Cut(rest, " ")
				ex.status, _ = strconv.Atoi(code)
				ex.reply = body
				break
			}
		}
		out = append(out, ex)
	}
	return out
}

// TestWireSensorProcessor replays what a Python processor node sent the Go
// sensor of wire_sensor_processor.log against our server answering as that
// sensor's RID (with our own key: the capture's is not available) and
// checks the answers are what the processor accepted. The processor's first
// fetch came before its profile was known and got unknown_node; its profile
// and the event it fetched then enter the cache, as the handshake and the
// sensor's own event would put them there.
func TestWireSensorProcessor(t *testing.T) {
	const (
		sensorRID    = "orn:koi-net.node:gosensor+ef322962b76773e3f75c5feb6dfedaee009dfaa279ecb2802d3208cf7c0f4d97"
		processorRID = "orn:koi-net.node:processor+a18c5fbb0c6341b5157365b7d386945aac23398cd9d43f863c228232a07a89a9"
	)
	exchanges := readWire(t, filepath.Join("testdata", "wire", "wire_sensor_processor.log"))
	if len(exchanges) != 3 {
		t.Fatalf("want the capture's 3 fetches, got %d", len(exchanges))
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "wire", "wire_sensor_processor.log"))
	if err != nil {
		t.Fatal(err)
	}
	processorProfile := wireEvent(t, string(raw), processorRID, `"event_type":"NEW"`)

	me := newPeer(t, "gosensor")
	me.rid = sensorRID
	c := newTestCache(t)
	srv := startSigned(t, koiapi.Config{Cache: c.cache, Self: &koiapi.Self{RID: me.rid, Key: me.key, PublicKey: me.pub}})
	client := &http.Client{Timeout: 30 * time.Second}
	processor := peer{rid: processorRID}

	for i, ex := range exchanges {
		if i == 1 {
			c.add(processorProfile)
			// The bundle the sensor answered with, as it held it.
			var reply struct {
				Bundles []json.RawMessage `json:"bundles"`
			}
			if err := json.Unmarshal(replyPayload(t, exchanges[2].reply), &reply); err != nil || len(reply.Bundles) != 1 {
				t.Fatalf("capture's bundles reply: %v", err)
			}
			var b struct {
				Manifest json.RawMessage `json:"manifest"`
				Contents json.RawMessage `json:"contents"`
			}
			if err := json.Unmarshal(reply.Bundles[0], &b); err != nil {
				t.Fatal(err)
			}
			var m koi.Manifest
			_ = json.Unmarshal(b.Manifest, &m)
			c.add([]byte(`{"rid":"` + m.RID + `","event_type":"NEW","manifest":` + string(b.Manifest) + `,"contents":` + string(b.Contents) + `}`))
		}
		t.Run(ex.path, func(t *testing.T) {
			r := do(t, client, http.MethodPost, srv.URL+"/koi-net"+ex.path, []byte(ex.request))
			if ex.status != http.StatusOK {
				if r.status != ex.status || string(r.body) != ex.reply {
					t.Errorf("got %d %s, want %d %s", r.status, r.body, ex.status, ex.reply)
				}
				return
			}
			got := openAnswer(t, r, me, processor)
			if want := replyPayload(t, ex.reply); !bytes.Equal(got, want) {
				t.Errorf("payload\n got %s\nwant %s", got, want)
			}
		})
	}
}

// replyPayload returns the payload of a captured envelope reply, whose
// line the capture may have cut short after the payload.
func replyPayload(tb testing.TB, reply string) []byte {
	tb.Helper()
	rest, ok := strings.CutPrefix(reply, `{"payload":`)
	i := strings.Index(rest, `,"source_node":`)
	if !ok || i < 0 || !json.Valid([]byte(rest[:i])) {
		tb.Fatalf("captured reply has no whole payload: %.200s", reply)
	}
	return []byte(rest[:i])
}

// wireEvent finds in a capture the first event about rid with marker and
// returns it as an events-topic value, contents verbatim.
func wireEvent(tb testing.TB, capture, rid, marker string) []byte {
	tb.Helper()
	for _, line := range strings.Split(capture, "\n") {
		var env struct {
			Payload struct {
				Events []json.RawMessage `json:"events"`
			} `json:"payload"`
		}
		if !strings.HasPrefix(line, `{"payload":{"type":"events_payload"`) || json.Unmarshal([]byte(line), &env) != nil {
			continue
		}
		for _, ev := range env.Payload.Events {
			if bytes.Contains(ev, []byte(`"rid":"`+rid+`"`)) && bytes.Contains(ev, []byte(marker)) {
				return ev
			}
		}
	}
	tb.Fatalf("no event about %s in the capture", rid)
	return nil
}

// FuzzSignedEndpoints posts arbitrary bodies, signed envelopes among the
// seeds, to every endpoint of a server with an identity: the answer is
// never a server error, always JSON, and either a signed envelope to the
// sender that verifies (200), a bare payload for a bare request (200), an
// error_response (400) or a validation error (422).
func FuzzSignedEndpoints(f *testing.F) {
	me, friend := newPeer(f, "github-sensor"), newPeer(f, "processor")
	c := newTestCache(f)
	for _, ev := range loadEvents(f) {
		c.add(ev.raw)
	}
	c.add(newEvent(f, friend.rid, friend.profile))
	srv := startSigned(f, koiapi.Config{Cache: c.cache, Self: selfFor(f, me)})
	client := &http.Client{Timeout: 30 * time.Second}
	for _, p := range []string{
		`{"type":"fetch_rids","rid_types":[]}`, `{"type":"fetch_bundles","rids":["` + me.rid + `","` + ridIssue1 + `"]}`,
		`{"type":"fetch_manifests","rid_types":["orn:koi-net.node"],"rids":[]}`, `{"rids":[]}`,
	} {
		f.Add(seal(f, friend, p, me.rid))
		f.Add([]byte(p))
	}
	f.Add([]byte(`{"payload":{},"signature":1}`))
	f.Add([]byte(`{"signature":"","payload":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/rids/fetch", "/manifests/fetch", "/bundles/fetch"} {
			r := do(t, client, http.MethodPost, srv.URL+"/koi-net"+path, body)
			if !json.Valid(r.body) {
				t.Fatalf("%s: status %d, body is not JSON: %q", path, r.status, r.body)
			}
			switch r.status {
			case http.StatusOK:
				if env, err := koi.ParseEnvelope(r.body); err == nil {
					if env.SourceNode != me.rid || env.Verify(me.pub) != nil {
						t.Fatalf("%s: signed answer does not verify: %s", path, r.body)
					}
				} else if !bytes.HasPrefix(r.body, []byte(`{"type":`)) {
					t.Fatalf("%s: answer neither an envelope nor a payload: %s", path, r.body)
				}
			case http.StatusBadRequest:
				if _, err := koi.DecodeErrorResponse(r.body); err != nil {
					t.Fatalf("%s: 400 body %s: %v", path, r.body, err)
				}
			case http.StatusUnprocessableEntity:
				checkValidationError(t, r)
			default:
				t.Fatalf("%s: status %d: %s", path, r.status, r.body)
			}
		}
	})
}

// readWireSent returns the fetch requests the capture's Go node sent a
// Python node and the answers it got.
func readWireSent(tb testing.TB, file string) []wireExchange {
	tb.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		tb.Fatalf("wire capture: %v", err)
	}
	lines := strings.Split(string(raw), "\n")
	var out []wireExchange
	for i := 0; i+2 < len(lines); i++ {
		url, ok := strings.CutPrefix(lines[i], ">>> SEND ")
		_, path, found := strings.Cut(url, "/koi-net")
		if !ok || !found || !strings.HasSuffix(path, "/fetch") {
			continue
		}
		rest, ok := strings.CutPrefix(lines[i+2], "<<< ")
		if !ok {
			continue
		}
		code, body, _ := strings.Cut(rest, " ")
		status, _ := strconv.Atoi(code)
		out = append(out, wireExchange{path: path, request: lines[i+1], status: status, reply: body})
	}
	return out
}

// TestWireSent replays the fetches a Go node sent a Python 2.x node in the
// captures against our server answering as the Python node's RID (with our
// key) with require_signatures, as a 2.x node refuses bare bodies. Every
// refusal must be the Python node's, byte for byte (unknown_node,
// invalid_signature, invalid_target, the 422 of a bare body); every answer
// an envelope to the sender with the payload the Python node gave for what
// we hold (RID lists as sets: Python lists in insertion order). The sender's
// profile comes from its handshake in the capture, the bundles from the
// Python node's answers.
func TestWireSent(t *testing.T) {
	const coordinatorRID = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
	for _, tc := range []struct {
		capture, sender string
		min             int
	}{
		{"wire_full_vs_coordinator.log", "orn:koi-net.node:gosim+dc4a44a0095d16ce5d86dab149b44677c0cb1847cdab15618b1f3e4976c46988", 8},
		{"wire_partial.log", "orn:koi-net.node:gopartial+471f91578b8e8a138ac296cc69669c4c77be9f27e39b2320d2f96ad478a968c6", 1},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			replaySent(t, filepath.Join("testdata", "wire", tc.capture), coordinatorRID, tc.sender, tc.min)
		})
	}
}

func replaySent(t *testing.T, capture, targetRID, senderRID string, min int) {
	exchanges := readWireSent(t, capture)
	if len(exchanges) < min {
		t.Fatalf("want the capture's %d fetches, got %d", min, len(exchanges))
	}
	raw, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	me := newPeer(t, "coordinator")
	me.rid = targetRID
	c := newTestCache(t)
	c.add(wireEvent(t, string(raw), senderRID, `"event_type":"NEW"`))
	for _, ex := range exchanges {
		if ex.path != "/bundles/fetch" || ex.status != http.StatusOK {
			continue
		}
		var p struct {
			Bundles []struct {
				Manifest json.RawMessage `json:"manifest"`
				Contents json.RawMessage `json:"contents"`
			} `json:"bundles"`
		}
		if err := json.Unmarshal(replyPayload(t, ex.reply), &p); err != nil {
			t.Fatal(err)
		}
		for _, b := range p.Bundles {
			var m koi.Manifest
			_ = json.Unmarshal(b.Manifest, &m)
			c.add([]byte(`{"rid":"` + m.RID + `","event_type":"NEW","manifest":` + string(b.Manifest) + `,"contents":` + string(b.Contents) + `}`))
		}
	}
	srv := startSigned(t, koiapi.Config{Cache: c.cache, Self: &koiapi.Self{RID: me.rid, Key: me.key, PublicKey: me.pub}, RequireSignatures: true})
	client := &http.Client{Timeout: 30 * time.Second}
	sender := peer{rid: senderRID}
	held, err := c.cache.RIDs(nil)
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, targetRID)

	for i, ex := range exchanges {
		t.Run(strconv.Itoa(i)+ex.path, func(t *testing.T) {
			r := do(t, client, http.MethodPost, srv.URL+"/koi-net"+ex.path, []byte(ex.request))
			if ex.status != http.StatusOK {
				if r.status != ex.status || string(r.body) != ex.reply {
					t.Errorf("got %d %s\nwant %d %s", r.status, r.body, ex.status, ex.reply)
				}
				return
			}
			got := openAnswer(t, r, me, sender)
			want := replyPayload(t, ex.reply)
			if ex.path != "/rids/fetch" {
				if !bytes.Equal(got, want) {
					t.Errorf("payload\n got %s\nwant %s", got, want)
				}
				return
			}
			g, err1 := koi.DecodeRidsPayload(got)
			w, err2 := koi.DecodeRidsPayload(want)
			if err1 != nil || err2 != nil {
				t.Fatalf("rids payloads: %v, %v", err1, err2)
			}
			// The Python node also held what it never served here (another
			// edge): compare what both hold.
			w.Rids = slices.DeleteFunc(w.Rids, func(rid string) bool { return !slices.Contains(held, rid) })
			if !slices.Equal(sorted(g.Rids...), sorted(w.Rids...)) {
				t.Errorf("rids %v, want %v", g.Rids, w.Rids)
			}
		})
	}
}
