package koiapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// pollStore is a projection store with the cache, the graph and the queues
// of node self, which tests add events-topic records to as the runner
// would.
type pollStore struct {
	tb     testing.TB
	store  *projections.Store
	cache  *projections.Cache
	queues *projections.Queues
	offset int64
}

func newPollStore(tb testing.TB, self string) *pollStore {
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
	q, err := projections.NewQueues(store, projections.QueuesConfig{Self: self, ProvidesEvent: []string{"orn:github.issue"}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.Attach(cache, projections.NewGraph(store), q); err != nil {
		tb.Fatal(err)
	}
	return &pollStore{tb: tb, store: store, cache: cache, queues: q}
}

// add applies one events-topic record: value, from peer ("" = local).
func (p *pollStore) add(peer string, value []byte) {
	p.tb.Helper()
	p.apply(peer, value)
}

// addTo applies a local events-topic record whose observation names
// targets.
func (p *pollStore) addTo(value []byte, targets ...string) {
	p.tb.Helper()
	p.apply("", value, kgo.RecordHeader{Key: observed.HeaderTargets, Value: []byte(strings.Join(targets, ","))})
}

func (p *pollStore) apply(peer string, value []byte, headers ...kgo.RecordHeader) {
	p.tb.Helper()
	var ev struct{ RID string }
	if err := json.Unmarshal(value, &ev); err != nil {
		p.tb.Fatal(err)
	}
	r := projections.Record{Topic: "koistream.events", Offset: p.offset, Key: []byte(ev.RID), Value: value,
		Timestamp: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).Add(time.Duration(p.offset) * time.Second)}
	r.Headers = headers
	if peer != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: observed.HeaderPeer, Value: []byte(peer)})
	}
	p.offset++
	res, err := p.store.Apply([]projections.Record{r})
	if err != nil {
		p.tb.Fatal(err)
	}
	for _, sk := range res.Skipped {
		if len(sk) > 0 {
			p.tb.Fatalf("skipped %v", sk)
		}
	}
}

// subscribe adds the edge me → sub carrying orn:github.issue, proposed by
// sub.
func (p *pollStore) subscribe(me, sub string) {
	p.tb.Helper()
	contents := `{"source":"` + me + `","target":"` + sub + `","edge_type":"POLL","status":"PROPOSED","rid_types":["orn:github.issue"]}`
	p.add(sub, newEvent(p.tb, koi.EdgeRID(me, sub), []byte(contents)))
}

// issue returns a NEW event of issue n whose contents have spacing and a
// float as a GitHub payload might, which pydantic re-prints.
func issue(tb testing.TB, n int) []byte {
	return newEvent(tb, fmt.Sprintf("orn:github.issue:o/r:%d", n), []byte(fmt.Sprintf(`{"number": %d, "score": 1E2, "title": "<&>\u2028"}`, n)))
}

// pydanticEvents returns the events_payload of events as a Python node
// re-prints it.
func pydanticEvents(tb testing.TB, events ...[]byte) string {
	tb.Helper()
	p := []byte(`{"type":"events_payload","events":[`)
	for i, e := range events {
		if i > 0 {
			p = append(p, ',')
		}
		var err error
		if p, err = koi.AppendPydanticJSON(p, e); err != nil {
			tb.Fatal(err)
		}
	}
	return string(append(p, "]}"...))
}

func startPoll(tb testing.TB, cfg koiapi.Config) *httptest.Server {
	tb.Helper()
	return startSigned(tb, cfg)
}

// TestPollSigned: a signed poll gets the events queued for its sender in
// an envelope signed to it, over the payload as a Python node re-prints
// it; the next poll acknowledges them; limit 0 is everything.
func TestPollSigned(t *testing.T) {
	t.Parallel()
	me, friend := newPeer(t, "github-sensor"), newPeer(t, "processor")
	ps := newPollStore(t, me.rid)
	ps.add(friend.rid, newEvent(t, friend.rid, friend.profile))
	ps.subscribe(me.rid, friend.rid)
	for n := 1; n <= 3; n++ {
		ps.add("", issue(t, n))
	}
	srv := startPoll(t, koiapi.Config{Cache: ps.cache, Self: selfFor(t, me), Queues: ps.queues})
	client := &http.Client{Timeout: 30 * time.Second}
	for _, tc := range []struct {
		name, payload string
		want          string
		depth         int
	}{
		{"first page", `{"type":"poll_events","limit":2}`, pydanticEvents(t, issue(t, 1), issue(t, 2)), 3},
		{"the rest, the first acknowledged", `{"type":"poll_events","limit":0}`, pydanticEvents(t, issue(t, 3)), 1},
		{"nothing left", `{"type":"poll_events","limit":0}`, pydanticEvents(t), 0},
	} {
		r := do(t, client, http.MethodPost, srv.URL+"/koi-net/events/poll", seal(t, friend, tc.payload, me.rid))
		got := openAnswer(t, r, me, friend)
		if string(got) != tc.want {
			t.Errorf("%s: payload\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if d, err := ps.queues.Depth(friend.rid); err != nil || d != tc.depth {
			t.Errorf("%s: depth %d, %v; want %d", tc.name, d, err, tc.depth)
		}
	}
}

// TestPollRefusals: a poll that is refused acknowledges nothing and
// records no page: the queue is as before, and the subscriber's own poll
// gets its events from the first.
func TestPollRefusals(t *testing.T) {
	t.Parallel()
	me, friend, stranger := newPeer(t, "github-sensor"), newPeer(t, "processor"), newPeer(t, "stranger")
	for _, tc := range []struct {
		name    string
		require bool
		body    func(srvSelf string) []byte
		status  int
		wantErr string // the error_response's code; "" for a 422
	}{
		// The reference verifies over its re-serialization, which has the
		// type: a signature over a payload without it fails there.
		{"signed without type", false, func(string) []byte { return seal(t, friend, `{"limit":0}`, me.rid) }, 400, koi.ErrorInvalidSignature},
		{"unknown sender", false, func(string) []byte { return seal(t, stranger, `{"type":"poll_events","limit":0}`, me.rid) }, 400, koi.ErrorUnknownNode},
		{"bad signature", false, func(string) []byte {
			b := seal(t, friend, `{"type":"poll_events","limit":0}`, me.rid)
			return []byte(strings.Replace(string(b), `"limit":0`, `"limit":1`, 1))
		}, 400, koi.ErrorInvalidSignature},
		{"another target", false, func(string) []byte { return seal(t, friend, `{"type":"poll_events","limit":0}`, stranger.rid) }, 400, koi.ErrorInvalidTarget},
		{"malformed payload", false, func(string) []byte { return seal(t, friend, `{"type":"poll_events","limit":"all"}`, me.rid) }, 422, ""},
		{"another payload type", false, func(string) []byte { return seal(t, friend, `{"type":"fetch_rids","rid_types":[]}`, me.rid) }, 422, ""},
		{"bare poll for a node that signs", false, func(string) []byte { return []byte(`{"rid":"` + friend.rid + `","limit":0}`) }, 422, ""},
		{"bare poll under require_signatures", true, func(string) []byte {
			return []byte(`{"rid":"orn:koi-net.node:old+8f1a0b52-1c1d-4b9e-8a53-0d6c3e0a9b11","limit":0}`)
		}, 422, ""},
		{"bare poll without rid", false, func(string) []byte { return []byte(`{"limit":0}`) }, 422, ""},
		{"bare poll naming no node", false, func(string) []byte { return []byte(`{"rid":"orn:github.issue:o/r:1","limit":0}`) }, 422, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps := newPollStore(t, me.rid)
			ps.add(friend.rid, newEvent(t, friend.rid, friend.profile))
			ps.subscribe(me.rid, friend.rid)
			ps.add("", issue(t, 1))
			ps.add("", issue(t, 2))
			srv := startPoll(t, koiapi.Config{Cache: ps.cache, Self: selfFor(t, me), Queues: ps.queues, RequireSignatures: tc.require})
			client := &http.Client{Timeout: 30 * time.Second}
			r := do(t, client, http.MethodPost, srv.URL+"/koi-net/events/poll", tc.body(me.rid))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.wantErr != "" {
				if e, err := koi.DecodeErrorResponse(r.body); err != nil || e.Error != tc.wantErr {
					t.Errorf("body %s, want error %s", r.body, tc.wantErr)
				}
			} else if !json.Valid(r.body) || !strings.HasPrefix(string(r.body), `{"detail":[`) {
				t.Errorf("422 body %s is not a validation error", r.body)
			}
			if d, err := ps.queues.Depth(friend.rid); err != nil || d != 2 {
				t.Errorf("depth %d, %v after the refusal; want 2", d, err)
			}
			// A page recorded by the refused poll would be acknowledged
			// here, and this poll would return issue 2 or nothing.
			r = do(t, client, http.MethodPost, srv.URL+"/koi-net/events/poll", seal(t, friend, `{"type":"poll_events","limit":1}`, me.rid))
			if got, want := string(openAnswer(t, r, me, friend)), pydanticEvents(t, issue(t, 1)); got != want {
				t.Errorf("poll after the refusal\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestPollBare: a koi-net 1.0 poller, with an unsigned profile and a uuid
// RID, polls with a bare {"rid","limit"} and gets a bare events_payload
// with the events as queued.
func TestPollBare(t *testing.T) {
	t.Parallel()
	me := newPeer(t, "github-sensor")
	const old = "orn:koi-net.node:old+8f1a0b52-1c1d-4b9e-8a53-0d6c3e0a9b11"
	ps := newPollStore(t, me.rid)
	ps.add(old, newEvent(t, old, []byte(`{"base_url":null,"node_type":"PARTIAL","provides":{"event":[],"state":[]}}`)))
	ps.subscribe(me.rid, old)
	ps.add("", issue(t, 1))
	ps.add("", issue(t, 2))
	for _, self := range []*koiapi.Self{selfFor(t, me), nil} {
		t.Run(fmt.Sprintf("identity=%v", self != nil), func(t *testing.T) {
			srv := startPoll(t, koiapi.Config{Cache: ps.cache, Self: self, Queues: ps.queues})
			client := &http.Client{Timeout: 30 * time.Second}
			r := do(t, client, http.MethodPost, srv.URL+"/koi-net/events/poll", []byte(`{"rid":"`+old+`","limit":1}`))
			want := `{"type":"events_payload","events":[` + string(issue(t, 1)) + `]}`
			if self == nil {
				// The first subtest's page was acknowledged by this poll.
				want = `{"type":"events_payload","events":[` + string(issue(t, 2)) + `]}`
			}
			if r.status != http.StatusOK || string(r.body) != want {
				t.Errorf("status %d, body\n got %s\nwant %s", r.status, r.body, want)
			}
		})
	}
}

// TestPollUndelivered: an answer the poller is no longer there to receive
// is handed back: the next poll returns the same events.
func TestPollUndelivered(t *testing.T) {
	t.Parallel()
	me, friend := newPeer(t, "github-sensor"), newPeer(t, "processor")
	ps := newPollStore(t, me.rid)
	ps.add(friend.rid, newEvent(t, friend.rid, friend.profile))
	ps.subscribe(me.rid, friend.rid)
	ps.add("", issue(t, 1))
	s, err := koiapi.NewServer(koiapi.Config{Cache: ps.cache, Self: selfFor(t, me), Queues: ps.queues, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the poller hung up
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/koi-net/events/poll",
		strings.NewReader(string(seal(t, friend, `{"type":"poll_events","limit":0}`, me.rid))))
	mux.ServeHTTP(httptest.NewRecorder(), req)

	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 30 * time.Second}
	r := do(t, client, http.MethodPost, srv.URL+"/koi-net/events/poll", seal(t, friend, `{"type":"poll_events","limit":0}`, me.rid))
	if got, want := string(openAnswer(t, r, me, friend)), pydanticEvents(t, issue(t, 1)); got != want {
		t.Errorf("poll after an undelivered answer\n got %s\nwant %s", got, want)
	}
}

// TestPollNotMounted: without queues /events/poll is not served.
func TestPollNotMounted(t *testing.T) {
	t.Parallel()
	me := newPeer(t, "github-sensor")
	ps := newPollStore(t, me.rid)
	srv := startPoll(t, koiapi.Config{Cache: ps.cache, Self: selfFor(t, me)})
	r := do(t, &http.Client{Timeout: 30 * time.Second}, http.MethodPost, srv.URL+"/koi-net/events/poll", []byte(`{"rid":"`+me.rid+`","limit":0}`))
	if r.status != http.StatusNotFound {
		t.Errorf("status %d, want 404: %s", r.status, r.body)
	}
}

// FuzzPollEndpoint posts arbitrary bodies to /events/poll: the answer is
// never a server error, always JSON: a signed answer that verifies, a bare
// events_payload whose events are all queued ones, an error_response or a
// validation error. A body encoding/json cannot parse is never a 200.
func FuzzPollEndpoint(f *testing.F) {
	me, friend := newPeer(f, "github-sensor"), newPeer(f, "processor")
	const old = "orn:koi-net.node:old+8f1a0b52-1c1d-4b9e-8a53-0d6c3e0a9b11"
	ps := newPollStore(f, me.rid)
	ps.add(friend.rid, newEvent(f, friend.rid, friend.profile))
	ps.subscribe(me.rid, friend.rid)
	ps.subscribe(me.rid, old)
	var queued []string
	for n := 1; n <= 3; n++ {
		ps.add("", issue(f, n))
		queued = append(queued, string(issue(f, n)))
	}
	srv := startPoll(f, koiapi.Config{Cache: ps.cache, Self: selfFor(f, me), Queues: ps.queues})
	client := &http.Client{Timeout: 30 * time.Second}
	for _, p := range []string{`{"type":"poll_events","limit":0}`, `{"limit":2}`, `{"type":"poll_events","limit":-1}`} {
		f.Add(seal(f, friend, p, me.rid))
	}
	f.Add([]byte(`{"rid":"` + old + `","limit":0}`))
	f.Add([]byte(`{"rid":"` + old + `","limit":1e3}`))
	f.Add([]byte(`{"payload":{"limit":0},"signature":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := do(t, client, http.MethodPost, srv.URL+"/koi-net/events/poll", body)
		if !json.Valid(r.body) {
			t.Fatalf("status %d, body is not JSON: %q", r.status, r.body)
		}
		switch r.status {
		case http.StatusOK:
			if !json.Valid(body) {
				t.Fatalf("answered 200 to a body encoding/json refuses: %q", body)
			}
			if env, err := koi.ParseEnvelope(r.body); err == nil {
				if env.SourceNode != me.rid || env.Verify(me.pub) != nil {
					t.Fatalf("signed answer does not verify: %s", r.body)
				}
				return
			}
			var p struct {
				Type   string            `json:"type"`
				Events []json.RawMessage `json:"events"`
			}
			if err := json.Unmarshal(r.body, &p); err != nil || p.Type != "events_payload" {
				t.Fatalf("answer neither an envelope nor an events_payload: %s", r.body)
			}
			for _, e := range p.Events {
				if !slices.Contains(queued, string(e)) {
					t.Fatalf("answered an event never queued: %s", e)
				}
			}
		case http.StatusBadRequest:
			if _, err := koi.DecodeErrorResponse(r.body); err != nil {
				t.Fatalf("400 body %s: %v", r.body, err)
			}
		case http.StatusUnprocessableEntity:
			if !strings.HasPrefix(string(r.body), `{"detail":[`) {
				t.Fatalf("422 body %s is not a validation error", r.body)
			}
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
}

// TestWirePartialPolls replays the two polls the Go partial node of
// wire_partial.log sent the Python coordinator, against our server
// answering as the coordinator's RID (with our key: the capture's is not
// available). Its queue for the partial node holds what the coordinator's
// held: its own profile, addressed to the partial node as the answer to
// its handshake, then the edge it proposed with the partial node as
// source. Each answer's payload is the capture's, byte for byte, and the
// captured requests, signed by the partial node, are accepted as they are.
func TestWirePartialPolls(t *testing.T) {
	t.Parallel()
	const (
		coordinatorRID = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
		partialRID     = "orn:koi-net.node:gopartial+471f91578b8e8a138ac296cc69669c4c77be9f27e39b2320d2f96ad478a968c6"
	)
	raw, err := os.ReadFile(filepath.Join("testdata", "wire", "wire_partial.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	type exchange struct{ request, reply string }
	var polls []exchange
	for i, l := range lines {
		if strings.HasSuffix(l, "/koi-net/events/poll") && strings.HasPrefix(l, ">>> SEND ") && i+2 < len(lines) {
			reply, ok := strings.CutPrefix(lines[i+2], "<<< 200 ")
			if !ok {
				t.Fatalf("poll answered %.80s", lines[i+2])
			}
			polls = append(polls, exchange{lines[i+1], reply})
		}
	}
	if len(polls) != 2 {
		t.Fatalf("want the capture's 2 polls, got %d", len(polls))
	}
	// The events the coordinator answered, as its queue held them.
	var queued [][]byte
	for _, p := range polls {
		var payload struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(replyPayload(t, p.reply), &payload); err != nil || len(payload.Events) != 1 {
			t.Fatalf("captured poll answer: %v", err)
		}
		queued = append(queued, payload.Events[0])
	}

	me := newPeer(t, "coordinator")
	me.rid = coordinatorRID
	ps := newPollStore(t, coordinatorRID)
	ps.add(partialRID, wireEvent(t, string(raw), partialRID, `"event_type":"NEW"`))
	ps.addTo(queued[0], partialRID) // our profile, the handshake's answer
	ps.add("", queued[1])           // our proposal: to its other end
	srv := startPoll(t, koiapi.Config{Cache: ps.cache, Self: &koiapi.Self{RID: me.rid, Key: me.key, PublicKey: me.pub}, Queues: ps.queues})
	client := &http.Client{Timeout: 30 * time.Second}
	for i, p := range polls {
		r := do(t, client, http.MethodPost, srv.URL+"/koi-net/events/poll", []byte(p.request))
		got := openAnswer(t, r, me, peer{rid: partialRID})
		if want := replyPayload(t, p.reply); !bytes.Equal(got, want) {
			t.Errorf("poll %d: payload\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestPollBareForASigningNode: a bare poll naming a 1.1+ node (whose RID
// names its key) is refused whether or not its profile is cached, and its
// queue is left as it was: otherwise anyone could read and acknowledge a
// signing node's events once its profile was forgotten.
func TestPollBareForASigningNode(t *testing.T) {
	t.Parallel()
	me, friend := newPeer(t, "github-sensor"), newPeer(t, "processor")
	ps := newPollStore(t, me.rid)
	ps.subscribe(me.rid, friend.rid) // subscribed, profile not cached
	ps.add("", issue(t, 1))
	srv := startPoll(t, koiapi.Config{Cache: ps.cache, Self: selfFor(t, me), Queues: ps.queues})
	client := &http.Client{Timeout: 30 * time.Second}
	r := do(t, client, http.MethodPost, srv.URL+"/koi-net/events/poll", []byte(`{"rid":"`+friend.rid+`","limit":0}`))
	if r.status != http.StatusUnprocessableEntity {
		t.Errorf("bare poll for %s: %d %s, want 422", friend.rid, r.status, r.body)
	}
	if d, err := ps.queues.Depth(friend.rid); err != nil || d != 1 {
		t.Errorf("queue depth %d (%v), want 1: untouched", d, err)
	}
}

// blockingWriter is a ResponseWriter whose flush waits for release and
// then fails, as a client that went away while its answer was written.
type blockingWriter struct {
	*httptest.ResponseRecorder
	writing chan struct{} // closed when the answer is being flushed
	release chan struct{}
}

func (b *blockingWriter) FlushError() error {
	close(b.writing)
	<-b.release
	return errors.New("client gone")
}

// TestPollsOfOneNodeAreSerialised: a poll made while the node's previous
// answer is still being written waits for it; when that answer turns out
// undelivered, the waiting poll gets its page, not the page after it.
func TestPollsOfOneNodeAreSerialised(t *testing.T) {
	t.Parallel()
	me := newPeer(t, "github-sensor")
	const old = "orn:koi-net.node:old+8f1a0b52-1c1d-4b9e-8a53-0d6c3e0a9b11"
	ps := newPollStore(t, me.rid)
	ps.add(old, newEvent(t, old, []byte(`{"base_url":null,"node_type":"PARTIAL","provides":{"event":[],"state":[]}}`)))
	ps.subscribe(me.rid, old)
	ps.add("", issue(t, 1))
	ps.add("", issue(t, 2))
	s, err := koiapi.NewServer(koiapi.Config{Cache: ps.cache, Self: selfFor(t, me), Queues: ps.queues, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux, "")
	body := `{"rid":"` + old + `","limit":1}`
	first := &blockingWriter{ResponseRecorder: httptest.NewRecorder(), writing: make(chan struct{}), release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		mux.ServeHTTP(first, httptest.NewRequest(http.MethodPost, "/koi-net/events/poll", strings.NewReader(body)))
	}()
	<-first.writing
	second := make(chan string, 1)
	go func() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/koi-net/events/poll", strings.NewReader(body)))
		second <- rec.Body.String()
	}()
	select {
	case got := <-second:
		t.Fatalf("second poll answered %s while the first answer was still being written", got)
	case <-time.After(200 * time.Millisecond):
	}
	close(first.release) // the first answer is found undelivered
	<-done
	want := `{"type":"events_payload","events":[` + string(issue(t, 1)) + `]}`
	if got := <-second; got != want {
		t.Errorf("second poll\n got %s\nwant %s (the undelivered page)", got, want)
	}
}
