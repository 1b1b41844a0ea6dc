package streams

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/koistream/koistream/pipeline/httpjson"
	stagepublish "github.com/koistream/koistream/stages/publish"
	"github.com/koistream/koistream/topics/publish"
	"github.com/koistream/koistream/topics/streams"
)

// PublishAnswer is the body of a 202 to a publish.
type PublishAnswer struct {
	// ID is the message's key, a ULID; its RID is
	// orn:pubsub.message:<id><path>.
	ID string `json:"id"`
	// Path is the path published to.
	Path string `json:"path"`
	// Timestamp is when the listener received it, integer seconds since
	// the epoch (X-Timestamp, GitPubSub's key for X-Fetch-Since).
	Timestamp int64 `json:"timestamp"`
}

// trusted reports whether r may publish: its address is in a trusted CIDR
// or it sends the publish token.
func (s *Server) trusted(r *http.Request) bool {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		addr := ap.Addr().Unmap()
		for _, p := range s.cfg.TrustedCIDRs {
			if p.Contains(addr) {
				return true
			}
		}
	}
	if len(s.cfg.PublishToken) == 0 {
		return false
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), s.cfg.PublishToken) == 1
}

// servePublish appends a published object to the raw topic and answers 202
// once it is durably there.
func (s *Server) servePublish(w http.ResponseWriter, r *http.Request) {
	status := s.publish(w, r)
	s.countPublish(r.Context(), status)
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) int {
	fail := func(status int, code, detail string) int {
		httpjson.Error(w, status, code, detail)
		return status
	}
	if !s.trusted(r) {
		return fail(http.StatusForbidden, "untrusted", "only trusted addresses, or clients sending the publish token as Authorization: Bearer, may publish")
	}
	path := r.URL.Path
	if len(path) > streams.MaxPathLen {
		return fail(http.StatusRequestURITooLong, "path_too_long", fmt.Sprintf("the path is %d bytes, more than %d", len(path), streams.MaxPathLen))
	}
	if err := publish.CheckPath(path); err != nil {
		return fail(http.StatusBadRequest, "bad_path", err.Error())
	}
	if s.cfg.Publisher == nil {
		return fail(http.StatusServiceUnavailable, "publish_unavailable", "this node takes no publishes")
	}
	if r.ContentLength > s.cfg.MaxPayload {
		return fail(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is %d bytes, more than %d", r.ContentLength, s.cfg.MaxPayload))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxPayload))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fail(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is more than %d bytes", s.cfg.MaxPayload))
		}
		return fail(http.StatusBadRequest, "bad_body", "reading the body: "+err.Error())
	}
	if _, err := stagepublish.Contents(body); err != nil {
		return fail(http.StatusBadRequest, "not_an_object", strings.TrimPrefix(err.Error(), "publish: "))
	}
	now := time.Now()
	key := watermill.NewULID()
	msg, err := publish.NewMessage(publish.Input{
		Path: path, Remote: r.RemoteAddr, Body: body, ContentType: r.Header.Get("Content-Type"),
		UserAgent: r.UserAgent(), ReceivedAt: now, Key: key,
	})
	if err != nil {
		return fail(http.StatusBadRequest, "bad_publish", err.Error())
	}
	if err := s.cfg.Publisher.Publish(s.cfg.RawTopic, msg); err != nil {
		s.cfg.Logger.Warn("publish not appended", "path", path, "err", err)
		w.Header().Set("Retry-After", "1")
		return fail(http.StatusServiceUnavailable, "log_unavailable", "the log did not take the message; retry")
	}
	w.Header().Set("X-Timestamp", strconv.FormatInt(now.Unix(), 10))
	httpjson.Write(w, http.StatusAccepted, PublishAnswer{ID: key, Path: path, Timestamp: now.Unix()})
	return http.StatusAccepted
}
