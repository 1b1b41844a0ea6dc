package koiapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/topicstest"
)

// The KOI-2.1.md 2.4 handshake vector: S introduces itself to C, signed
// with the vectors.txt key.
const (
	vectorS   = "orn:koi-net.node:github-sensor+659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2"
	vectorC   = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
	vectorSig = "UD+QY9c+FyflQY8U2jUmAnfNaFKD2XTisd2w8JI98GK7atjs+Qh1gFYZXY+aFy0SvNBzcB4Qr9SLpJcha9Bm6w=="
	vectorMsg = `{"payload":{"type":"events_payload","events":[{"rid":"<S>","event_type":"FORGET"},{"rid":"<S>","event_type":"NEW","manifest":{"rid":"<S>","timestamp":"2026-08-06T12:00:00.123456Z","sha256_hash":"2b32ffd2c9ed4ba53517798fb356870a7c01617fb37a853eba4c2dba08c15fbb"},"contents":{"@context":"orn:koi-net.context:koi-net.node","base_url":"http://127.0.0.1:8091/koi-net","node_type":"FULL","provides":{"event":["orn:github.issue"],"state":["orn:github.issue"]},"public_key":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEa/hdX+hFmLEMphmewJzNfTXc1xlf3R3Hc3oMZwBu8lG5UvJe7B3u0fyhkYOJkEZjV9MUrft+l2C42a/I85qVrQ=="}}]},"source_node":"<S>","target_node":"<C>"}`
)

// vectorHandshake returns the 2.4 request body: the signed message with
// the signature as its fourth member.
func vectorHandshake() []byte {
	m := strings.NewReplacer("<S>", vectorS, "<C>", vectorC).Replace(vectorMsg)
	return []byte(strings.TrimSuffix(m, "}") + `,"signature":"` + vectorSig + `"}`)
}

// intake is a server with the broadcast intake on a real broker: its raw
// topic, what OnBroadcast and Resolve were called with.
type intake struct {
	srv   string // base URL of the KOI-net API
	addr  string // broker
	topic string
	hooks chan hookCall
	// resolved counts Resolve's calls.
	resolved atomic.Int32
}

type hookCall struct {
	sender    string
	handshake bool
	missing   []string
}

var topicSeq atomic.Int64

// startIntake starts a server answering as self with the broadcast intake
// appending to a fresh one-partition raw topic of the broker at addr.
// resolve may be nil. cfg's Cache, Self, Publisher, RawTopic, Resolve and
// OnBroadcast are set here.
func startIntake(tb testing.TB, addr string, cache *testCache, self *koiapi.Self, resolve koiapi.ResolveFunc, cfg koiapi.Config) *intake {
	tb.Helper()
	in := &intake{addr: addr, hooks: make(chan hookCall, 16)}
	in.topic = fmt.Sprintf("test.raw.%d", topicSeq.Add(1))
	topicstest.CreateTopic(tb, addr, in.topic, 1)
	pub := mustPublisher(tb, addr)
	cfg.Cache, cfg.Self, cfg.Publisher, cfg.RawTopic = cache.cache, self, pub, in.topic
	if resolve != nil {
		cfg.Resolve = func(ctx context.Context, rid string) (string, bool) {
			in.resolved.Add(1)
			return resolve(ctx, rid)
		}
	}
	cfg.OnBroadcast = func(sender string, handshake bool, missing []string) {
		in.hooks <- hookCall{sender, handshake, missing}
	}
	in.srv = startSigned(tb, cfg).URL
	return in
}

// post sends body to /events/broadcast with a User-Agent.
func (in *intake) post(tb testing.TB, body []byte) response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, in.srv+"/koi-net/events/broadcast", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "python-httpx/0.28.1")
	return doReq(tb, req)
}

func doReq(tb testing.TB, req *http.Request) response {
	tb.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		tb.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b.Bytes()}
}

// records returns the raw topic's records.
func (in *intake) records(tb testing.TB) []*kgo.Record {
	tb.Helper()
	return topicstest.ReadAll(tb, in.addr, in.topic)
}

// hook returns OnBroadcast's next call, failing if none comes.
func (in *intake) hook(tb testing.TB) hookCall {
	tb.Helper()
	select {
	case c := <-in.hooks:
		return c
	case <-time.After(10 * time.Second):
		tb.Fatal("OnBroadcast was not called")
		return hookCall{}
	}
}

// noHook fails if OnBroadcast was called.
func (in *intake) noHook(tb testing.TB) {
	tb.Helper()
	select {
	case c := <-in.hooks:
		tb.Fatalf("OnBroadcast called with %+v", c)
	default:
	}
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// checkRecord checks that rec is the koi-net raw record of body from
// sender, received by me.
func checkRecord(tb testing.TB, rec *kgo.Record, body []byte, sender, me string) {
	tb.Helper()
	if !bytes.Equal(rec.Value, body) {
		tb.Errorf("record value\n got %s\nwant %s", rec.Value, body)
	}
	if want := koinet.InputKey(sender, body); string(rec.Key) != want {
		tb.Errorf("record key %s, want %s", rec.Key, want)
	}
	for k, want := range map[string]string{
		raw.HeaderSource: koinet.SourceKind, koinet.HeaderReceiver: me, koinet.HeaderVia: koinet.ViaBroadcast,
		raw.HeaderContentType: "application/json", raw.HeaderUserAgent: "python-httpx/0.28.1",
	} {
		if got, _ := header(rec, k); got != want {
			tb.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	got, has := header(rec, koinet.HeaderSender)
	if sender == "" && has || got != sender {
		tb.Errorf("header %s = %q (present %v), want %q", koinet.HeaderSender, got, has, sender)
	}
	at, _ := header(rec, raw.HeaderReceivedAt)
	if ts, err := time.Parse(time.RFC3339Nano, at); err != nil || time.Since(ts) > time.Minute || time.Since(ts) < 0 {
		tb.Errorf("receive time %q (%v)", at, err)
	}
}

// issueEvents is an events_payload of a GitHub issue with contents and one
// announced without contents (to be fetched) and one with {}.
func issueEvents(tb testing.TB) (payload string, issue string) {
	tb.Helper()
	issue = "orn:github.issue:octo/hello:1"
	contents := `{"number":1,"title":"héllo 😀","closed_at":null,"score":1.0,"labels":[]}`
	b, err := koi.NewBundle(issue, []byte(contents), time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	if err != nil {
		tb.Fatal(err)
	}
	ev := koi.NewBundleEvent(koi.EventNew, b)
	payload = `{"type":"events_payload","events":[` + string(ev.AppendJSON(nil)) +
		`,{"rid":"orn:github.issue:octo/hello:2","event_type":"NEW"}` +
		`,{"rid":"orn:github.issue:octo/hello:3","event_type":"UPDATE","contents":{}}` +
		`,{"rid":"orn:github.issue:octo/hello:2","event_type":"UPDATE"}]}`
	return payload, issue
}

// TestBroadcastSigned: a signed broadcast from a known node is appended as
// exactly one raw record holding the body byte for byte and the request's
// headers, answered 200 null, and then OnBroadcast hears which RIDs came
// without contents.
func TestBroadcastSigned(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	me, friend := newPeer(t, "github-sensor"), newPeer(t, "processor")
	c := newTestCache(t)
	c.add(newEvent(t, friend.rid, friend.profile))
	in := startIntake(t, addr, c, selfFor(t, me), func(context.Context, string) (string, bool) { return "", false }, koiapi.Config{})
	payload, _ := issueEvents(t)
	body := seal(t, friend, payload, me.rid)
	r := in.post(t, body)
	if r.status != http.StatusOK || string(r.body) != "null" {
		t.Fatalf("answer %d %s, want 200 null", r.status, r.body)
	}
	recs := in.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d raw records, want 1", len(recs))
	}
	checkRecord(t, recs[0], body, friend.rid, me.rid)
	got := in.hook(t)
	want := hookCall{friend.rid, false, []string{"orn:github.issue:octo/hello:2", "orn:github.issue:octo/hello:3"}}
	if got.sender != want.sender || got.handshake != want.handshake || !slices.Equal(got.missing, want.missing) {
		t.Errorf("OnBroadcast(%+v), want %+v", got, want)
	}
	if n := in.resolved.Load(); n != 0 {
		t.Errorf("Resolve called %d times for a cached sender", n)
	}
	// The same batch again is the same input: another record with the same
	// key, which the dedupe stage drops.
	if r := in.post(t, body); r.status != http.StatusOK {
		t.Fatalf("re-sent batch: %d %s", r.status, r.body)
	}
	recs = in.records(t)
	if len(recs) != 2 || !bytes.Equal(recs[0].Key, recs[1].Key) {
		t.Fatalf("re-sent batch: %d records, keys %q", len(recs), keysOf(recs))
	}
}

func keysOf(recs []*kgo.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Key))
	}
	return out
}

// TestBroadcastHandshakeVector: the KOI-2.1.md 2.4 handshake, from a node
// we have never heard of, is answered 200 null and appended, without
// resolving the sender; OnBroadcast hears it is a handshake.
func TestBroadcastHandshakeVector(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	// We answer as C; our key only signs answers, and a broadcast's answer
	// is not signed.
	me := newPeer(t, "coordinator")
	self := selfFor(t, me)
	self.RID = vectorC
	in := startIntake(t, addr, newTestCache(t), self, func(context.Context, string) (string, bool) { return "", false }, koiapi.Config{})
	body := vectorHandshake()
	r := in.post(t, body)
	if r.status != http.StatusOK || string(r.body) != "null" {
		t.Fatalf("answer %d %s, want 200 null", r.status, r.body)
	}
	recs := in.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d raw records, want 1", len(recs))
	}
	checkRecord(t, recs[0], body, vectorS, vectorC)
	if got := in.hook(t); got.sender != vectorS || !got.handshake || len(got.missing) != 0 {
		t.Errorf("OnBroadcast(%+v), want (%s, true, [])", got, vectorS)
	}
	if n := in.resolved.Load(); n != 0 {
		t.Errorf("Resolve called %d times for a handshake", n)
	}
}

// TestBroadcastResolve: a sender neither cached nor introducing itself is
// resolved before it is refused: accepted with the right key, unknown_node
// when resolution fails, invalid_key when it yields another node's key.
func TestBroadcastResolve(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	me, stranger, other := newPeer(t, "github-sensor"), newPeer(t, "stranger"), newPeer(t, "other")
	payload, _ := issueEvents(t)
	body := seal(t, stranger, payload, me.rid)
	for _, tc := range []struct {
		name   string
		key    string
		found  bool
		status int
		answer string
	}{
		{"resolved", stranger.pub, true, 200, "null"},
		{"not found", "", false, 400, `{"type":"error_response","error":"unknown_node"}`},
		{"another node's key", other.pub, true, 400, `{"type":"error_response","error":"invalid_key"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			var mu sync.Mutex
			in := startIntake(t, addr, newTestCache(t), selfFor(t, me), func(_ context.Context, rid string) (string, bool) {
				mu.Lock()
				asked = append(asked, rid)
				mu.Unlock()
				return tc.key, tc.found
			}, koiapi.Config{})
			r := in.post(t, body)
			if r.status != tc.status || string(r.body) != tc.answer {
				t.Fatalf("answer %d %s, want %d %s", r.status, r.body, tc.status, tc.answer)
			}
			mu.Lock()
			if !slices.Equal(asked, []string{stranger.rid}) {
				t.Errorf("Resolve asked for %q, want [%s]", asked, stranger.rid)
			}
			mu.Unlock()
			recs := in.records(t)
			if tc.status != 200 {
				if len(recs) != 0 {
					t.Fatalf("refused broadcast appended %d records", len(recs))
				}
				in.noHook(t)
				return
			}
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			checkRecord(t, recs[0], body, stranger.rid, me.rid)
			if got := in.hook(t); got.sender != stranger.rid {
				t.Errorf("OnBroadcast(%+v)", got)
			}
		})
	}
}

// TestBroadcastRefusals: each bad envelope and each malformed batch gets
// the reference's answer (exact 400 bodies; 422 saying what is wrong),
// appends nothing, and OnBroadcast does not hear of it.
func TestBroadcastRefusals(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	me, friend, stranger, other := newPeer(t, "github-sensor"), newPeer(t, "processor"), newPeer(t, "stranger"), newPeer(t, "other")
	c := newTestCache(t)
	c.add(newEvent(t, friend.rid, friend.profile))
	liarRID := strings.Replace(friend.rid, "processor+", "liar+", 1)
	c.add(newEvent(t, liarRID, other.profile))
	liar := friend
	liar.rid = liarRID
	in := startIntake(t, addr, c, selfFor(t, me), nil, koiapi.Config{})
	payload, _ := issueEvents(t)
	good := seal(t, friend, payload, me.rid)
	env, err := koi.ParseEnvelope(good)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(old, new string) []byte {
		b := bytes.Replace(good, []byte(old), []byte(new), 1)
		if bytes.Equal(b, good) {
			t.Fatalf("tampering %q changed nothing", old)
		}
		return b
	}
	// A stranger's handshake whose profile key is not its own.
	badHandshake := `{"type":"events_payload","events":[{"rid":"` + stranger.rid + `","event_type":"NEW","manifest":{"rid":"` + stranger.rid + `","timestamp":"2026-11-28T12:00:00Z","sha256_hash":"00"},"contents":` + string(other.profile) + `}]}`
	refusal := func(code string) string { return `{"type":"error_response","error":"` + code + `"}` }
	for _, tc := range []struct {
		name       string
		body       []byte
		status     int
		wantBody   string // exact, for 400s
		wantDetail string // a substring of the 422's messages
	}{
		{"unknown sender", seal(t, stranger, payload, me.rid), 400, refusal(koi.ErrorUnknownNode), ""},
		{"key does not hash to the RID", seal(t, liar, payload, me.rid), 400, refusal(koi.ErrorInvalidKey), ""},
		{"handshake with another node's key", seal(t, stranger, badHandshake, me.rid), 400, refusal(koi.ErrorInvalidKey), ""},
		{"payload changed", tamper(`héllo`, `hello`), 400, refusal(koi.ErrorInvalidSignature), ""},
		{"signature of another message", tamper(env.Signature, mustSign(t, friend, "x")), 400, refusal(koi.ErrorInvalidSignature), ""},
		{"addressed to another node", seal(t, friend, payload, other.rid), 400, refusal(koi.ErrorInvalidTarget), ""},
		{"target changed after signing", tamper(me.rid, other.rid), 400, refusal(koi.ErrorInvalidSignature), ""},
		{"signed payload without its type", seal(t, friend, strings.Replace(payload, `"type":"events_payload",`, "", 1), me.rid), 400, refusal(koi.ErrorInvalidSignature), ""},
		{"no signature", tamper(`,"signature":"`+env.Signature+`"`, ""), 422, "", "signature"},
		{"not JSON", []byte(`{"payload":`), 422, "", ""},
		{"a fetch, not events", seal(t, friend, `{"type":"fetch_rids","rid_types":[]}`, me.rid), 422, "", "events_payload"},
		{"event with an invalid RID", seal(t, friend, `{"type":"events_payload","events":[{"rid":"nocolon","event_type":"FORGET"}]}`, me.rid), 422, "", `events.0.rid "nocolon" is not an RID`},
		{"manifest of another RID", seal(t, friend, `{"type":"events_payload","events":[{"rid":"orn:a.b:1","event_type":"NEW","manifest":{"rid":"orn:a.b:2","timestamp":"2026-11-28T12:00:00Z","sha256_hash":"00"},"contents":{"a":1}}]}`, me.rid), 422, "", "events.0.manifest.rid"},
		{"stranger with a malformed batch", seal(t, stranger, `{"type":"events_payload","events":[{"rid":"orn:a.b:1"}]}`, me.rid), 422, "", "event_type"},
		{"bare batch that does not parse", []byte(`{"events":[{"rid":"orn:a.b:1","event_type":"NEW","contents":[]}]}`), 422, "", "events.0.contents must be an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := in.post(t, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 400 && string(r.body) != tc.wantBody {
				t.Errorf("body %s, want %s", r.body, tc.wantBody)
			}
			if tc.status == 422 {
				msgs := checkValidationError(t, r)
				checkNoGoWords(t, msgs, r.body)
				if !strings.Contains(strings.Join(msgs, " "), tc.wantDetail) {
					t.Errorf("422 says %q, want it to mention %q", msgs, tc.wantDetail)
				}
			}
			if recs := in.records(t); len(recs) != 0 {
				t.Errorf("refused broadcast appended %d records", len(recs))
			}
			in.noHook(t)
		})
	}
	// The good one is still taken after all that.
	if r := in.post(t, good); r.status != http.StatusOK {
		t.Fatalf("good broadcast: %d %s", r.status, r.body)
	}
	if recs := in.records(t); len(recs) != 1 {
		t.Fatalf("%d records after the good broadcast, want 1", len(recs))
	}
}

// TestBroadcastBare: a koi-net 1.0 bare batch (no type, null manifest and
// contents) is appended without a sender; with signatures required it is
// refused exactly as the fetch endpoints refuse bare bodies.
func TestBroadcastBare(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	me := newPeer(t, "github-sensor")
	body := []byte(`{"events":[{"rid":"orn:github.issue:octo/hello:1","event_type":"NEW","manifest":{"rid":"orn:github.issue:octo/hello:1","timestamp":"2025-01-02T03:04:05.123456Z","sha256_hash":"c823c275099e9446e747b73e2ba6b23593ef29c603b75d52649b502334e5ce17"},"contents":{"a":null}},{"rid":"orn:github.repo:octo/hello","event_type":"FORGET","manifest":null,"contents":null}]}`)
	t.Run("accepted", func(t *testing.T) {
		in := startIntake(t, addr, newTestCache(t), selfFor(t, me), nil, koiapi.Config{})
		r := in.post(t, body)
		if r.status != http.StatusOK || string(r.body) != "null" {
			t.Fatalf("answer %d %s, want 200 null", r.status, r.body)
		}
		recs := in.records(t)
		if len(recs) != 1 {
			t.Fatalf("%d records, want 1", len(recs))
		}
		checkRecord(t, recs[0], body, "", me.rid)
		if got := in.hook(t); got.sender != "" || got.handshake || len(got.missing) != 0 {
			t.Errorf("OnBroadcast(%+v), want (\"\", false, [])", got)
		}
	})
	t.Run("signatures required", func(t *testing.T) {
		in := startIntake(t, addr, newTestCache(t), selfFor(t, me), nil, koiapi.Config{RequireSignatures: true})
		r := in.post(t, body)
		req, err := http.NewRequest(http.MethodPost, in.srv+"/koi-net/rids/fetch", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		fetch := doReq(t, req)
		if r.status != http.StatusUnprocessableEntity || fetch.status != r.status || !bytes.Equal(r.body, fetch.body) {
			t.Errorf("broadcast refused with %d %s; a fetch with %d %s", r.status, r.body, fetch.status, fetch.body)
		}
		if recs := in.records(t); len(recs) != 0 {
			t.Errorf("refused broadcast appended %d records", len(recs))
		}
		in.noHook(t)
	})
}

// TestBroadcastLogUnavailable: when the log does not take the record the
// answer is 503 with a JSON error, and OnBroadcast is not called.
func TestBroadcastLogUnavailable(t *testing.T) {
	t.Parallel()
	broker, addr := topicstest.StartBroker(t)
	me, friend := newPeer(t, "github-sensor"), newPeer(t, "processor")
	c := newTestCache(t)
	c.add(newEvent(t, friend.rid, friend.profile))
	in := startIntake(t, addr, c, selfFor(t, me), nil, koiapi.Config{PublishTimeout: 500 * time.Millisecond})
	broker.Close()
	payload, _ := issueEvents(t)
	r := in.post(t, seal(t, friend, payload, me.rid))
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", r.status, r.body)
	}
	var e struct{ Error, Detail string }
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error != "log_unavailable" || e.Detail == "" {
		t.Errorf("503 body %s: want {\"error\":\"log_unavailable\",\"detail\":…} (%v)", r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	in.noHook(t)
}

// TestBroadcastMounting: without a publisher there is no broadcast route
// (404, as any unknown path); with one, other methods get 405.
func TestBroadcastMounting(t *testing.T) {
	t.Parallel()
	me := newPeer(t, "github-sensor")
	srv := startSigned(t, koiapi.Config{Cache: newTestCache(t).cache, Self: selfFor(t, me)})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/koi-net/events/broadcast", strings.NewReader(`{"events":[]}`))
	if r := doReq(t, req); r.status != http.StatusNotFound {
		t.Errorf("without a publisher: %d %s, want 404", r.status, r.body)
	}
	_, addr := topicstest.StartBroker(t)
	in := startIntake(t, addr, newTestCache(t), selfFor(t, me), nil, koiapi.Config{})
	req, _ = http.NewRequest(http.MethodGet, in.srv+"/koi-net/events/broadcast", nil)
	if r := doReq(t, req); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d %s, want 405", r.status, r.body)
	}
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: []string{addr}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := koiapi.NewServer(koiapi.Config{Cache: newTestCache(t).cache, Publisher: pub, RawTopic: "raw"}); err == nil {
		t.Error("NewServer took a publisher without an identity")
	}
}

// TestBroadcastAnswersBeforeHook: the peer has its whole answer while
// OnBroadcast still runs, so a slow hook does not hold up a handshake.
func TestBroadcastAnswersBeforeHook(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	topic := fmt.Sprintf("test.raw.%d", topicSeq.Add(1))
	topicstest.CreateTopic(t, addr, topic, 1)
	me := newPeer(t, "coordinator")
	self := selfFor(t, me)
	self.RID = vectorC
	release := make(chan struct{})
	defer close(release)
	srv := startSigned(t, koiapi.Config{
		Cache: newTestCache(t).cache, Self: self, Publisher: mustPublisher(t, addr), RawTopic: topic,
		OnBroadcast: func(string, bool, []string) { <-release },
	})
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/koi-net/events/broadcast", "application/json", bytes.NewReader(vectorHandshake()))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b), err}
	}()
	select {
	case r := <-done:
		if r.err != nil || r.status != http.StatusOK || r.body != "null" {
			t.Fatalf("answer %d %s (%v), want 200 null", r.status, r.body, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no whole answer while OnBroadcast runs")
	}
}

func mustPublisher(tb testing.TB, addr string) *topics.Publisher {
	tb.Helper()
	pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: []string{addr}, CloseTimeout: 5 * time.Second}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = pub.Close() })
	return pub
}
