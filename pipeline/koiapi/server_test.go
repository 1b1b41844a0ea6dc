package koiapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/topics/koi"
)

// The RIDs of testdata/events. Issue 2 is created and then forgotten; issue
// 1 is created and then updated.
const (
	ridIssue1  = "orn:github.issue:o/r:1"
	ridIssue2  = "orn:github.issue:o/r:2"
	ridIssue10 = "orn:github.issue:o/r:10"
	ridPR3     = "orn:github.pr:o/r:3"
	ridEvent   = "orn:github.event:o/r:12345"
)

// event is one record of testdata/events: its bytes, and its manifest and
// contents exactly as they appear in them.
type event struct {
	file     string
	raw      []byte
	rid      string
	typ      string
	manifest json.RawMessage
	contents json.RawMessage
}

// loadEvents reads testdata/events in name order. encoding/json keeps the
// bytes of a RawMessage verbatim, so manifest and contents are the exact
// bytes the record carries.
func loadEvents(tb testing.TB) []event {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no test events: %v", err)
	}
	slices.Sort(files)
	var out []event
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var ev struct {
			RID       string          `json:"rid"`
			EventType string          `json:"event_type"`
			Manifest  json.RawMessage `json:"manifest"`
			Contents  json.RawMessage `json:"contents"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		out = append(out, event{file: f, raw: raw, rid: ev.RID, typ: ev.EventType, manifest: ev.Manifest, contents: ev.Contents})
	}
	return out
}

// latest returns the last NEW or UPDATE event of rid.
func latest(tb testing.TB, evs []event, rid string) event {
	tb.Helper()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].rid == rid && evs[i].typ != "FORGET" {
			return evs[i]
		}
	}
	tb.Fatalf("no event for %s in testdata", rid)
	return event{}
}

// openCache applies evs to a fresh cache, in two batches as a runner would.
func openCache(tb testing.TB, evs []event) *projections.Cache {
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
	if err := store.Attach(cache); err != nil {
		tb.Fatal(err)
	}
	var recs []projections.Record
	for i, ev := range evs {
		recs = append(recs, projections.Record{Topic: "koistream.events", Partition: 0, Offset: int64(i), Value: ev.raw})
	}
	half := len(recs) / 2
	for _, batch := range [][]projections.Record{recs[:half], recs[half:]} {
		res, err := store.Apply(batch)
		if err != nil {
			tb.Fatal(err)
		}
		if len(res.Skipped[0]) > 0 {
			tb.Fatalf("cache skipped test events: %v", res.Skipped[0])
		}
	}
	return cache
}

func startServer(tb testing.TB, cache *projections.Cache) *httptest.Server {
	tb.Helper()
	mux := http.NewServeMux()
	koiapi.New(cache, slog.New(slog.DiscardHandler)).Register(mux, "")
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(tb testing.TB, client *http.Client, method, url string, body []byte) response {
	tb.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func bundleJSON(ev event) string {
	return `{"manifest":` + string(ev.manifest) + `,"contents":` + string(ev.contents) + `}`
}

func TestTestdataIsConsistent(t *testing.T) {
	t.Parallel()
	for _, ev := range loadEvents(t) {
		if ev.typ == "FORGET" {
			continue
		}
		var m koi.Manifest
		if err := json.Unmarshal(ev.manifest, &m); err != nil {
			t.Fatalf("%s: manifest: %v", ev.file, err)
		}
		if m.RID != ev.rid {
			t.Errorf("%s: manifest rid %s, event rid %s", ev.file, m.RID, ev.rid)
		}
		if h, err := koi.Hash(ev.contents); err != nil || h != m.SHA256Hash {
			t.Errorf("%s: sha256_hash %s, contents hash to %s (%v)", ev.file, m.SHA256Hash, h, err)
		}
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()
	evs := loadEvents(t)
	srv := startServer(t, openCache(t, evs))
	client := srv.Client()

	m := func(rid string) string { return string(latest(t, evs, rid).manifest) }
	b := func(rid string) string { return bundleJSON(latest(t, evs, rid)) }
	// All RIDs, sorted by type and then by RID as bytes (so 10 before 2).
	const allRids = `["` + ridEvent + `","` + ridIssue1 + `","` + ridIssue10 + `","` + ridPR3 + `"]`

	tests := []struct {
		name string
		path string
		body string
		want string
	}{
		// /rids/fetch
		{"rids: koi-net 1.0 empty body object", "/rids/fetch", `{}`, `{"type":"rids_payload","rids":` + allRids + `}`},
		{"rids: empty rid_types", "/rids/fetch", `{"type":"fetch_rids","rid_types":[]}`, `{"type":"rids_payload","rids":` + allRids + `}`},
		{"rids: null rid_types", "/rids/fetch", `{"type":"fetch_rids","rid_types":null}`, `{"type":"rids_payload","rids":` + allRids + `}`},
		{"rids: issues", "/rids/fetch", `{"rid_types":["orn:github.issue"]}`, `{"type":"rids_payload","rids":["` + ridIssue1 + `","` + ridIssue10 + `"]}`},
		{"rids: several types, repeated, out of order", "/rids/fetch", `{"type":"fetch_rids","rid_types":["orn:github.pr","orn:github.issue","orn:github.pr"]}`,
			`{"type":"rids_payload","rids":["` + ridIssue1 + `","` + ridIssue10 + `","` + ridPR3 + `"]}`},
		{"rids: type with nothing cached", "/rids/fetch", `{"rid_types":["orn:github.repo"]}`, `{"type":"rids_payload","rids":[]}`},
		{"rids: a type's prefix matches nothing", "/rids/fetch", `{"rid_types":["orn:github"]}`, `{"type":"rids_payload","rids":[]}`},
		{"rids: unknown field ignored", "/rids/fetch", `{"type":"fetch_rids","rid_types":["orn:github.pr"],"extra":{"x":[1]}}`, `{"type":"rids_payload","rids":["` + ridPR3 + `"]}`},

		// /manifests/fetch
		{"manifests: by rids in request order, unknown and forgotten not found", "/manifests/fetch",
			`{"type":"fetch_manifests","rid_types":[],"rids":["` + ridPR3 + `","orn:github.issue:o/r:404","` + ridIssue1 + `","` + ridIssue2 + `"]}`,
			`{"type":"manifests_payload","manifests":[` + m(ridPR3) + `,` + m(ridIssue1) + `],"not_found":["orn:github.issue:o/r:404","` + ridIssue2 + `"]}`},
		{"manifests: by rid_types", "/manifests/fetch", `{"type":"fetch_manifests","rid_types":["orn:github.issue"],"rids":[]}`,
			`{"type":"manifests_payload","manifests":[` + m(ridIssue1) + `,` + m(ridIssue10) + `],"not_found":[]}`},
		{"manifests: everything", "/manifests/fetch", `{}`,
			`{"type":"manifests_payload","manifests":[` + m(ridEvent) + `,` + m(ridIssue1) + `,` + m(ridIssue10) + `,` + m(ridPR3) + `],"not_found":[]}`},
		{"manifests: rids win over rid_types", "/manifests/fetch", `{"rid_types":["orn:github.pr"],"rids":["` + ridIssue10 + `"]}`,
			`{"type":"manifests_payload","manifests":[` + m(ridIssue10) + `],"not_found":[]}`},
		{"manifests: only unknown", "/manifests/fetch", `{"rids":["orn:github.issue:o/r:404"]}`,
			`{"type":"manifests_payload","manifests":[],"not_found":["orn:github.issue:o/r:404"]}`},
		{"manifests: type with nothing cached", "/manifests/fetch", `{"rid_types":["orn:github.commit"]}`,
			`{"type":"manifests_payload","manifests":[],"not_found":[]}`},

		// /bundles/fetch
		{"bundles: found, forgotten, unknown", "/bundles/fetch",
			`{"type":"fetch_bundles","rids":["` + ridIssue1 + `","` + ridIssue2 + `","` + ridEvent + `","orn:github.issue:o/r:999"]}`,
			`{"type":"bundles_payload","bundles":[` + b(ridIssue1) + `,` + b(ridEvent) + `],"not_found":["` + ridIssue2 + `","orn:github.issue:o/r:999"],"deferred":[]}`},
		{"bundles: contents with floats and <>&", "/bundles/fetch", `{"rids":["` + ridIssue10 + `","` + ridPR3 + `"]}`,
			`{"type":"bundles_payload","bundles":[` + b(ridIssue10) + `,` + b(ridPR3) + `],"not_found":[],"deferred":[]}`},
		{"bundles: no rids", "/bundles/fetch", `{"type":"fetch_bundles","rids":[]}`, `{"type":"bundles_payload","bundles":[],"not_found":[],"deferred":[]}`},
		{"bundles: only unknown", "/bundles/fetch", `{"rids":["orn:github.issue:o/r:999"]}`,
			`{"type":"bundles_payload","bundles":[],"not_found":["orn:github.issue:o/r:999"],"deferred":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, client, http.MethodPost, srv.URL+koiapi.DefaultPath+tc.path, []byte(tc.body))
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if string(r.body) != tc.want {
				t.Errorf("body:\n got %s\nwant %s", r.body, tc.want)
			}
		})
	}
}

// TestFetchBundlesByteForByte checks, independently of how the answer is
// assembled, that every bundle's manifest and contents are the bytes of the
// event that announced it, so the peer's hash of the contents matches.
func TestFetchBundlesByteForByte(t *testing.T) {
	t.Parallel()
	evs := loadEvents(t)
	srv := startServer(t, openCache(t, evs))
	rids := []string{ridEvent, ridIssue1, ridIssue10, ridPR3}
	req, err := json.Marshal(koi.NewFetchBundles(rids))
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, srv.Client(), http.MethodPost, srv.URL+"/koi-net/bundles/fetch", req)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d; body %s", r.status, r.body)
	}
	var got struct {
		Type    string
		Bundles []struct {
			Manifest json.RawMessage
			Contents json.RawMessage
		}
		NotFound []string `json:"not_found"`
		Deferred []string
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, r.body)
	}
	if got.Type != koi.PayloadTypeBundlesPayload || len(got.Bundles) != len(rids) || len(got.NotFound) != 0 || got.Deferred == nil || len(got.Deferred) != 0 {
		t.Fatalf("answer %s, want %d bundles and empty not_found and deferred", r.body, len(rids))
	}
	for i, rid := range rids {
		t.Run(rid, func(t *testing.T) {
			ev := latest(t, evs, rid)
			if !bytes.Equal(got.Bundles[i].Manifest, ev.manifest) {
				t.Errorf("manifest:\n got %s\nwant %s", got.Bundles[i].Manifest, ev.manifest)
			}
			if !bytes.Equal(got.Bundles[i].Contents, ev.contents) {
				t.Errorf("contents:\n got %q\nwant %q", got.Bundles[i].Contents, ev.contents)
			}
			var m koi.Manifest
			if err := json.Unmarshal(got.Bundles[i].Manifest, &m); err != nil {
				t.Fatal(err)
			}
			if h, err := koi.Hash(got.Bundles[i].Contents); err != nil || h != m.SHA256Hash {
				t.Errorf("served contents hash to %s (%v), manifest says %s", h, err, m.SHA256Hash)
			}
		})
	}
}

func TestFetchRefuses(t *testing.T) {
	t.Parallel()
	srv := startServer(t, openCache(t, loadEvents(t)))
	client := srv.Client()
	tests := []struct {
		name string
		path string
		body string
	}{
		{"rids: not JSON", "/rids/fetch", `not json`},
		{"rids: empty body", "/rids/fetch", ``},
		{"rids: array", "/rids/fetch", `[]`},
		{"rids: truncated", "/rids/fetch", `{"rid_types":["orn:github.issue"]`},
		{"rids: null body", "/rids/fetch", `null`},
		{"rids: trailing data", "/rids/fetch", `{} {}`},
		{"rids: fetch_bundles payload", "/rids/fetch", `{"type":"fetch_bundles"}`},
		{"rids: fetch_rids type misspelt", "/rids/fetch", `{"type":"FETCH_RIDS"}`},
		{"rids: rid_types not a list", "/rids/fetch", `{"rid_types":"orn:github.issue"}`},
		{"rids: type not a string", "/rids/fetch", `{"type":1}`},
		{"manifests: not JSON", "/manifests/fetch", `{rids:[]}`},
		{"manifests: fetch_rids payload", "/manifests/fetch", `{"type":"fetch_rids","rid_types":[]}`},
		{"manifests: rids of numbers", "/manifests/fetch", `{"rids":[1,2]}`},
		{"manifests: null body", "/manifests/fetch", `null`},
		{"bundles: not JSON", "/bundles/fetch", `{"rids":["a"],}`},
		{"bundles: without rids", "/bundles/fetch", `{}`},
		{"bundles: null body", "/bundles/fetch", `null`},
		{"bundles: typed without rids", "/bundles/fetch", `{"type":"fetch_bundles"}`},
		{"bundles: null rids", "/bundles/fetch", `{"type":"fetch_bundles","rids":null}`},
		{"bundles: rids not a list", "/bundles/fetch", `{"rids":"` + ridIssue1 + `"}`},
		{"bundles: fetch_manifests payload", "/bundles/fetch", `{"type":"fetch_manifests","rids":["` + ridIssue1 + `"]}`},
		{"bundles: events payload", "/bundles/fetch", `{"type":"events_payload","events":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, client, http.MethodPost, srv.URL+"/koi-net"+tc.path, []byte(tc.body))
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422; body %s", r.status, r.body)
			}
			checkValidationError(t, r)
		})
	}
}

// checkValidationError checks a FastAPI-style 422 body:
// {"detail":[{"loc":[...],"msg":"...","type":"..."}]}, and returns its
// messages.
func checkValidationError(tb testing.TB, r response) []string {
	tb.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type = %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	var body struct {
		Detail []struct {
			Loc  []string `json:"loc"`
			Msg  string   `json:"msg"`
			Type string   `json:"type"`
		} `json:"detail"`
	}
	if err := dec.Decode(&body); err != nil {
		tb.Fatalf("422 body %s: %v", r.body, err)
	}
	if len(body.Detail) == 0 {
		tb.Fatalf("422 body %s has no detail entries", r.body)
	}
	var msgs []string
	for _, d := range body.Detail {
		if len(d.Loc) == 0 || d.Loc[0] != "body" || d.Msg == "" || d.Type == "" {
			tb.Errorf("detail entry %+v: want loc starting with body, a msg and a type", d)
		}
		msgs = append(msgs, d.Msg)
	}
	return msgs
}

// goWords are pieces of Go's and the JSON decoders' own error texts (type
// names, struct descriptions, package prefixes) that a peer must never see.
var goWords = []string{"Go ", "struct", "*string", "[]string", "koi.", "koi:", "json:", "unmarshal", "reflect"}

// checkNoGoWords fails when a 422 message holds one of goWords that the
// request body does not (a message may quote the body).
func checkNoGoWords(tb testing.TB, msgs []string, body []byte) {
	tb.Helper()
	for _, m := range msgs {
		for _, w := range goWords {
			if strings.Contains(m, w) && !bytes.Contains(body, []byte(w)) {
				tb.Errorf("422 message %q contains %q", m, w)
			}
		}
	}
}

// TestFetchRefusesSaysWhy checks over loopback HTTP that a refused body is
// answered with what is wrong in the peer's terms: the member, what it must
// be and what it is, or where the JSON breaks.
func TestFetchRefusesSaysWhy(t *testing.T) {
	t.Parallel()
	srv := startServer(t, openCache(t, loadEvents(t)))
	client := srv.Client()
	tests := []struct {
		path string
		body string
		msg  string
	}{
		{"/rids/fetch", `{"rid_types":"orn:github.issue"}`, `field "rid_types" must be an array of strings, got a string`},
		{"/rids/fetch", `{"rid_types":["orn:github.issue",7]}`, `field "rid_types[1]" must be a string, got a number`},
		{"/rids/fetch", `{"type":1}`, `field "type" must be a string, got a number`},
		{"/rids/fetch", `{"type":"fetch_bundles"}`, `field "type" must be "fetch_rids", got "fetch_bundles"`},
		{"/rids/fetch", `{"rid_types":["orn:github.issue"]`, `the body is not JSON: unexpected end at byte 33`},
		{"/rids/fetch", ``, `the body is empty; it must be a JSON object`},
		{"/rids/fetch", `null`, `the body must be a JSON object, got null`},
		{"/rids/fetch", `{} {}`, `the body is not JSON: invalid character '{' after top-level value at byte 4`},
		{"/manifests/fetch", `{rids:[]}`, `the body is not JSON: invalid character 'r' looking for beginning of object key string at byte 2`},
		{"/manifests/fetch", `{"rids":[1,2]}`, `field "rids[0]" must be a string, got a number`},
		{"/manifests/fetch", `{"rid_types":{}}`, `field "rid_types" must be an array of strings, got an object`},
		{"/bundles/fetch", `{}`, `field "rids" is required`},
		{"/bundles/fetch", `{"rids":null}`, `field "rids" must be an array of strings, got null`},
		{"/bundles/fetch", `{"rids":"` + ridIssue1 + `"}`, `field "rids" must be an array of strings, got a string`},
		{"/bundles/fetch", `{"rids":["a"],}`, `the body is not JSON: invalid character '}' looking for beginning of object key string at byte 15`},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.body, func(t *testing.T) {
			t.Parallel()
			r := do(t, client, http.MethodPost, srv.URL+"/koi-net"+tc.path, []byte(tc.body))
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422; body %s", r.status, r.body)
			}
			msgs := checkValidationError(t, r)
			checkNoGoWords(t, msgs, []byte(tc.body))
			want, err := json.Marshal(map[string]any{"detail": []any{map[string]any{"loc": []string{"body"}, "msg": tc.msg, "type": "value_error"}}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.body, want) {
				t.Errorf("body:\n got %s\nwant %s", r.body, want)
			}
		})
	}
}

func TestFetchMethodAndPath(t *testing.T) {
	t.Parallel()
	srv := startServer(t, openCache(t, loadEvents(t)))
	client := srv.Client()
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
	}{
		{"GET rids", http.MethodGet, "/koi-net/rids/fetch", http.StatusMethodNotAllowed},
		{"GET manifests", http.MethodGet, "/koi-net/manifests/fetch", http.StatusMethodNotAllowed},
		{"GET bundles", http.MethodGet, "/koi-net/bundles/fetch", http.StatusMethodNotAllowed},
		{"PUT bundles", http.MethodPut, "/koi-net/bundles/fetch", http.StatusMethodNotAllowed},
		{"unknown endpoint", http.MethodPost, "/koi-net/things/fetch", http.StatusNotFound},
		{"no mount prefix", http.MethodPost, "/rids/fetch", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, client, tc.method, srv.URL+tc.path, []byte(`{}`))
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.status, tc.wantStatus, r.body)
			}
			if tc.wantStatus == http.StatusMethodNotAllowed {
				if allow := r.header.Get("Allow"); !strings.Contains(allow, http.MethodPost) {
					t.Errorf("Allow = %q, want POST", allow)
				}
			}
		})
	}
}

func TestRegisterPath(t *testing.T) {
	t.Parallel()
	cache := openCache(t, loadEvents(t))
	tests := []struct {
		path string
		want string
	}{
		{"", "/koi-net"},
		{"/koi-net", "/koi-net"},
		{"koi", "/koi"},
		{"/api/koi/", "/api/koi"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			koiapi.New(cache, nil).Register(mux, tc.path)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			r := do(t, srv.Client(), http.MethodPost, srv.URL+tc.want+"/rids/fetch", []byte(`{"rid_types":["orn:github.pr"]}`))
			if want := `{"type":"rids_payload","rids":["` + ridPR3 + `"]}`; r.status != http.StatusOK || string(r.body) != want {
				t.Errorf("POST %s/rids/fetch = %d %s, want 200 %s", tc.want, r.status, r.body, want)
			}
		})
	}
}

// TestFetchEmptyCache checks that a node with nothing cached answers with
// empty lists, never null.
func TestFetchEmptyCache(t *testing.T) {
	t.Parallel()
	srv := startServer(t, openCache(t, nil))
	tests := []struct {
		path string
		body string
		want string
	}{
		{"/rids/fetch", `{}`, `{"type":"rids_payload","rids":[]}`},
		{"/manifests/fetch", `{}`, `{"type":"manifests_payload","manifests":[],"not_found":[]}`},
		{"/bundles/fetch", `{"rids":[]}`, `{"type":"bundles_payload","bundles":[],"not_found":[],"deferred":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			r := do(t, srv.Client(), http.MethodPost, srv.URL+"/koi-net"+tc.path, []byte(tc.body))
			if r.status != http.StatusOK || string(r.body) != tc.want {
				t.Errorf("= %d %s, want 200 %s", r.status, r.body, tc.want)
			}
		})
	}
}

// FuzzFetchEndpoints posts arbitrary bodies to every endpoint: the answer is
// never a server error, always JSON, and either the endpoint's payload or a
// 422 validation error.
func FuzzFetchEndpoints(f *testing.F) {
	evs := loadEvents(f)
	srv := startServer(f, openCache(f, evs))
	client := &http.Client{Timeout: 30 * time.Second}
	cached := map[string]bool{}
	for _, rid := range []string{ridEvent, ridIssue1, ridIssue10, ridPR3} {
		cached[rid] = true
	}

	for _, seed := range []string{
		`{}`, ``, `null`, `[]`, `"x"`, `{"type":"fetch_rids","rid_types":[]}`,
		`{"rid_types":["orn:github.issue"]}`, `{"rid_types":[""]}`, `{"rid_types":["orn:github.issue\u0000x"]}`,
		`{"type":"fetch_manifests","rid_types":[],"rids":["` + ridIssue1 + `","orn:x:y"]}`,
		`{"type":"fetch_bundles","rids":["` + ridIssue1 + `","` + ridIssue2 + `"]}`,
		`{"rids":["\ud800","\u2028<&>","\xff"]}`, `{"rids":[null]}`, `{"type":null}`, `{"RIDS":["` + ridPR3 + `"]}`,
		`{"rids":[]} trailing`, `{"type":"fetch_bundles","type":"fetch_rids","rids":[]}`,
	} {
		f.Add([]byte(seed))
	}
	endpoints := []struct {
		path, payloadType string
	}{
		{"/koi-net/rids/fetch", koi.PayloadTypeRidsPayload},
		{"/koi-net/manifests/fetch", koi.PayloadTypeManifestsPayload},
		{"/koi-net/bundles/fetch", koi.PayloadTypeBundlesPayload},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ep := range endpoints {
			r := do(t, client, http.MethodPost, srv.URL+ep.path, body)
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type = %q, want application/json", ep.path, ct)
			}
			if !json.Valid(r.body) {
				t.Fatalf("%s: status %d, body is not JSON: %q", ep.path, r.status, r.body)
			}
			switch r.status {
			case http.StatusUnprocessableEntity:
				checkNoGoWords(t, checkValidationError(t, r), body)
				continue
			case http.StatusOK:
			default:
				t.Fatalf("%s: status %d, want 200 or 422; body %s", ep.path, r.status, r.body)
			}
			var got struct {
				Type      *string           `json:"type"`
				Rids      []string          `json:"rids"`
				Manifests []json.RawMessage `json:"manifests"`
				Bundles   []struct {
					Manifest json.RawMessage `json:"manifest"`
					Contents json.RawMessage `json:"contents"`
				} `json:"bundles"`
				NotFound []string `json:"not_found"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("%s: %v: %s", ep.path, err, r.body)
			}
			if got.Type == nil || *got.Type != ep.payloadType {
				t.Fatalf("%s: answer %s, want type %s", ep.path, r.body, ep.payloadType)
			}
			for _, rid := range got.Rids {
				if !cached[rid] {
					t.Errorf("%s: answered RID %q, which is not cached", ep.path, rid)
				}
			}
			for _, m := range got.Manifests {
				var man koi.Manifest
				if err := json.Unmarshal(m, &man); err != nil || !cached[man.RID] {
					t.Errorf("%s: answered manifest %s (%v), which is not cached", ep.path, m, err)
				}
			}
			for _, b := range got.Bundles {
				var man koi.Manifest
				if err := json.Unmarshal(b.Manifest, &man); err != nil || !cached[man.RID] {
					t.Fatalf("%s: answered bundle %s (%v), which is not cached", ep.path, b.Manifest, err)
				}
				if want := latest(t, evs, man.RID).contents; !bytes.Equal(b.Contents, want) {
					t.Errorf("%s: contents of %s = %s, want %s", ep.path, man.RID, b.Contents, want)
				}
			}
			for _, rid := range got.NotFound {
				if cached[rid] {
					t.Errorf("%s: %s reported not found but is cached", ep.path, rid)
				}
			}
		}
	})
}
