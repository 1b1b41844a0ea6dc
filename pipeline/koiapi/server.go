package koiapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
)

// DefaultPath is where the KOI-net API is mounted when none is configured,
// as in the Python reference nodes.
const DefaultPath = "/koi-net"

// maxRequestBody bounds a fetch request. RID lists of thousands fit easily.
const maxRequestBody = 8 << 20

// Server answers KOI-net fetch requests from a [projections.Cache]. Request
// bodies are koi-net payloads with or without the "type" discriminator
// (koi-net 1.0 sends none). Malformed bodies get 422 with a FastAPI-style
// {"detail":[…]} body, as a Python node answers them, whose msg says what is
// wrong in the peer's terms (koi.PayloadError's Msg). A Server is safe for
// concurrent use.
type Server struct {
	cache  *projections.Cache
	logger *slog.Logger
}

// New returns a server reading from cache. logger defaults to
// slog.Default().
func New(cache *projections.Cache, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &Server{cache: cache, logger: logger}
}

// Register mounts the endpoints on mux under path (DefaultPath if empty).
func (s *Server) Register(mux *http.ServeMux, path string) {
	if path == "" {
		path = DefaultPath
	}
	path = "/" + strings.Trim(path, "/")
	mux.HandleFunc("POST "+path+"/rids/fetch", s.fetchRids)
	mux.HandleFunc("POST "+path+"/manifests/fetch", s.fetchManifests)
	mux.HandleFunc("POST "+path+"/bundles/fetch", s.fetchBundles)
	// Other methods and paths get FastAPI's JSON answers, as from a Python
	// node, rather than the mux's plain text.
	for _, p := range []string{"/rids/fetch", "/manifests/fetch", "/bundles/fetch"} {
		mux.HandleFunc(path+p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			writeDetail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		})
	}
	mux.HandleFunc(path+"/", func(w http.ResponseWriter, _ *http.Request) {
		writeDetail(w, http.StatusNotFound, "Not Found")
	})
}

func (s *Server) fetchRids(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := koi.DecodeFetchRids(body)
	if err != nil {
		writeValidationError(w, err)
		return
	}
	rids, err := s.cache.RIDs(req.RidTypes)
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, koi.NewRidsPayload(rids))
}

func (s *Server) fetchManifests(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := koi.DecodeFetchManifests(body)
	if err != nil {
		writeValidationError(w, err)
		return
	}
	rids := req.Rids
	if len(rids) == 0 {
		// As in Python: a non-empty rids list wins, else filter by type.
		if rids, err = s.cache.RIDs(req.RidTypes); err != nil {
			s.internal(w, err)
			return
		}
	}
	var manifests []json.RawMessage
	var notFound []string
	for _, rid := range rids {
		m, found, err := s.cache.Manifest(rid)
		if err != nil {
			s.internal(w, err)
			return
		}
		if !found {
			notFound = append(notFound, rid)
			continue
		}
		manifests = append(manifests, m)
	}
	// Manifests are stored as KOI-net JSON, so they go out as stored.
	writeRaw(w, koi.RawManifestsPayload{Manifests: manifests, NotFound: notFound}.AppendJSON(nil))
}

func (s *Server) fetchBundles(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := koi.DecodeFetchBundles(body)
	if err != nil {
		writeValidationError(w, err)
		return
	}
	var bundles []json.RawMessage
	var notFound []string
	for _, rid := range req.Rids {
		b, found, err := s.cache.Bundle(rid)
		if err != nil {
			s.internal(w, err)
			return
		}
		if !found {
			notFound = append(notFound, rid)
			continue
		}
		bundles = append(bundles, b)
	}
	// Bundles are stored as served, so they go out byte for byte:
	// re-marshalling would reformat contents whose exact bytes peers hash.
	writeRaw(w, koi.RawBundlesPayload{Bundles: bundles, NotFound: notFound}.AppendJSON(nil))
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeDetail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxRequestBody))
			return nil, false
		}
		writeDetail(w, http.StatusBadRequest, "reading the body failed: "+err.Error())
		return nil, false
	}
	return body, true
}

func (s *Server) internal(w http.ResponseWriter, err error) {
	s.logger.Error("koi-net request failed", "err", err)
	writeDetail(w, http.StatusInternalServerError, "internal error reading the cache")
}

// validationDetail is one entry of a FastAPI 422 body.
type validationDetail struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// writeValidationError answers 422 for a request body the decoder refused.
// The message is the decoder's account in the peer's terms (which member,
// what it must be, what it is), without the Go package's prefix.
func writeValidationError(w http.ResponseWriter, err error) {
	msg := err.Error()
	if pe, ok := errors.AsType[*koi.PayloadError](err); ok {
		msg = pe.Msg
	}
	b, _ := json.Marshal(struct {
		Detail []validationDetail `json:"detail"`
	}{[]validationDetail{{Loc: []string{"body"}, Msg: msg, Type: "value_error"}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	_, _ = w.Write(b)
}

func writeDetail(w http.ResponseWriter, status int, detail string) {
	b, _ := json.Marshal(struct {
		Detail string `json:"detail"`
	}{detail})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeDetail(w, http.StatusInternalServerError, "encoding the answer failed")
		return
	}
	writeRaw(w, b)
}

func writeRaw(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
