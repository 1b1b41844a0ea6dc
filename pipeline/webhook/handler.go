package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/koistream/koistream/pipeline/httpjson"
	"github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/raw"
)

// DefaultMaxBody is GitHub's payload cap: GitHub does not deliver larger
// payloads, so anything larger is not from GitHub.
const DefaultMaxBody = 25 << 20

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
	}
	return nil
}

// Handler serves POST /github/webhook. It is safe for concurrent use.
//
// Checks run in this order, and the first failure answers: method (405),
// size (413), signature (401), X-GitHub-Event and X-GitHub-Delivery headers
// present (400), the event name made of lowercase letters and underscores
// and the delivery id usable in an RID (400 invalid_header, with a detail
// naming the header and what is wrong: topics/github's CheckEvent and
// CheckDelivery), content type (415), body is one JSON object (400). A delivery that passes is appended
// to the raw topic byte for byte as a topics/raw record of source kind
// "github-webhook", keyed by its delivery GUID, with GitHub's headers,
// content type, user agent, receive time and trace context as Kafka
// headers; only then does the handler answer 202. If the log cannot take it
// the answer is 503 and GitHub may redeliver.
type Handler struct {
	cfg Config
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
	return &Handler{cfg: cfg}, nil
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

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, span := h.cfg.Tracer.Start(r.Context(), "webhook github", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	fail := func(status int, code, detail string) {
		span.SetStatus(codes.Error, code)
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		httpjson.Error(w, status, code, detail)
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "method_not_allowed", "webhooks are delivered with POST")
		return
	}
	receivedAt := h.cfg.Now().UTC()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(http.StatusRequestEntityTooLarge, "payload_too_large",
				fmt.Sprintf("body is larger than %d bytes, GitHub's cap on webhook payloads", h.cfg.MaxBody))
			return
		}
		fail(http.StatusBadRequest, "unreadable_body", "reading the body failed: "+err.Error())
		return
	}
	sig := r.Header.Get(github.HeaderSignature)
	switch {
	case len(h.cfg.Secrets) == 0:
		fail(http.StatusUnauthorized, "no_secret_configured", "this node has no webhook secret configured, so it cannot verify any delivery")
		return
	case sig == "":
		fail(http.StatusUnauthorized, "missing_signature", "X-Hub-Signature-256 header is required")
		return
	case !VerifySignature(h.cfg.Secrets, sig, body):
		fail(http.StatusUnauthorized, "invalid_signature", "X-Hub-Signature-256 does not match the body under any configured secret")
		return
	}
	event, delivery := r.Header.Get(github.HeaderEvent), r.Header.Get(github.HeaderDelivery)
	if event == "" || delivery == "" {
		fail(http.StatusBadRequest, "missing_header", "X-GitHub-Event and X-GitHub-Delivery headers are required")
		return
	}
	if err := github.CheckEvent(event); err != nil {
		fail(http.StatusBadRequest, "invalid_header", err.Error())
		return
	}
	if err := github.CheckDelivery(delivery); err != nil {
		fail(http.StatusBadRequest, "invalid_header", err.Error())
		return
	}
	span.SetAttributes(attribute.String("github.event", event), attribute.String("github.delivery", delivery))
	contentType := r.Header.Get("Content-Type")
	if _, err := github.DecodeBody(contentType, body); err != nil {
		if errors.Is(err, github.ErrUnsupportedContentType) {
			fail(http.StatusUnsupportedMediaType, "unsupported_media_type", err.Error())
			return
		}
		fail(http.StatusBadRequest, "invalid_payload", err.Error())
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
		fail(http.StatusInternalServerError, "internal_error", err.Error())
		return
	}
	pubCtx, cancel := context.WithTimeout(ctx, h.cfg.PublishTimeout)
	defer cancel()
	msg.SetContext(pubCtx)
	if err := h.cfg.Publisher.Publish(h.cfg.Topic, msg); err != nil {
		span.RecordError(err)
		h.cfg.Logger.Error("webhook not stored", "delivery", delivery, "event", event, "err", err)
		fail(http.StatusServiceUnavailable, "log_unavailable", "the delivery could not be stored durably; retry or redeliver it")
		return
	}
	h.cfg.Logger.Debug("webhook stored", "delivery", delivery, "event", event, "bytes", len(body))
	httpjson.Write(w, http.StatusAccepted, Accepted{Status: "accepted", Delivery: delivery, Event: event})
}
