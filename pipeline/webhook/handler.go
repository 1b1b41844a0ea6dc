package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	stdjson "encoding/json"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/koistream/koistream/pipeline/bodybudget"
	"github.com/koistream/koistream/pipeline/httpjson"
	"github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/raw"
)

// DefaultMaxBody is GitHub's payload cap: GitHub does not deliver larger
// payloads, so anything larger is not from GitHub.
const DefaultMaxBody = 25 << 20

// DefaultBodyBudget bounds the webhook bodies held in memory at once, read
// or being read: ten bodies of GitHub's largest size, well within the
// node's 768 MiB soft memory limit. Without it, 64 concurrent 25 MiB
// uploads took 904 MiB.
const DefaultBodyBudget = 256 << 20

// A refusal decided before the body was read whole is followed by a
// lingering close (httpjson.Linger): the rest of the body is read and
// discarded, at most lingerBytes (or twice MaxBody, if more) for at most
// lingerTime, so that the client, still sending, reads the refusal rather
// than a reset connection. GitHub sends at most 25 MiB and gives up after
// 10 s.
const (
	lingerBytes = 64 << 20
	lingerTime  = 10 * time.Second
)

// DefaultPublishTimeout bounds the wait for the log's acknowledgement: GitHub
// gives up on a delivery after 10 s, so the handler answers 503 before that
// rather than never (with the broker down the producer retries forever).
const DefaultPublishTimeout = 8 * time.Second

// Config configures a [Handler].
type Config struct {
	// Secrets are the webhook secrets; a delivery must be signed with one
	// of them. With none, every delivery is refused with 401: accepting
	// unsigned input would let anyone write into the system of record.
	Secrets [][]byte
	// Topic is the raw topic deliveries are appended to. Required.
	Topic string
	// Publisher appends to the log; its Publish must return only once the
	// broker acknowledged durably. Required.
	Publisher message.Publisher
	// Tracer makes one span per delivery. Required (use a no-op tracer to
	// turn tracing off).
	Tracer trace.Tracer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// MaxBody is the largest body accepted, in bytes. Defaults to
	// DefaultMaxBody.
	MaxBody int64
	// Now returns the receive time. Defaults to time.Now.
	Now func() time.Time
	// PublishTimeout bounds how long a delivery waits for the log to
	// acknowledge it before the answer is 503; the record may still be
	// written later, and GitHub's redelivery then duplicates it under the
	// same key. Defaults to DefaultPublishTimeout.
	PublishTimeout time.Duration
	// BodyBudget bounds the bytes of bodies held at once by the requests
	// in flight, in bytes: a request whose declared body (or a chunked
	// body as it grows) does not fit is answered 503 with Retry-After
	// rather than read. At least MaxBody, so that a body of the largest
	// size fits alone. Defaults to DefaultBodyBudget.
	BodyBudget int64
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.BodyBudget == 0 {
		c.BodyBudget = max(DefaultBodyBudget, c.MaxBody)
	}
}

// Validate reports whether the configuration is complete.
func (c Config) Validate() error {
	switch {
	case c.Topic == "":
		return errors.New("webhook: topic is required")
	case c.Publisher == nil:
		return errors.New("webhook: publisher is required")
	case c.Tracer == nil:
		return errors.New("webhook: tracer is required")
	case c.MaxBody < 1:
		return fmt.Errorf("webhook: max body must be positive, got %d", c.MaxBody)
	case c.PublishTimeout < 0:
		return fmt.Errorf("webhook: publish timeout must not be negative, got %s", c.PublishTimeout)
	case c.BodyBudget < c.MaxBody:
		return fmt.Errorf("webhook: body budget %d is smaller than the max body %d: a delivery of that size could never be taken", c.BodyBudget, c.MaxBody)
	}
	return nil
}

// Handler serves POST /github/webhook. It is safe for concurrent use.
//
// Checks run in this order, and the first failure answers. From the
// request's headers alone, before any of the body is read: method (405), a
// Content-Length over MaxBody (413), a secret configured (401
// no_secret_configured), X-Hub-Signature-256 present (401
// missing_signature) and of the form sha256=<64 hex digits> (401
// malformed_signature), the declared body within the memory budget (503
// over_budget, with Retry-After). Then the body is read: a chunked body
// over MaxBody is 413, one that outgrows the budget 503 over_budget, and a
// body that cannot be read completely is answered as the node's body guard
// (httpjson.BodyError) describes it, or, without one, 408 or 400. Then:
// signature matches the body (401 invalid_signature), X-GitHub-Event and
// X-GitHub-Delivery present (400 missing_header), the event name made of
// lowercase letters and underscores and the delivery id usable in an RID
// and at most github.MaxDeliveryLen bytes (400 invalid_header, with a
// detail naming the header and what is wrong: topics/github's CheckEvent
// and CheckIncomingDelivery), content type (415), body is one JSON object
// (400 invalid_payload). Every detail says what is wrong with the request
// in the sender's terms.
//
// A refusal decided before the body was read whole (from the headers, or
// over MaxBody or the budget as it arrives, not because it could not be
// read) is answered at once with "Connection: close", and then the rest of
// the body is read and thrown away, up to 64 MiB (or twice MaxBody) and for
// up to 10 s (httpjson.Linger), so that a client still sending it reads the
// answer instead of a reset connection.
//
// A delivery that passes is appended to the raw topic byte for byte as a
// topics/raw record of source kind "github-webhook", keyed by its delivery
// GUID, with GitHub's headers, content type, user agent, receive time and
// trace context as Kafka headers; only then does the handler answer 202.
// The append does not depend on the client staying connected (a client
// that half-closes its connection after the body still gets the truth),
// only on PublishTimeout. If the log does not acknowledge it in time the
// answer is 503 and GitHub may redeliver.
type Handler struct {
	cfg    Config
	budget *bodybudget.Budget
}

// New returns a handler for cfg.
func New(cfg Config) (*Handler, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Secrets) == 0 {
		cfg.Logger.Warn("no GitHub webhook secret configured: every delivery will be refused with 401 (set GITHUB_WEBHOOK_SECRET)")
	}
	return &Handler{cfg: cfg, budget: bodybudget.New(cfg.BodyBudget)}, nil
}

// forwardedHeaders are the optional request headers kept on the raw record
// when present; the event and delivery headers are required and always kept.
var forwardedHeaders = []string{
	github.HeaderHookID,
	github.HeaderTargetType,
	github.HeaderTargetID,
	github.HeaderSignature,
}

// Accepted is the JSON body of a 202 answer.
type Accepted struct {
	Status   string `json:"status"`
	Delivery string `json:"delivery"`
	Event    string `json:"event"`
}

// refusal is an error answer.
type refusal struct {
	status       int
	code, detail string
	retryAfter   time.Duration
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// linger: the answer refused a body that was not read whole, and the
	// client may still be sending it. Run last, once the span has ended
	// and the budget has been given back: the bytes are discarded, not
	// held.
	linger := false
	defer func() {
		if linger {
			httpjson.Linger(w, r, max(lingerBytes, 2*h.cfg.MaxBody), lingerTime)
		}
	}()
	ctx, span := h.cfg.Tracer.Start(r.Context(), "webhook github", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	bodyRead, readFailed := false, false
	fail := func(f refusal) {
		if !bodyRead && r.ContentLength != 0 {
			// Without it net/http reads up to 256 KiB of the body the
			// refusal did not need before it answers, and waits for a
			// client that sends it only after the answer, or never.
			w.Header().Set("Connection", "close")
			// A body that could not be read has nothing more to give.
			linger = !readFailed
		}
		span.SetStatus(codes.Error, f.code)
		span.SetAttributes(attribute.Int("http.response.status_code", f.status))
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(f.retryAfter/time.Second)))
		}
		httpjson.Error(w, f.status, f.code, f.detail)
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(refusal{http.StatusMethodNotAllowed, "method_not_allowed", "webhooks are delivered with POST", 0})
		return
	}
	receivedAt := h.cfg.Now().UTC()
	// Everything the headers alone decide is decided before the body is
	// read: an unsigned 25 MiB upload is discarded, never held.
	if r.ContentLength > h.cfg.MaxBody {
		fail(h.tooLarge(r.ContentLength))
		return
	}
	sig := r.Header.Get(github.HeaderSignature)
	switch {
	case len(h.cfg.Secrets) == 0:
		fail(refusal{http.StatusUnauthorized, "no_secret_configured", "this node has no webhook secret configured, so it cannot verify any delivery", 0})
		return
	case sig == "":
		fail(refusal{http.StatusUnauthorized, "missing_signature", "X-Hub-Signature-256 header is required", 0})
		return
	case !wellFormedSignature(sig):
		fail(refusal{http.StatusUnauthorized, "malformed_signature", `X-Hub-Signature-256 must be "sha256=" followed by 64 hexadecimal digits, the HMAC-SHA256 of the body`, 0})
		return
	}
	body, held, f, broken := h.readBody(r)
	defer func() { h.budget.Release(held) }() // 0 once Publish took it over
	readFailed = broken
	if f != nil {
		fail(*f)
		return
	}
	bodyRead = true
	if !VerifySignature(h.cfg.Secrets, sig, body) {
		fail(refusal{http.StatusUnauthorized, "invalid_signature", "X-Hub-Signature-256 does not match the body under any configured secret", 0})
		return
	}
	event, delivery := r.Header.Get(github.HeaderEvent), r.Header.Get(github.HeaderDelivery)
	if event == "" || delivery == "" {
		fail(refusal{http.StatusBadRequest, "missing_header", "X-GitHub-Event and X-GitHub-Delivery headers are required", 0})
		return
	}
	if err := github.CheckEvent(event); err != nil {
		fail(refusal{http.StatusBadRequest, "invalid_header", github.Reason(err), 0})
		return
	}
	if err := github.CheckIncomingDelivery(delivery); err != nil {
		fail(refusal{http.StatusBadRequest, "invalid_header", github.Reason(err), 0})
		return
	}
	span.SetAttributes(attribute.String("github.event", event), attribute.String("github.delivery", delivery))
	contentType := r.Header.Get("Content-Type")
	if _, err := github.DecodeBody(contentType, body); err != nil {
		if errors.Is(err, github.ErrUnsupportedContentType) {
			fail(refusal{http.StatusUnsupportedMediaType, "unsupported_media_type", unsupportedDetail(contentType), 0})
			return
		}
		fail(refusal{http.StatusBadRequest, "invalid_payload", payloadDetail(contentType, body, err), 0})
		return
	}

	ghHeaders := message.Metadata{github.HeaderEvent: event, github.HeaderDelivery: delivery}
	for _, k := range forwardedHeaders {
		if v := r.Header.Get(k); v != "" {
			ghHeaders[k] = v
		}
	}
	msg, err := raw.NewMessage(raw.Record{
		Key:         delivery,
		Source:      github.SourceKind,
		ReceivedAt:  receivedAt,
		ContentType: contentType,
		UserAgent:   r.Header.Get("User-Agent"),
		Body:        body,
		Metadata:    ghHeaders,
	})
	if err != nil { // cannot happen: key, source and time are set
		span.RecordError(err)
		h.cfg.Logger.Error("webhook record not built", "delivery", delivery, "err", err)
		fail(refusal{http.StatusInternalServerError, "internal_error", "the delivery could not be made into a log record; nothing was stored", 0})
		return
	}
	// net/http cancels the request's context when the client goes away,
	// and when it half-closes the connection after the body, though it can
	// still read the answer. The append must not depend on that: a
	// cancelled wait answers 503 for a record the log then stores anyway.
	// Only PublishTimeout bounds the wait, and not the record: the log
	// client keeps a record it could not write yet for retry, and the
	// body's share of the budget stays held until it is written or refused
	// (bodybudget.Budget.Publish). The trace context is kept.
	msg.SetContext(context.WithoutCancel(ctx))
	if err := h.budget.Publish(&held, h.cfg.PublishTimeout, func() error {
		return h.cfg.Publisher.Publish(h.cfg.Topic, msg)
	}); err != nil {
		span.RecordError(err)
		h.cfg.Logger.Error("webhook not stored", "delivery", delivery, "event", event, "err", err)
		fail(refusal{http.StatusServiceUnavailable, "log_unavailable", fmt.Sprintf(
			"the log did not confirm storing the delivery within %s; it may not be stored: retry or redeliver it (a delivery stored twice is processed once)",
			seconds(h.cfg.PublishTimeout)), 0})
		return
	}
	h.cfg.Logger.Debug("webhook stored", "delivery", delivery, "event", event, "bytes", len(body))
	httpjson.Write(w, http.StatusAccepted, Accepted{Status: "accepted", Delivery: delivery, Event: event})
}

// readBody reads the body within MaxBody and the budget
// (bodybudget.Budget.Read). It returns the body and the bytes of the
// budget it holds (to release once the body is no longer needed, also on a
// refusal), or the refusal and whether it is for a body that could not be
// read (rather than one refused as it arrived).
func (h *Handler) readBody(r *http.Request) (body []byte, held int64, f *refusal, broken bool) {
	body, held, err := h.budget.Read(r.Body, r.ContentLength, h.cfg.MaxBody)
	if err == nil {
		return body, held, nil, false
	}
	if errors.Is(err, bodybudget.ErrOverBudget) {
		return nil, held, h.overBudget(), false
	}
	if tl, ok := errors.AsType[*bodybudget.TooLargeError](err); ok {
		return nil, held, ptr(h.tooLarge(tl.Declared)), false
	}
	if re, ok := errors.AsType[*bodybudget.ReadError](err); ok {
		return nil, held, readRefusal(re.Err, re.Read, re.Declared), true
	}
	return nil, held, readRefusal(err, 0, r.ContentLength), true
}

func ptr[T any](v T) *T { return &v }

func (h *Handler) tooLarge(declared int64) refusal {
	detail := fmt.Sprintf("the body is longer than %d bytes, GitHub's cap on webhook payloads", h.cfg.MaxBody)
	if declared >= 0 {
		detail = fmt.Sprintf("the body is %d bytes long; at most %d are accepted, GitHub's cap on webhook payloads", declared, h.cfg.MaxBody)
	}
	return refusal{http.StatusRequestEntityTooLarge, "payload_too_large", detail, 0}
}

func (h *Handler) overBudget() *refusal {
	return &refusal{http.StatusServiceUnavailable, "over_budget", fmt.Sprintf(
		"the node already holds webhook bodies close to its budget of %d bytes; retry in a moment", h.cfg.BodyBudget), bodybudget.RetryAfter}
}

// readRefusal describes a body that could not be read. The node's body
// guard describes it itself (httpjson.BodyError); without one (the handler
// served alone), the reader's error is told in the client's terms here.
func readRefusal(err error, got, declared int64) *refusal {
	if be, ok := errors.AsType[*httpjson.BodyError](err); ok {
		return &refusal{be.Status, be.Code, be.Detail, be.RetryAfter}
	}
	progress := fmt.Sprintf("%d bytes arrived", got)
	if declared >= 0 {
		progress = fmt.Sprintf("%d of %d bytes arrived", got, declared)
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &refusal{http.StatusRequestTimeout, "body_timeout", "the request body was not received completely in time (" + progress + ")", 0}
	case (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) && declared >= 0:
		return &refusal{http.StatusBadRequest, "incomplete_body", fmt.Sprintf(
			"the connection ended after %d bytes of the body, before the %d its Content-Length declares", got, declared), 0}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &refusal{http.StatusBadRequest, "incomplete_body", "the connection ended before the last chunk of the body (" + progress + ")", 0}
	}
	return &refusal{http.StatusBadRequest, "unreadable_body", "the body could not be read completely (" + progress + ")", 0}
}

// unsupportedDetail is the 415 detail for a content type.
func unsupportedDetail(contentType string) string {
	const accepted = "GitHub delivers application/json or application/x-www-form-urlencoded"
	if strings.TrimSpace(contentType) == "" {
		return "the Content-Type header is missing: " + accepted
	}
	if len(contentType) > 100 {
		contentType = contentType[:100] + "..."
	}
	return fmt.Sprintf("Content-Type %q is not accepted: %s", contentType, accepted)
}

// payloadDetail is the 400 detail for a body DecodeBody refused: its
// reason and, for a payload that is not JSON, where and why, as
// encoding/json finds it (our validator only says whether).
func payloadDetail(contentType string, body []byte, err error) string {
	what := "the body"
	if mt, _, _ := strings.Cut(contentType, ";"); strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
		what = "the payload form field"
	}
	detail := what + " is not a JSON webhook payload: " + github.Reason(err)
	if payload, perr := github.ExtractPayload(contentType, body); perr == nil {
		if where := syntaxError(payload); where != "" {
			detail += ": " + where
		}
	}
	return detail
}

// syntaxError says where payload stops being JSON, or returns "". Its
// messages name JSON's grammar ("invalid character 'x' after object key"),
// never a Go type, since the value is decoded into a RawMessage.
func syntaxError(payload []byte) string {
	dec := stdjson.NewDecoder(bytes.NewReader(payload))
	var v stdjson.RawMessage
	err := dec.Decode(&v)
	if se, ok := errors.AsType[*stdjson.SyntaxError](err); ok {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "the JSON ends early"
	}
	if err == nil && dec.More() {
		return fmt.Sprintf("more follows the JSON object at byte %d", dec.InputOffset())
	}
	return ""
}

// seconds prints d as a client reads it: "8s", "0.5s".
func seconds(d time.Duration) string { return fmt.Sprint(d.Seconds()) + "s" }
