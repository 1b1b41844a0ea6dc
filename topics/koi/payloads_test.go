package koi_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

func TestPayloadMarshal(t *testing.T) {
	m := koi.Manifest{RID: "orn:x:y", Timestamp: "2025-01-02T03:04:05Z", SHA256Hash: "ab"}
	const mJSON = `{"rid":"orn:x:y","timestamp":"2025-01-02T03:04:05Z","sha256_hash":"ab"}`
	b := koi.Bundle{Manifest: m, Contents: json.RawMessage(`{"k":null}`)}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"rids payload", koi.NewRidsPayload([]string{"orn:x:y"}), `{"type":"rids_payload","rids":["orn:x:y"]}`},
		{"rids payload nil", koi.NewRidsPayload(nil), `{"type":"rids_payload","rids":[]}`},
		{"manifests payload", koi.NewManifestsPayload([]koi.Manifest{m}, []string{"orn:a:b"}), `{"type":"manifests_payload","manifests":[` + mJSON + `],"not_found":["orn:a:b"]}`},
		{"manifests payload nil", koi.NewManifestsPayload(nil, nil), `{"type":"manifests_payload","manifests":[],"not_found":[]}`},
		{"bundles payload", koi.NewBundlesPayload([]koi.Bundle{b}, nil, nil), `{"type":"bundles_payload","bundles":[{"manifest":` + mJSON + `,"contents":{"k":null}}],"not_found":[],"deferred":[]}`},
		{"bundles payload nil", koi.NewBundlesPayload(nil, []string{"orn:a:b"}, nil), `{"type":"bundles_payload","bundles":[],"not_found":["orn:a:b"],"deferred":[]}`},
		{"events payload", koi.NewEventsPayload([]koi.Event{koi.NewForgetEvent("orn:x:y")}), `{"type":"events_payload","events":[{"rid":"orn:x:y","event_type":"FORGET"}]}`},
		{"events payload nil", koi.NewEventsPayload(nil), `{"type":"events_payload","events":[]}`},
		{"error response", koi.NewErrorResponse(koi.ErrorUnknownNode), `{"type":"error_response","error":"unknown_node"}`},
		{"poll events", koi.NewPollEvents(0), `{"type":"poll_events","limit":0}`},
		{"poll events 1.0", koi.PollEvents{Limit: 5, Rid: "orn:koi-net.node:a+b"}, `{"type":"poll_events","limit":5,"rid":"orn:koi-net.node:a+b"}`},
		{"fetch rids", koi.NewFetchRids([]string{"orn:github.issue"}), `{"type":"fetch_rids","rid_types":["orn:github.issue"]}`},
		{"fetch rids nil", koi.NewFetchRids(nil), `{"type":"fetch_rids","rid_types":[]}`},
		{"fetch manifests", koi.NewFetchManifests(nil, []string{"orn:x:y"}), `{"type":"fetch_manifests","rid_types":[],"rids":["orn:x:y"]}`},
		{"fetch bundles", koi.NewFetchBundles([]string{"orn:x:y"}), `{"type":"fetch_bundles","rids":["orn:x:y"]}`},
		// Zero values marshal like the constructors' results.
		{"zero rids payload", koi.RidsPayload{}, `{"type":"rids_payload","rids":[]}`},
		{"zero manifests payload", koi.ManifestsPayload{}, `{"type":"manifests_payload","manifests":[],"not_found":[]}`},
		{"zero bundles payload", koi.BundlesPayload{}, `{"type":"bundles_payload","bundles":[],"not_found":[],"deferred":[]}`},
		{"zero events payload", koi.EventsPayload{}, `{"type":"events_payload","events":[]}`},
		{"zero error response", koi.ErrorResponse{Error: koi.ErrorInvalidSignature}, `{"type":"error_response","error":"invalid_signature"}`},
		{"zero poll events", koi.PollEvents{}, `{"type":"poll_events","limit":0}`},
		{"zero fetch rids", koi.FetchRids{}, `{"type":"fetch_rids","rid_types":[]}`},
		{"zero fetch manifests", koi.FetchManifests{}, `{"type":"fetch_manifests","rid_types":[],"rids":[]}`},
		{"zero fetch bundles", koi.FetchBundles{}, `{"type":"fetch_bundles","rids":[]}`},
		{"wrong type overridden", koi.RidsPayload{Type: "bogus"}, `{"type":"rids_payload","rids":[]}`},
		{"pointer", &koi.FetchBundles{Rids: []string{"orn:x:y"}}, `{"type":"fetch_bundles","rids":["orn:x:y"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("json.Marshal = %s\nwant %s", got, tc.want)
			}
			got, err = koi.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("koi.Marshal = %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDecodeRequests(t *testing.T) {
	tests := []struct {
		name    string
		decode  func([]byte) (any, error)
		in      string
		want    string // koi.Marshal of the result
		wantErr error
	}{
		{"fetch_rids typed", decodeFetchRids, `{"type":"fetch_rids","rid_types":["orn:github.issue"]}`, `{"type":"fetch_rids","rid_types":["orn:github.issue"]}`, nil},
		{"fetch_rids untyped", decodeFetchRids, `{"rid_types":["https"]}`, `{"type":"fetch_rids","rid_types":["https"]}`, nil},
		{"fetch_rids empty object", decodeFetchRids, `{}`, `{"type":"fetch_rids","rid_types":[]}`, nil},
		{"fetch_rids wrong type", decodeFetchRids, `{"type":"fetch_bundles","rid_types":[]}`, "", koi.ErrPayloadType},
		{"fetch_rids empty type", decodeFetchRids, `{"type":"","rid_types":[]}`, "", koi.ErrPayloadType},
		{"fetch_rids not json", decodeFetchRids, `{"type":`, "", koi.ErrInvalidPayload},
		{"fetch_rids bad field type", decodeFetchRids, `{"rid_types":"orn:x"}`, "", koi.ErrInvalidPayload},
		{"fetch_rids null body", decodeFetchRids, `null`, "", koi.ErrInvalidPayload},
		{"fetch_rids array body", decodeFetchRids, `[]`, "", koi.ErrInvalidPayload},
		{"fetch_rids empty body", decodeFetchRids, ``, "", koi.ErrInvalidPayload},
		{"fetch_rids trailing data", decodeFetchRids, `{} {}`, "", koi.ErrInvalidPayload},
		{"fetch_rids whitespace around", decodeFetchRids, " \n{}\n", `{"type":"fetch_rids","rid_types":[]}`, nil},
		{"fetch_manifests typed", decodeFetchManifests, `{"type":"fetch_manifests","rid_types":[],"rids":["orn:x:y"]}`, `{"type":"fetch_manifests","rid_types":[],"rids":["orn:x:y"]}`, nil},
		{"fetch_manifests untyped defaults", decodeFetchManifests, `{}`, `{"type":"fetch_manifests","rid_types":[],"rids":[]}`, nil},
		{"fetch_manifests wrong type", decodeFetchManifests, `{"type":"fetch_rids"}`, "", koi.ErrPayloadType},
		{"fetch_bundles typed", decodeFetchBundles, `{"type":"fetch_bundles","rids":["orn:x:y"]}`, `{"type":"fetch_bundles","rids":["orn:x:y"]}`, nil},
		{"fetch_bundles untyped", decodeFetchBundles, `{"rids":[]}`, `{"type":"fetch_bundles","rids":[]}`, nil},
		{"fetch_bundles missing rids", decodeFetchBundles, `{"type":"fetch_bundles"}`, "", koi.ErrInvalidPayload},
		{"fetch_bundles wrong type", decodeFetchBundles, `{"type":"rids_payload","rids":[]}`, "", koi.ErrPayloadType},
		{"poll_events typed", decodePollEvents, `{"type":"poll_events","limit":3}`, `{"type":"poll_events","limit":3}`, nil},
		{"poll_events 1.0", decodePollEvents, `{"rid":"orn:koi-net.node:a+b","limit":0}`, `{"type":"poll_events","limit":0,"rid":"orn:koi-net.node:a+b"}`, nil},
		{"poll_events wrong type", decodePollEvents, `{"type":"events_payload"}`, "", koi.ErrPayloadType},
		{"events_payload typed", decodeEventsPayload, `{"type":"events_payload","events":[{"rid":"orn:x:y","event_type":"FORGET"}]}`, `{"type":"events_payload","events":[{"rid":"orn:x:y","event_type":"FORGET"}]}`, nil},
		{"events_payload 1.0", decodeEventsPayload, `{"events":[{"rid":"orn:x:y","event_type":"FORGET","manifest":null,"contents":null}]}`, `{"type":"events_payload","events":[{"rid":"orn:x:y","event_type":"FORGET"}]}`, nil},
		{"events_payload missing events", decodeEventsPayload, `{"type":"events_payload"}`, "", koi.ErrInvalidPayload},
		{"events_payload bad event", decodeEventsPayload, `{"events":[{"rid":"orn:x:y","event_type":"NOPE"}]}`, "", koi.ErrInvalidEvent},
		{"events_payload wrong type", decodeEventsPayload, `{"type":"poll_events","events":[]}`, "", koi.ErrPayloadType},
		// Python (pydantic) matches member names exactly: "RIDS" is not "rids".
		{"fetch_bundles member name in another case", decodeFetchBundles, `{"type":"fetch_bundles","RIDS":["orn:x:y"]}`, "", koi.ErrInvalidPayload},
		{"fetch_rids member name in another case is ignored", decodeFetchRids, `{"Rid_Types":["orn:x"]}`, `{"type":"fetch_rids","rid_types":[]}`, nil},
		{"events_payload event member in another case", decodeEventsPayload, `{"events":[{"RID":"orn:x:y","event_type":"FORGET"}]}`, "", koi.ErrInvalidEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runDecodeCase(t, tc.decode, tc.in, tc.want, tc.wantErr)
		})
	}
}

func TestDecodeResponses(t *testing.T) {
	const m = `{"rid":"orn:x:y","timestamp":"2025-01-02T03:04:05Z","sha256_hash":"ab"}`
	tests := []struct {
		name    string
		decode  func([]byte) (any, error)
		in      string
		want    string
		wantErr error
	}{
		{"rids_payload", decodeRidsPayload, `{"type":"rids_payload","rids":["orn:x:y"]}`, `{"type":"rids_payload","rids":["orn:x:y"]}`, nil},
		{"rids_payload missing rids", decodeRidsPayload, `{"type":"rids_payload"}`, "", koi.ErrInvalidPayload},
		{"rids_payload wrong type", decodeRidsPayload, `{"type":"error_response","error":"unknown_node"}`, "", koi.ErrPayloadType},
		{"manifests_payload", decodeManifestsPayload, `{"type":"manifests_payload","manifests":[` + m + `]}`, `{"type":"manifests_payload","manifests":[` + m + `],"not_found":[]}`, nil},
		{"manifests_payload missing manifests", decodeManifestsPayload, `{"not_found":[]}`, "", koi.ErrInvalidPayload},
		{"bundles_payload", decodeBundlesPayload, `{"type":"bundles_payload","bundles":[{"manifest":` + m + `,"contents":{"b": 1.0, "a": null}}],"not_found":["orn:a:b"]}`,
			`{"type":"bundles_payload","bundles":[{"manifest":` + m + `,"contents":{"b":1.0,"a":null}}],"not_found":["orn:a:b"],"deferred":[]}`, nil},
		{"bundles_payload missing bundles", decodeBundlesPayload, `{"type":"bundles_payload"}`, "", koi.ErrInvalidPayload},
		{"bundles_payload wrong type", decodeBundlesPayload, `{"type":"manifests_payload","bundles":[]}`, "", koi.ErrPayloadType},
		{"error_response", decodeErrorResponse, `{"type":"error_response","error":"invalid_target"}`, `{"type":"error_response","error":"invalid_target"}`, nil},
		{"error_response untyped", decodeErrorResponse, `{"error":"invalid_key"}`, `{"type":"error_response","error":"invalid_key"}`, nil},
		{"error_response missing error", decodeErrorResponse, `{"type":"error_response"}`, "", koi.ErrInvalidPayload},
		{"error_response fastapi 422", decodeErrorResponse, `{"detail":[{"msg":"x"}]}`, "", koi.ErrInvalidPayload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runDecodeCase(t, tc.decode, tc.in, tc.want, tc.wantErr)
		})
	}
}

func runDecodeCase(t *testing.T, decode func([]byte) (any, error), in, want string, wantErr error) {
	t.Helper()
	v, err := decode([]byte(in))
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("error = %v, want %v", err, wantErr)
		}
		if !errors.Is(err, koi.ErrInvalidPayload) {
			t.Errorf("error %v does not wrap ErrInvalidPayload", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := koi.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("decoded and re-marshalled = %s\nwant %s", got, want)
	}
}

func decodeFetchRids(b []byte) (any, error)        { return koi.DecodeFetchRids(b) }
func decodeFetchManifests(b []byte) (any, error)   { return koi.DecodeFetchManifests(b) }
func decodeFetchBundles(b []byte) (any, error)     { return koi.DecodeFetchBundles(b) }
func decodePollEvents(b []byte) (any, error)       { return koi.DecodePollEvents(b) }
func decodeEventsPayload(b []byte) (any, error)    { return koi.DecodeEventsPayload(b) }
func decodeRidsPayload(b []byte) (any, error)      { return koi.DecodeRidsPayload(b) }
func decodeManifestsPayload(b []byte) (any, error) { return koi.DecodeManifestsPayload(b) }
func decodeBundlesPayload(b []byte) (any, error)   { return koi.DecodeBundlesPayload(b) }
func decodeErrorResponse(b []byte) (any, error)    { return koi.DecodeErrorResponse(b) }

func TestDecodedTypeIsSet(t *testing.T) {
	p, err := koi.DecodeFetchRids([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != koi.PayloadTypeFetchRids || p.RidTypes == nil {
		t.Errorf("DecodeFetchRids({}) = %#v, want type set and non-nil rid_types", p)
	}
}

// unsignedEnvelope mirrors the unsigned envelope that KOI-net signs, to check
// that this package's payloads reproduce the Python reference bytes.
type unsignedEnvelope struct {
	Payload    any    `json:"payload"`
	SourceNode string `json:"source_node"`
	TargetNode string `json:"target_node"`
}

func TestPayloadVectors(t *testing.T) {
	v := readVectors(t)
	const target = "orn:koi-net.node:coordinator+d10a33dc15d219b5d82b7f242212d414e00eba9bd2e968ae2b615ade8e153f12"
	contents := vectorContents(t, v)
	h, err := koi.Hash(contents)
	if err != nil {
		t.Fatal(err)
	}
	const rid = "orn:github.issue:octo/hello:1"
	m := koi.Manifest{RID: rid, Timestamp: "2025-01-02T03:04:05.123456Z", SHA256Hash: h}
	tests := []struct {
		name, key string
		payload   any
	}{
		{"events payload", "UNSIGNED_ENVELOPE_JSON", koi.NewEventsPayload([]koi.Event{koi.NewBundleEvent(koi.EventNew, koi.Bundle{Manifest: m, Contents: contents})})},
		{"fetch rids", "UNSIGNED_FETCH_RIDS_JSON", koi.NewFetchRids([]string{"orn:github.issue"})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := unsignedEnvelope{Payload: tc.payload, SourceNode: v["NODE_RID"], TargetNode: target}
			got, err := koi.Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v[tc.key] {
				t.Errorf("Marshal =\n%s\nwant\n%s", got, v[tc.key])
			}
		})
	}
	t.Run("decode events payload from vector", func(t *testing.T) {
		var env struct {
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal([]byte(v["UNSIGNED_ENVELOPE_JSON"]), &env); err != nil {
			t.Fatal(err)
		}
		p, err := koi.DecodeEventsPayload(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		got, err := koi.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(env.Payload) {
			t.Errorf("decode+Marshal =\n%s\nwant\n%s", got, env.Payload)
		}
		if p.Events[0].Manifest.SHA256Hash != v["CONTENTS_SHA256"] {
			t.Errorf("manifest hash = %s, want %s", p.Events[0].Manifest.SHA256Hash, v["CONTENTS_SHA256"])
		}
	})
}
