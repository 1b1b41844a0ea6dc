package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/koistream/koistream/pipeline/webhook"
	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/topicstest"
)

const (
	testSecret  = "s3cret"
	testMaxBody = 4096
	hookshotUA  = "GitHub-Hookshot/044aadd"
)

// receivedAt is the handler's clock in these tests: not UTC, so the test
// sees the handler convert it.
var receivedAt = time.Date(2025, 1, 2, 4, 4, 5, 123456789, time.FixedZone("CET", 3600))

const wantReceivedAt = "2025-01-02T03:04:05.123456789Z"

var quietLogger = slog.New(slog.DiscardHandler)

func newPublisher(tb testing.TB, addr string, opts ...kgo.Opt) *topics.Publisher {
	tb.Helper()
	pub, err := topics.NewPublisher(topics.PublisherConfig{
		Brokers:      []string{addr},
		Propagator:   propagation.TraceContext{},
		KgoOpts:      opts,
		CloseTimeout: 5 * time.Second,
	}, nil)
	if err != nil {
		tb.Fatalf("new publisher: %v", err)
	}
	tb.Cleanup(func() { _ = pub.Close() })
	return pub
}

var topicSeq atomic.Int64

// newTopic creates a fresh raw topic with three partitions, so every test
// reads only its own records and an empty topic has known end offsets.
func newTopic(tb testing.TB, addr string) string {
	tb.Helper()
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '-'
	}, tb.Name())
	if len(name) > 150 {
		name = name[:150]
	}
	topic := fmt.Sprintf("raw-%s-%d", name, topicSeq.Add(1))
	topicstest.CreateTopic(tb, addr, topic, 3)
	return topic
}

// baseConfig is the handler configuration of these tests: one secret, a
// small body cap, a fixed clock and a no-op tracer.
func baseConfig(topic string, pub *topics.Publisher) webhook.Config {
	return webhook.Config{
		Secrets:   [][]byte{[]byte(testSecret)},
		Topic:     topic,
		Publisher: pub,
		Tracer:    noop.NewTracerProvider().Tracer("test"),
		Logger:    quietLogger,
		MaxBody:   testMaxBody,
		Now:       func() time.Time { return receivedAt },
	}
}

func serve(tb testing.TB, cfg webhook.Config) *httptest.Server {
	tb.Helper()
	h, err := webhook.New(cfg)
	if err != nil {
		tb.Fatalf("webhook.New: %v", err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// githubHeaders returns the headers GitHub sends with a delivery of body,
// signed with secret.
func githubHeaders(event, delivery, contentType, secret string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("User-Agent", hookshotUA)
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", delivery)
	h.Set("X-GitHub-Hook-ID", "123")
	h.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	h.Set("X-GitHub-Hook-Installation-Target-ID", "1296269")
	h.Set("X-Hub-Signature-256", webhook.Sign([]byte(secret), body))
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func send(tb testing.TB, client *http.Client, method, u string, header http.Header, body []byte) response {
	tb.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "") // no Go-http-client default
	}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read response: %v", err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

var testClient = &http.Client{Timeout: 60 * time.Second}

// errorBody decodes an httpjson error body strictly: exactly the two fields and a
// trailing newline.
func errorBody(tb testing.TB, r response) (code, detail string) {
	tb.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type = %q, want application/json", ct)
	}
	if !bytes.HasSuffix(r.body, []byte("}\n")) {
		tb.Errorf("body %q does not end with a newline after the object", r.body)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	var e struct {
		Error  *string `json:"error"`
		Detail *string `json:"detail"`
	}
	if err := dec.Decode(&e); err != nil {
		tb.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Error == nil || e.Detail == nil {
		tb.Fatalf("error body %q lacks error or detail", r.body)
	}
	if *e.Detail == "" {
		tb.Errorf("error body %q has an empty detail", r.body)
	}
	return *e.Error, *e.Detail
}

// consume reads want records from topic (from the start), failing the test
// if fewer arrive within the timeout, then checks that the topic holds no
// more than that.
func consume(tb testing.TB, addr, topic string, want int) []*kgo.Record {
	tb.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("read %d of %d records from %s before the timeout", len(recs), want, topic)
		}
		fs.EachError(func(t string, p int32, err error) {
			tb.Fatalf("fetch %s/%d: %v", t, p, err)
		})
		recs = append(recs, fs.Records()...)
	}
	if n := endOffsetSum(tb, addr, topic); n != int64(want) {
		tb.Fatalf("topic %s holds %d records, want %d", topic, n, want)
	}
	return recs
}

// endOffsetSum returns the number of records ever written to topic: the sum
// of its partitions' end offsets.
func endOffsetSum(tb testing.TB, addr, topic string) int64 {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		tb.Fatalf("list end offsets of %s: %v", topic, err)
	}
	if err := ends.Error(); err != nil {
		tb.Fatalf("list end offsets of %s: %v", topic, err)
	}
	var sum int64
	partitions := 0
	ends.Each(func(o kadm.ListedOffset) {
		sum += o.Offset
		partitions++
	})
	if partitions != 3 {
		tb.Fatalf("topic %s has %d partitions, want 3", topic, partitions)
	}
	return sum
}

func headerMap(tb testing.TB, rec *kgo.Record) map[string]string {
	tb.Helper()
	m := map[string]string{}
	for _, h := range rec.Headers {
		if _, dup := m[h.Key]; dup {
			tb.Errorf("record header %q appears twice", h.Key)
		}
		m[h.Key] = string(h.Value)
	}
	return m
}

func TestHandlerAccepts(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)

	push := readTestdata(t, "push.json")
	ping := readTestdata(t, "ping.json")
	form := []byte("payload=" + url.QueryEscape(string(ping)))
	// A JSON object of exactly MaxBody bytes.
	atLimit := []byte(`{"pad":"` + strings.Repeat("x", testMaxBody-len(`{"pad":""}`)) + `"}`)

	tests := []struct {
		name        string
		event       string
		delivery    string
		contentType string
		body        []byte
		secrets     []string // handler secrets; default testSecret
		signWith    string   // default testSecret
		header      func(http.Header)
		// wantHeaders are the record headers beyond those every
		// delivery gets (event, delivery, source, received-at,
		// content type, signature).
		wantHeaders map[string]string
	}{
		{
			name: "json push", event: "push", delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
			contentType: "application/json", body: push,
			wantHeaders: map[string]string{
				"user-agent":                             hookshotUA,
				"X-GitHub-Hook-ID":                       "123",
				"X-GitHub-Hook-Installation-Target-Type": "repository",
				"X-GitHub-Hook-Installation-Target-ID":   "1296269",
			},
		},
		{
			name: "form-encoded ping", event: "ping", delivery: "d8e9a3b0-0c8f-11f0-8a7e-1f2e3d4c5b6a",
			contentType: "application/x-www-form-urlencoded", body: form,
			wantHeaders: map[string]string{
				"user-agent":                             hookshotUA,
				"X-GitHub-Hook-ID":                       "123",
				"X-GitHub-Hook-Installation-Target-Type": "repository",
				"X-GitHub-Hook-Installation-Target-ID":   "1296269",
			},
		},
		{
			name: "json with charset, only required headers", event: "ping", delivery: "0b5c6e1a-0000-4000-8000-000000000001",
			contentType: "application/json; charset=utf-8", body: ping,
			header: func(h http.Header) {
				for _, k := range []string{"User-Agent", "X-GitHub-Hook-ID", "X-GitHub-Hook-Installation-Target-Type", "X-GitHub-Hook-Installation-Target-ID"} {
					h.Del(k)
				}
			},
		},
		{
			name: "legacy sha1 signature header is ignored", event: "ping", delivery: "0b5c6e1a-0000-4000-8000-000000000002",
			contentType: "application/json", body: ping,
			header: func(h http.Header) {
				h.Set("X-Hub-Signature", "sha1=0000000000000000000000000000000000000000")
				h.Del("User-Agent")
			},
			wantHeaders: map[string]string{
				"X-GitHub-Hook-ID":                       "123",
				"X-GitHub-Hook-Installation-Target-Type": "repository",
				"X-GitHub-Hook-Installation-Target-ID":   "1296269",
			},
		},
		{
			name: "signed with the old secret during rotation", event: "ping", delivery: "0b5c6e1a-0000-4000-8000-000000000003",
			contentType: "application/json", body: ping,
			secrets: []string{"new-secret", "old-secret"}, signWith: "old-secret",
			header: func(h http.Header) { h.Del("User-Agent") },
			wantHeaders: map[string]string{
				"X-GitHub-Hook-ID":                       "123",
				"X-GitHub-Hook-Installation-Target-Type": "repository",
				"X-GitHub-Hook-Installation-Target-ID":   "1296269",
			},
		},
		{
			name: "body of exactly MaxBody bytes", event: "issues", delivery: "0b5c6e1a-0000-4000-8000-000000000004",
			contentType: "application/json", body: atLimit,
			header: func(h http.Header) { h.Del("User-Agent") },
			wantHeaders: map[string]string{
				"X-GitHub-Hook-ID":                       "123",
				"X-GitHub-Hook-Installation-Target-Type": "repository",
				"X-GitHub-Hook-Installation-Target-ID":   "1296269",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topic := newTopic(t, addr)
			cfg := baseConfig(topic, pub)
			if tc.secrets != nil {
				cfg.Secrets = nil
				for _, s := range tc.secrets {
					cfg.Secrets = append(cfg.Secrets, []byte(s))
				}
			}
			srv := serve(t, cfg)
			signWith := tc.signWith
			if signWith == "" {
				signWith = testSecret
			}
			h := githubHeaders(tc.event, tc.delivery, tc.contentType, signWith, tc.body)
			if tc.header != nil {
				tc.header(h)
			}
			sent := bytes.Clone(tc.body)

			r := send(t, testClient, http.MethodPost, srv.URL+"/github/webhook", h, tc.body)
			if r.status != http.StatusAccepted {
				t.Fatalf("status = %d, want 202; body %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			wantBody := fmt.Sprintf(`{"status":"accepted","delivery":%q,"event":%q}`+"\n", tc.delivery, tc.event)
			if string(r.body) != wantBody {
				t.Errorf("body = %q, want %q", r.body, wantBody)
			}

			// The 202 came after the append: the record is already there.
			recs := consume(t, addr, topic, 1)
			rec := recs[0]
			if string(rec.Key) != tc.delivery {
				t.Errorf("record key = %q, want the delivery GUID %q", rec.Key, tc.delivery)
			}
			if !bytes.Equal(rec.Value, sent) {
				t.Errorf("record value differs from the body sent:\n got %q\nwant %q", rec.Value, sent)
			}
			got := headerMap(t, rec)
			if got[topics.UUIDHeader] == "" {
				t.Errorf("record has no %s header", topics.UUIDHeader)
			}
			delete(got, topics.UUIDHeader)
			// The no-op tracer starts no recording span, so whether a
			// trace context is written is not asserted here (see
			// TestHandlerTraceContext).
			delete(got, "traceparent")
			delete(got, "tracestate")
			if rt, err := time.Parse(time.RFC3339Nano, got[raw.HeaderReceivedAt]); err != nil || !rt.Equal(receivedAt) {
				t.Errorf("%s = %q (%v), want %s as RFC 3339 with nanoseconds", raw.HeaderReceivedAt, got[raw.HeaderReceivedAt], err, receivedAt)
			}
			// The header names as the log has always spelled them, so
			// records stay readable across builds; the constants must
			// not drift from them.
			want := map[string]string{
				"X-GitHub-Event":        tc.event,
				"X-GitHub-Delivery":     tc.delivery,
				"X-Hub-Signature-256":   webhook.Sign([]byte(signWith), sent),
				"content-type":          tc.contentType,
				"koistream-source":      "github-webhook",
				"koistream-received-at": wantReceivedAt,
			}
			maps.Copy(want, tc.wantHeaders)
			if !maps.Equal(got, want) {
				t.Errorf("record headers:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestHandlerTraceContext checks that with a recording tracer the delivery's
// span context travels on the record as a W3C traceparent header.
func TestHandlerTraceContext(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	topic := newTopic(t, addr)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	cfg := baseConfig(topic, pub)
	cfg.Tracer = tp.Tracer("test")
	srv := serve(t, cfg)

	body := readTestdata(t, "ping.json")
	r := send(t, testClient, http.MethodPost, srv.URL, githubHeaders("ping", "trace-1", "application/json", testSecret, body), body)
	if r.status != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", r.status, r.body)
	}
	started := spans.Started()
	if len(started) != 1 {
		t.Fatalf("%d spans started, want 1", len(started))
	}
	sc := started[0].SpanContext()
	if started[0].SpanKind() != trace.SpanKindServer {
		t.Errorf("span kind = %v, want server", started[0].SpanKind())
	}
	rec := consume(t, addr, topic, 1)[0]
	want := fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID())
	if got := headerMap(t, rec)["traceparent"]; got != want {
		t.Errorf("traceparent = %q, want %q", got, want)
	}
}

// TestHandlerConcurrentRedeliveries posts deliveries concurrently, each
// GUID several times as GitHub's redelivery does: every post is stored (the
// raw log keeps redeliveries; consumers dedupe on the GUID), and the records
// of one GUID share a partition because the GUID is the key.
func TestHandlerConcurrentRedeliveries(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	topic := newTopic(t, addr)
	srv := serve(t, baseConfig(topic, pub))
	const guids, copies = 5, 3
	var wg sync.WaitGroup
	errs := make(chan error, guids*copies)
	for g := range guids {
		for c := range copies {
			wg.Go(func() {
				delivery := fmt.Sprintf("guid-%d", g)
				body := fmt.Appendf(nil, `{"n":%d,"copy":%d}`, g, c)
				req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				req.Header = githubHeaders("issues", delivery, "application/json", testSecret, body)
				resp, err := testClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					errs <- fmt.Errorf("%s copy %d: status %d", delivery, c, resp.StatusCode)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	recs := consume(t, addr, topic, guids*copies)
	partitionOf := map[string]int32{}
	bodies := map[string]bool{}
	for _, rec := range recs {
		k := string(rec.Key)
		if p, ok := partitionOf[k]; ok && p != rec.Partition {
			t.Errorf("key %s is on partitions %d and %d", k, p, rec.Partition)
		}
		partitionOf[k] = rec.Partition
		bodies[string(rec.Value)] = true
	}
	if len(partitionOf) != guids || len(bodies) != guids*copies {
		t.Errorf("read %d keys and %d distinct bodies, want %d and %d", len(partitionOf), len(bodies), guids, guids*copies)
	}
}

func TestHandlerRefuses(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	ping := readTestdata(t, "ping.json")
	tooBig := []byte(`{"pad":"` + strings.Repeat("x", testMaxBody+1-len(`{"pad":""}`)) + `"}`)

	// ok returns the headers of a valid delivery of body, changed by edit.
	ok := func(body []byte, edit func(http.Header)) http.Header {
		h := githubHeaders("ping", "refused-delivery", "application/json", testSecret, body)
		if edit != nil {
			edit(h)
		}
		return h
	}
	withContentType := func(ct string) func(http.Header) {
		return func(h http.Header) { h.Set("Content-Type", ct) }
	}
	tests := []struct {
		name       string
		method     string
		body       []byte
		header     http.Header
		noSecrets  bool
		wantStatus int
		wantCode   string
	}{
		{"GET", http.MethodGet, nil, ok(nil, nil), false, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"PUT", http.MethodPut, ping, ok(ping, nil), false, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"body one byte over MaxBody", http.MethodPost, tooBig, ok(tooBig, nil), false, http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"size is checked before the signature", http.MethodPost, tooBig, ok(tooBig, func(h http.Header) { h.Del("X-Hub-Signature-256") }), false, http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"no secrets configured", http.MethodPost, ping, ok(ping, nil), true, http.StatusUnauthorized, "no_secret_configured"},
		{"missing signature", http.MethodPost, ping, ok(ping, func(h http.Header) { h.Del("X-Hub-Signature-256") }), false, http.StatusUnauthorized, "missing_signature"},
		{"only the legacy sha1 signature", http.MethodPost, ping, ok(ping, func(h http.Header) {
			h.Del("X-Hub-Signature-256")
			h.Set("X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567")
		}), false, http.StatusUnauthorized, "missing_signature"},
		{"signed with another secret", http.MethodPost, ping, ok(ping, func(h http.Header) {
			h.Set("X-Hub-Signature-256", webhook.Sign([]byte("not the secret"), ping))
		}), false, http.StatusUnauthorized, "invalid_signature"},
		{"signature of another body", http.MethodPost, ping, ok(ping, func(h http.Header) {
			h.Set("X-Hub-Signature-256", webhook.Sign([]byte(testSecret), append(bytes.Clone(ping), ' ')))
		}), false, http.StatusUnauthorized, "invalid_signature"},
		{"sha1= prefix", http.MethodPost, ping, ok(ping, func(h http.Header) {
			h.Set("X-Hub-Signature-256", "sha1="+strings.TrimPrefix(webhook.Sign([]byte(testSecret), ping), "sha256="))
		}), false, http.StatusUnauthorized, "malformed_signature"},
		{"signature is checked before the headers", http.MethodPost, ping, ok(ping, func(h http.Header) {
			h.Del("X-Hub-Signature-256")
			h.Del("X-GitHub-Event")
		}), false, http.StatusUnauthorized, "missing_signature"},
		{"missing X-GitHub-Event", http.MethodPost, ping, ok(ping, func(h http.Header) { h.Del("X-GitHub-Event") }), false, http.StatusBadRequest, "missing_header"},
		{"missing X-GitHub-Delivery", http.MethodPost, ping, ok(ping, func(h http.Header) { h.Del("X-GitHub-Delivery") }), false, http.StatusBadRequest, "missing_header"},
		{"X-GitHub-Event not an event name", http.MethodPost, ping, ok(ping, func(h http.Header) { h.Set("X-GitHub-Event", "Ping!") }), false, http.StatusBadRequest, "invalid_header"},
		{"X-GitHub-Delivery with a colon", http.MethodPost, ping, ok(ping, func(h http.Header) { h.Set("X-GitHub-Delivery", "a:b") }), false, http.StatusBadRequest, "invalid_header"},
		{"event is checked before the content type", http.MethodPost, ping, ok(ping, func(h http.Header) {
			h.Set("X-GitHub-Event", "ping-ping")
			h.Set("Content-Type", "text/plain")
		}), false, http.StatusBadRequest, "invalid_header"},
		{"headers are checked before the content type", http.MethodPost, ping, ok(ping, func(h http.Header) {
			h.Del("X-GitHub-Delivery")
			h.Set("Content-Type", "text/plain")
		}), false, http.StatusBadRequest, "missing_header"},
		{"text/plain", http.MethodPost, ping, ok(ping, withContentType("text/plain")), false, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"no content type", http.MethodPost, ping, ok(ping, func(h http.Header) { h.Del("Content-Type") }), false, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"content type is checked before the body", http.MethodPost, []byte("not json"), ok([]byte("not json"), withContentType("text/plain")), false, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"body not JSON", http.MethodPost, []byte("not json"), ok([]byte("not json"), nil), false, http.StatusBadRequest, "invalid_payload"},
		{"body is a JSON array", http.MethodPost, []byte(`[{"zen":"x"}]`), ok([]byte(`[{"zen":"x"}]`), nil), false, http.StatusBadRequest, "invalid_payload"},
		{"truncated JSON", http.MethodPost, ping[:len(ping)/2], ok(ping[:len(ping)/2], nil), false, http.StatusBadRequest, "invalid_payload"},
		{"empty body", http.MethodPost, []byte{}, ok([]byte{}, nil), false, http.StatusBadRequest, "invalid_payload"},
		{"form without payload field", http.MethodPost, []byte("zen=x"), ok([]byte("zen=x"), withContentType("application/x-www-form-urlencoded")), false, http.StatusBadRequest, "invalid_payload"},
		{"form payload not JSON", http.MethodPost, []byte("payload=nope"), ok([]byte("payload=nope"), withContentType("application/x-www-form-urlencoded")), false, http.StatusBadRequest, "invalid_payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topic := newTopic(t, addr)
			cfg := baseConfig(topic, pub)
			if tc.noSecrets {
				cfg.Secrets = nil
			}
			srv := serve(t, cfg)
			r := send(t, testClient, tc.method, srv.URL+"/github/webhook", tc.header, tc.body)
			if r.status != tc.wantStatus {
				t.Errorf("status = %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			if code, _ := errorBody(t, r); code != tc.wantCode {
				t.Errorf("error = %q, want %q", code, tc.wantCode)
			}
			if tc.wantStatus == http.StatusMethodNotAllowed {
				if allow := r.header.Get("Allow"); allow != http.MethodPost {
					t.Errorf("Allow = %q, want POST", allow)
				}
			}
			if n := endOffsetSum(t, addr, topic); n != 0 {
				t.Errorf("raw topic holds %d records after a refused delivery, want 0", n)
			}
		})
	}
}

// TestHandlerInvalidHeaderDetail: a refused event name or delivery id is
// answered with a detail that names the header and says what is wrong.
func TestHandlerInvalidHeaderDetail(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	ping := readTestdata(t, "ping.json")
	tests := []struct {
		event, delivery, wantDetail string
	}{
		{"Push", "d-1", `X-GitHub-Event "Push" has "P" at byte 0: GitHub's event names are lowercase letters and underscores`},
		{"pull-request", "d-2", `X-GitHub-Event "pull-request" has "-" at byte 4`},
		{"push", "a/b", `X-GitHub-Delivery "a/b" is not printable ASCII without ' ', ':' or '/'`},
	}
	for _, tc := range tests {
		t.Run(tc.event+" "+tc.delivery, func(t *testing.T) {
			t.Parallel()
			topic := newTopic(t, addr)
			srv := serve(t, baseConfig(topic, pub))
			r := send(t, testClient, http.MethodPost, srv.URL, githubHeaders(tc.event, tc.delivery, "application/json", testSecret, ping), ping)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", r.status, r.body)
			}
			code, detail := errorBody(t, r)
			if code != "invalid_header" || !strings.Contains(detail, tc.wantDetail) {
				t.Errorf("error %q detail %q, want invalid_header saying %q", code, detail, tc.wantDetail)
			}
		})
	}
}

// TestHandlerLogUnavailable checks that a delivery the log does not take is
// answered 503, so GitHub records a failure that can be redelivered.
func TestHandlerLogUnavailable(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "ping.json")

	t.Run("publisher closed", func(t *testing.T) {
		t.Parallel()
		_, addr := topicstest.StartBroker(t)
		topic := newTopic(t, addr)
		pub := newPublisher(t, addr)
		if err := pub.Close(); err != nil {
			t.Fatal(err)
		}
		srv := serve(t, baseConfig(topic, pub))
		r := send(t, testClient, http.MethodPost, srv.URL, githubHeaders("ping", "closed-1", "application/json", testSecret, body), body)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503; body %s", r.status, r.body)
		}
		if code, _ := errorBody(t, r); code != "log_unavailable" {
			t.Errorf("error = %q, want log_unavailable", code)
		}
		if n := endOffsetSum(t, addr, topic); n != 0 {
			t.Errorf("raw topic holds %d records, want 0", n)
		}
	})

	t.Run("broker gone", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		broker, addr := topicstest.StartBroker(t, topicstest.DataDir(dataDir))
		topic := newTopic(t, addr)
		pub, err := topics.NewPublisher(topics.PublisherConfig{Brokers: []string{addr}, CloseTimeout: 100 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		cfg := baseConfig(topic, pub)
		// The idempotent producer never gives up on a record by itself
		// (kgo cannot fail a batch it may have sent): the handler's own
		// deadline is what turns a dead log into a 503.
		cfg.PublishTimeout = time.Second
		srv := serve(t, cfg)

		// The first append also connects the publisher and gets its
		// producer ID, which on a loaded machine (-race, 2 cores) can take
		// longer than the 1s deadline: redeliver it, as GitHub would, until
		// it is acknowledged. A copy stored late has the same key.
		var first response
		for range 5 {
			if first = send(t, testClient, http.MethodPost, srv.URL, githubHeaders("ping", "gone-1", "application/json", testSecret, body), body); first.status == http.StatusAccepted {
				break
			}
		}
		if first.status != http.StatusAccepted {
			t.Fatalf("first delivery: status = %d, want 202; body %s", first.status, first.body)
		}
		broker.Close()
		start := time.Now()
		r := send(t, testClient, http.MethodPost, srv.URL, githubHeaders("ping", "gone-2", "application/json", testSecret, body), body)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("answered after %s, want about the 1s publish timeout", d)
		}
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503; body %s", r.status, r.body)
		}
		if code, _ := errorBody(t, r); code != "log_unavailable" {
			t.Errorf("error = %q, want log_unavailable", code)
		}
		// Closing the publisher fails the record it still retries, so it
		// cannot reach the broker once restarted.
		_ = pub.Close()
		// Restarted on its data, the broker holds the first delivery only.
		_, restartedAddr := topicstest.StartBroker(t, topicstest.DataDir(dataDir))
		if rec := consume(t, restartedAddr, topic, 1)[0]; string(rec.Key) != "gone-1" {
			t.Errorf("stored record has key %q, want gone-1", rec.Key)
		}
	})
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	pub := newPublisher(t, addr)
	tests := []struct {
		name string
		edit func(*webhook.Config)
	}{
		{"no topic", func(c *webhook.Config) { c.Topic = "" }},
		{"no publisher", func(c *webhook.Config) { c.Publisher = nil }},
		{"no tracer", func(c *webhook.Config) { c.Tracer = nil }},
		{"negative max body", func(c *webhook.Config) { c.MaxBody = -1 }},
		{"negative publish timeout", func(c *webhook.Config) { c.PublishTimeout = -time.Second }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig("raw", pub)
			tc.edit(&cfg)
			if _, err := webhook.New(cfg); err == nil {
				t.Error("New accepted an incomplete configuration")
			}
		})
	}
	t.Run("no secrets is allowed", func(t *testing.T) {
		t.Parallel()
		cfg := baseConfig("raw", pub)
		cfg.Secrets = nil
		if _, err := webhook.New(cfg); err != nil {
			t.Errorf("New: %v", err)
		}
	})
}

// headerValue makes s a header value that reaches the handler unchanged:
// no control characters and no surrounding spaces, which HTTP strips.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.Trim(s, " ")
}

// wellFormedSignature is the form of an X-Hub-Signature-256 value the
// handler reads a body for.
var wellFormedSignature = regexp.MustCompile(`^sha256=[0-9a-fA-F]{64}$`)

// FuzzHandlerRequest sends arbitrary deliveries over HTTP to a handler whose
// publisher is closed: every check runs for real, and a delivery that passes
// them all reaches the log, which refuses it with 503 instead of storing it.
// The answer must be the one the documented order of checks gives.
func FuzzHandlerRequest(f *testing.F) {
	const maxBody = 1024
	_, addr := topicstest.StartBroker(f)
	pub := newPublisher(f, addr)
	if err := pub.Close(); err != nil {
		f.Fatal(err)
	}
	cfg := baseConfig("raw", pub)
	cfg.MaxBody = maxBody
	srv := serve(f, cfg)
	client := srv.Client()

	ping := readTestdata(f, "ping.json")
	f.Add(ping, "application/json", "ping", "d-1", "", true)
	f.Add([]byte("payload="+url.QueryEscape(string(ping))), "application/x-www-form-urlencoded", "ping", "d-2", "", true)
	f.Add([]byte("payload=%7B%7D&x=%zz"), "Application/X-WWW-Form-Urlencoded; charset=x", "push", "d-3", "", true)
	f.Add([]byte(`{"a":1}`), "text/plain", "push", "d-4", "", true)
	f.Add([]byte(`{"a":1}`), "application/json", "", "d-5", "", true)
	f.Add([]byte(`{"a":`), "application/json", "push", "d-6", "", true)
	f.Add([]byte(`{"a":1}`), "application/json", "push", "d-7", "sha256=00", false)
	f.Add([]byte(`{"a":1}`), "application/json", "push", "d-8", "", false)
	f.Add([]byte(`{"a":1}`), "application/json", "Push", "d-11", "", true)
	f.Add([]byte(`{"a":1}`), "application/json", "push", "d:12", "", true)
	f.Add([]byte(strings.Repeat("[", 20)), "application/json", "push", "d-9", "", true)
	f.Add(bytes.Repeat([]byte("x"), maxBody+1), "application/json", "push", "d-10", "", true)
	f.Fuzz(func(t *testing.T, body []byte, contentType, event, delivery, signature string, sign bool) {
		contentType, event, delivery = headerValue(contentType), headerValue(event), headerValue(delivery)
		signature = headerValue(signature)
		if sign {
			signature = webhook.Sign([]byte(testSecret), body)
		}
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set(github.HeaderEvent, event)
		h.Set(github.HeaderDelivery, delivery)
		h.Set(github.HeaderSignature, signature)
		r := send(t, client, http.MethodPost, srv.URL, h, body)

		var wantStatus int
		var wantCode string
		_, decodeErr := github.DecodeBody(contentType, body)
		switch {
		case len(body) > maxBody:
			wantStatus, wantCode = http.StatusRequestEntityTooLarge, "payload_too_large"
		case signature == "":
			wantStatus, wantCode = http.StatusUnauthorized, "missing_signature"
		case !wellFormedSignature.MatchString(signature):
			wantStatus, wantCode = http.StatusUnauthorized, "malformed_signature"
		case !webhook.VerifySignature(cfg.Secrets, signature, body):
			wantStatus, wantCode = http.StatusUnauthorized, "invalid_signature"
		case event == "" || delivery == "":
			wantStatus, wantCode = http.StatusBadRequest, "missing_header"
		case github.CheckEvent(event) != nil || github.CheckIncomingDelivery(delivery) != nil:
			wantStatus, wantCode = http.StatusBadRequest, "invalid_header"
		case errors.Is(decodeErr, github.ErrUnsupportedContentType):
			wantStatus, wantCode = http.StatusUnsupportedMediaType, "unsupported_media_type"
		case decodeErr != nil:
			wantStatus, wantCode = http.StatusBadRequest, "invalid_payload"
		default:
			wantStatus, wantCode = http.StatusServiceUnavailable, "log_unavailable"
		}
		if r.status != wantStatus {
			t.Fatalf("status = %d, want %d; body %s", r.status, wantStatus, r.body)
		}
		if code, _ := errorBody(t, r); code != wantCode {
			t.Fatalf("error = %q, want %q", code, wantCode)
		}
	})
}
