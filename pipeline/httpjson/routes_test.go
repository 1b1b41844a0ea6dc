package httpjson_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline/httpjson"
)

func TestRoutes(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/github/webhook", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "webhook") })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("POST /items/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "item "+r.PathValue("id")) })
	srv := httptest.NewServer(httpjson.Routes(mux))
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		name, method, path string
		wantStatus         int
		wantCode           string // "" for an answer that is not an error
		wantDetail         string // a part of the detail, or of the body
		wantAllow          string
	}{
		{"a route", http.MethodPost, "/github/webhook", 200, "", "webhook", ""},
		{"a route with a path value", http.MethodPost, "/items/7", 200, "", "item 7", ""},
		{"unknown path", http.MethodGet, "/nope", 404, "not_found", `nothing is served at "/nope"`, ""},
		{"trailing slash", http.MethodPost, "/github/webhook/", 404, "not_found", `did you mean "/github/webhook" (without the trailing slash)?`, ""},
		{"wrong method", http.MethodPost, "/healthz", 405, "method_not_allowed", `POST is not allowed on "/healthz"; allowed: GET, HEAD`, "GET, HEAD"},
		{"wrong method on a path value", http.MethodDelete, "/items/7", 405, "method_not_allowed", "allowed: POST", "POST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			a := answer{status: resp.StatusCode, header: resp.Header, body: b}
			if a.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", a.status, tc.wantStatus, a.body)
			}
			if tc.wantCode == "" {
				if !strings.Contains(string(a.body), tc.wantDetail) {
					t.Errorf("body %q, want %q", a.body, tc.wantDetail)
				}
				return
			}
			code, detail := jsonError(t, a)
			if code != tc.wantCode || !strings.Contains(detail, tc.wantDetail) {
				t.Errorf("error %q detail %q, want %q saying %q", code, detail, tc.wantCode, tc.wantDetail)
			}
			if got := a.header.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
		})
	}

	// The mux's redirect to a canonical path is not an error: it passes.
	t.Run("redirect to the clean path", func(t *testing.T) {
		t.Parallel()
		resp, err := client.Get(srv.URL + "/github//webhook")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/github/webhook" {
			t.Errorf("status %d Location %q, want 307 to /github/webhook", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}
