package koiapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/topics/topicstest"
)

// budgeted is a KOI-net API with the broadcast intake on a real broker,
// served over loopback, with the *Server at hand to read its budget.
type budgeted struct {
	s      *koiapi.Server
	url    string // base URL of the server
	addr   string // host:port of the server
	broker string
	topic  string
	me     peer
	friend peer // a cached node whose signed broadcasts are taken
}

// startBudgeted starts a server as cfg says (Cache, Self, Publisher,
// RawTopic and Logger are set here) whose broadcasts go to a fresh raw
// topic of the broker at addr.
func startBudgeted(tb testing.TB, addr string, cfg koiapi.Config) *budgeted {
	tb.Helper()
	b := &budgeted{broker: addr, me: newPeer(tb, "github-sensor"), friend: newPeer(tb, "processor")}
	b.topic = fmt.Sprintf("test.raw.%d", topicSeq.Add(1))
	topicstest.CreateTopic(tb, addr, b.topic, 1)
	c := newTestCache(tb)
	c.add(newEvent(tb, b.friend.rid, b.friend.profile))
	cfg.Cache, cfg.Self, cfg.Publisher, cfg.RawTopic = c.cache, selfFor(tb, b.me), mustPublisher(tb, addr), b.topic
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := koiapi.NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	b.s = s
	mux := http.NewServeMux()
	s.Register(mux, "")
	srv := httptest.NewUnstartedServer(mux)
	// A panicking hook is one of the cases: net/http's report of it is
	// expected.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	tb.Cleanup(srv.Close)
	b.url, b.addr = srv.URL, srv.Listener.Addr().String()
	return b
}

// broadcast returns a signed broadcast from b.friend to b.me of exactly
// size bytes: one NEW event whose contents are padded to fit.
func (b *budgeted) broadcast(tb testing.TB, size int) []byte {
	tb.Helper()
	body := func(pad int) []byte {
		ev := newEvent(tb, "orn:github.issue:octo/hello:1", []byte(`{"title":"`+strings.Repeat("x", pad)+`"}`))
		return seal(tb, b.friend, `{"type":"events_payload","events":[`+string(ev)+`]}`, b.me.rid)
	}
	pad := size - len(body(0))
	if pad < 0 {
		tb.Fatalf("a broadcast is at least %d bytes, not %d", len(body(0)), size)
	}
	out := body(pad)
	if len(out) != size {
		tb.Fatalf("padded broadcast is %d bytes, want %d", len(out), size)
	}
	return out
}

// held waits until the budget holds want bytes, failing if it does not.
func (b *budgeted) held(tb testing.TB, want int64, what string) {
	tb.Helper()
	topicstest.WaitFor(tb, 30*time.Second, fmt.Sprintf("%s: the budget holds %d bytes", what, want), func() bool {
		return koiapi.BudgetHeld(b.s) == want
	})
}

// records returns how many records the raw topic holds.
func (b *budgeted) records(tb testing.TB) int {
	tb.Helper()
	return len(topicstest.ReadAll(tb, b.broker, b.topic))
}

// head is the head of a POST to path with a Content-Length, or chunked when
// contentLength is negative.
func head(path string, contentLength int) string {
	var h strings.Builder
	fmt.Fprintf(&h, "POST /koi-net%s HTTP/1.1\r\nHost: koistream\r\nContent-Type: application/json\r\n", path)
	if contentLength >= 0 {
		fmt.Fprintf(&h, "Content-Length: %d\r\n\r\n", contentLength)
	} else {
		h.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	}
	return h.String()
}

// chunk is body as one chunk and the last chunk.
func chunk(body []byte) []byte {
	return fmt.Appendf(nil, "%x\r\n%s\r\n0\r\n\r\n", len(body), body)
}

// exchange sends raw on a new connection to addr and reads the answer
// within 10 s. The connection stays open meanwhile: an answer that comes
// proves the server did not wait for more than raw holds.
func exchange(tb testing.TB, addr string, raw []byte) response {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(raw); err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		tb.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("reading the answer: %v", err)
	}
	if resp.Close {
		// ReadResponse takes "Connection: close" out of the header.
		resp.Header.Set("Connection", "close")
	}
	return response{resp.StatusCode, resp.Header, b}
}

// stall opens a connection that sends head and part of a body, and then
// nothing, until the test ends or the returned func closes it.
func stall(tb testing.TB, addr, head string, part []byte) (closeIt func()) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	if _, err := c.Write(append([]byte(head), part...)); err != nil {
		tb.Fatal(err)
	}
	return func() { _ = c.Close() }
}

// checkOverBudget checks a 503 over_budget answer.
func checkOverBudget(tb testing.TB, r response, budget int64) {
	tb.Helper()
	if r.status != http.StatusServiceUnavailable {
		tb.Fatalf("status %d, want 503: %s", r.status, r.body)
	}
	if ra := r.header.Get("Retry-After"); ra != "1" {
		tb.Errorf("Retry-After %q, want 1", ra)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct{ Error, Detail string }
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error != "over_budget" ||
		!strings.Contains(e.Detail, fmt.Sprintf("holds KOI-net request bodies close to its budget of %d bytes; send the request again", budget)) {
		tb.Errorf("503 body %s: want {\"error\":\"over_budget\",\"detail\":…} naming the budget (%v)", r.body, err)
	}
}

// TestBodyBudgetConcurrentBodies: broadcasts in flight share the body
// budget with every other request. While two stalled broadcasts hold most
// of it, a broadcast or fetch whose declared body, or a chunked body's
// growth, does not fit beside them is answered 503 over_budget with
// Retry-After at once, before its body is sent, and appends nothing; a
// smaller broadcast and a small fetch still pass. Once the stalled uploads
// go away the refused broadcast is taken.
func TestBodyBudgetConcurrentBodies(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const maxBody, budget = 64 << 10, 128 << 10
	b := startBudgeted(t, addr, koiapi.Config{MaxBroadcastBody: maxBody, MaxRequestBody: 16 << 10, BodyBudget: budget})
	const stalled = 60 << 10 // each; two hold 120 KiB of the 128
	var closers []func()
	for range 2 {
		big := b.broadcast(t, stalled)
		closers = append(closers, stall(t, b.addr, head("/events/broadcast", len(big)), big[:100]))
	}
	// Nothing is sent until both hold their bytes: a request sent before
	// could take the budget first and be taken.
	b.held(t, 2*stalled, "two stalled broadcasts")

	refused := b.broadcast(t, 10<<10)
	small := b.broadcast(t, 2<<10)
	fetch := []byte(`{"type":"fetch_rids","rid_types":[` + strings.Repeat(`"orn:github.issue",`, 600) + `"orn:github.issue"]}`)
	for _, tc := range []struct {
		name   string
		raw    []byte
		status int
	}{
		// The head alone: the answer must come without the body.
		{"declared broadcast that does not fit", []byte(head("/events/broadcast", len(refused))), 503},
		{"chunked broadcast that does not fit", append([]byte(head("/events/broadcast", -1)), chunk(refused)...), 503},
		{"declared fetch that does not fit", []byte(head("/rids/fetch", len(fetch))), 503},
		{"smaller broadcast", append([]byte(head("/events/broadcast", len(small))), small...), 200},
		{"small fetch", append([]byte(head("/rids/fetch", 38)), `{"type":"fetch_rids","rid_types":[]}  `...), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, b.addr, tc.raw)
			if tc.status == 503 {
				checkOverBudget(t, r, budget)
				return
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
	if n := b.records(t); n != 1 {
		t.Fatalf("raw topic holds %d records, want the smaller broadcast's 1", n)
	}
	b.held(t, 2*stalled, "after the refusals and the passes")
	for _, c := range closers {
		c()
	}
	b.held(t, 0, "stalled uploads gone")
	if r := exchange(t, b.addr, append([]byte(head("/events/broadcast", len(refused))), refused...)); r.status != http.StatusOK {
		t.Fatalf("once the budget is free: %d %s, want 200", r.status, r.body)
	}
}

// TestBodyBudgetGivenBack: whatever becomes of a request, taken, refused
// for its envelope or its payload, over the largest size, over the budget,
// cut off by a client that goes away mid-body (declared or chunked), or
// ended by a panicking OnBroadcast hook, its bytes are given back to the
// budget; the budget is exactly one largest body, so a single leaked byte
// would refuse the next one.
func TestBodyBudgetGivenBack(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const maxBody = 64 << 10
	panicking := make(chan bool, 1)
	b := startBudgeted(t, addr, koiapi.Config{
		MaxBroadcastBody: maxBody, MaxRequestBody: maxBody, BodyBudget: maxBody,
		OnBroadcast: func(string, bool, []string) {
			select {
			case <-panicking:
				panic("hook failed")
			default:
			}
		},
	})
	full := b.broadcast(t, maxBody)
	stranger := newPeer(t, "stranger")
	unknown := seal(t, stranger, `{"type":"events_payload","events":[]}`, b.me.rid)
	malformed := seal(t, b.friend, `{"type":"events_payload","events":[{"rid":"nocolon","event_type":"FORGET"}]}`, b.me.rid)
	for _, tc := range []struct {
		name   string
		send   func(t *testing.T)
		status int // of the answer, 0 for none
	}{
		{"taken", nil, 200},
		{"unknown sender", nil, 400},
		{"malformed payload", nil, 422},
		{"over the largest size, chunked", nil, 413},
		{"client gone mid-body, declared", func(t *testing.T) {
			closeIt := stall(t, b.addr, head("/events/broadcast", len(full)), full[:len(full)/2])
			b.held(t, maxBody, "half a body sent")
			closeIt()
		}, 0},
		{"client gone mid-body, chunked", func(t *testing.T) {
			closeIt := stall(t, b.addr, head("/events/broadcast", -1), fmt.Appendf(nil, "%x\r\n%s", len(full), full[:len(full)/2]))
			b.held(t, maxBody, "half a chunk sent")
			closeIt()
		}, 0},
		{"hook panics", func(t *testing.T) { panicking <- true }, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.send != nil {
				tc.send(t)
			}
			if tc.status != 0 {
				var raw []byte
				switch tc.status {
				case 200:
					raw = append([]byte(head("/events/broadcast", len(full))), full...)
				case 400:
					raw = append([]byte(head("/events/broadcast", len(unknown))), unknown...)
				case 422:
					raw = append([]byte(head("/events/broadcast", len(malformed))), malformed...)
				case 413:
					raw = append([]byte(head("/events/broadcast", -1)), chunk(append(full, ' '))...)
				}
				if r := exchange(t, b.addr, raw); r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
			}
			b.held(t, 0, tc.name)
			// The body's bytes are given back once the log has it, before
			// the hook runs after the answer: wait for the hook.
			for deadline := time.Now().Add(5 * time.Second); len(panicking) != 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if len(panicking) != 0 {
				t.Fatal("the hook was not called")
			}
			// The whole budget is free: the largest body is taken.
			if r := exchange(t, b.addr, append([]byte(head("/events/broadcast", len(full))), full...)); r.status != http.StatusOK {
				t.Fatalf("a body of the whole budget after %s: %d %s, want 200", tc.name, r.status, r.body)
			}
			b.held(t, 0, "after the largest body")
		})
	}
}

// TestBodyTooLarge: a body over the endpoint's largest size, which is also
// more than the whole budget (a budget is at least the largest size), is
// refused with 413 and the detail it always had, not 503; a declared one
// before any of it is read (the head alone gets the answer), a chunked one
// at the first byte too many. A client still sending a large body when the
// refusal comes reads it rather than a reset connection.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const maxBody = 64 << 10
	const fetchMax = 16 << 10
	b := startBudgeted(t, addr, koiapi.Config{MaxBroadcastBody: maxBody, MaxRequestBody: fetchMax, BodyBudget: maxBody})
	over := b.broadcast(t, maxBody+1)
	broadcastDetail := fmt.Sprintf(`{"detail":"request body larger than %d bytes"}`, maxBody)
	fetchDetail := fmt.Sprintf(`{"detail":"request body larger than %d bytes"}`, fetchMax)
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"declared broadcast, head alone", []byte(head("/events/broadcast", len(over))), broadcastDetail},
		{"chunked broadcast", append([]byte(head("/events/broadcast", -1)), chunk(over)...), broadcastDetail},
		{"declared fetch, head alone", []byte(head("/bundles/fetch", fetchMax+1)), fetchDetail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, b.addr, tc.raw)
			if r.status != http.StatusRequestEntityTooLarge || string(r.body) != tc.want {
				t.Fatalf("answer %d %s, want 413 %s", r.status, r.body, tc.want)
			}
			if c := r.header.Get("Connection"); c != "close" {
				t.Errorf("Connection %q, want close", c)
			}
		})
	}
	t.Run("Go client sending 16 MiB", func(t *testing.T) {
		big := bytes.Repeat([]byte(" "), 16<<20)
		resp, err := http.Post(b.url+"/koi-net/events/broadcast", "application/json", bytes.NewReader(big))
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || string(body) != broadcastDetail {
			t.Fatalf("answer %d %s, want 413 %s", resp.StatusCode, body, broadcastDetail)
		}
	})
	if n := b.records(t); n != 0 {
		t.Fatalf("raw topic holds %d records, want 0", n)
	}
	b.held(t, 0, "after the refusals")
}

// TestBodyBudgetConfig: the budget defaults to DefaultBodyBudget and must
// hold the largest body an endpoint takes.
func TestBodyBudgetConfig(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	me := newPeer(t, "github-sensor")
	pub := mustPublisher(t, addr)
	for _, tc := range []struct {
		name    string
		cfg     koiapi.Config
		wantErr string
	}{
		{"default", koiapi.Config{}, ""},
		{"the largest body exactly", koiapi.Config{Publisher: pub, MaxBroadcastBody: 1 << 20, BodyBudget: 8 << 20}, ""},
		{"small bodies, small budget", koiapi.Config{Publisher: pub, MaxBroadcastBody: 1 << 20, MaxRequestBody: 1 << 10, BodyBudget: 1 << 20}, ""},
		{"smaller than the largest broadcast", koiapi.Config{Publisher: pub, BodyBudget: 16 << 20}, "body budget 16777216 is smaller than the largest request body 32505856"},
		{"smaller than the largest fetch", koiapi.Config{BodyBudget: 1 << 20}, "body budget 1048576 is smaller than the largest request body 8388608"},
		{"fetch bodies over the budget, no intake", koiapi.Config{MaxRequestBody: 2 << 20, BodyBudget: 1 << 20}, "body budget 1048576 is smaller than the largest request body 2097152"},
		{"negative", koiapi.Config{BodyBudget: -1}, "body budget must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Cache, cfg.Self, cfg.RawTopic = newTestCache(t).cache, selfFor(t, me), "raw"
			err := cfg.Validate()
			if _, nerr := koiapi.NewServer(cfg); (nerr == nil) != (err == nil) {
				t.Errorf("Validate says %v, NewServer %v", err, nerr)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate: %v, want an error saying %q", err, tc.wantErr)
			}
		})
	}
}
