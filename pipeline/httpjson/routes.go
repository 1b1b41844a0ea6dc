package httpjson

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
)

// Routes returns a handler serving mux that answers in JSON what mux would
// answer in plain text: a request no pattern matches gets 404 not_found, a
// request whose path matches only under other methods gets 405
// method_not_allowed with the Allow header mux computed. Requests a pattern
// takes, and the redirects mux answers to canonicalise a path, are served
// by mux unchanged.
func Routes(mux *http.ServeMux) http.Handler { return routes{mux} }

type routes struct{ mux *http.ServeMux }

func (rt routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// mux.Handler only looks the route up; ServeHTTP looks it up again and
	// sets the request's pattern and path values, which handlers may use.
	if _, pattern := rt.mux.Handler(r); pattern != "" {
		rt.mux.ServeHTTP(w, r)
		return
	}
	// No pattern takes the request: mux's answer (404, 405 or a redirect) is
	// recorded, and an error is answered in JSON instead. net/http offers no
	// hook for these answers (golang/go#65648).
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	rt.mux.ServeHTTP(rec, r)
	switch {
	case rec.status < 400:
		maps.Copy(w.Header(), rec.header)
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	case rec.status == http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		Error(w, rec.status, "method_not_allowed", fmt.Sprintf("%s is not allowed on %q; allowed: %s", r.Method, r.URL.Path, allow))
	case rec.status == http.StatusNotFound:
		Error(w, rec.status, "not_found", fmt.Sprintf("nothing is served at %q%s", r.URL.Path, rt.hint(r)))
	default:
		Error(w, rec.status, "request_refused", http.StatusText(rec.status))
	}
}

// hint names the route a path with a trailing slash too many meant, or
// returns "".
func (rt routes) hint(r *http.Request) string {
	trimmed := strings.TrimRight(r.URL.Path, "/")
	if trimmed == r.URL.Path || trimmed == "" {
		return ""
	}
	probe := &http.Request{Method: r.Method, Host: r.Host, URL: &url.URL{Path: trimmed}, Header: http.Header{}}
	if _, pattern := rt.mux.Handler(probe); pattern == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q (without the trailing slash)?", trimmed)
}

// recorder takes mux's own answer to a request no pattern matched.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	return r.body.Write(p)
}
