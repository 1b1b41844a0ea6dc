package koi_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

// Plain copies of the types, without their methods: what encoding/json
// printed for them before they had MarshalJSON, the reference the append
// methods must match.
type (
	plainManifest struct {
		RID        string `json:"rid"`
		Timestamp  string `json:"timestamp"`
		SHA256Hash string `json:"sha256_hash"`
	}
	plainBundle struct {
		Manifest plainManifest   `json:"manifest"`
		Contents json.RawMessage `json:"contents"`
	}
)

func plain(m koi.Manifest) plainManifest { return plainManifest(m) }

// manifestCases are manifests whose strings need every kind of escaping
// that encoding/json, pydantic and RFC 8785 might disagree on.
var manifestCases = []struct {
	name string
	m    koi.Manifest
}{
	{"plain", koi.Manifest{RID: "orn:github.issue:o/r:1", Timestamp: "2025-01-02T03:04:05.123456Z", SHA256Hash: strings.Repeat("ab", 32)}},
	{"html characters", koi.Manifest{RID: "https://example.com/?a=<b>&c", Timestamp: "2025-01-02T03:04:05Z", SHA256Hash: "00"}},
	{"quotes, backslashes, controls", koi.Manifest{RID: "orn:x:\"q\"\\\b\f\n\r\t\x01\x1f\x7f", Timestamp: "t", SHA256Hash: "h"}},
	{"line separators and non-ASCII", koi.Manifest{RID: "orn:x:\u2028\u2029é😀", Timestamp: "t", SHA256Hash: "h"}},
	{"empty", koi.Manifest{}},
}

// TestManifestAppendJSON: the manifest's JSON is what koi.Marshal and
// json.Marshal printed before Manifest had methods, so giving it
// MarshalJSON changed no output.
func TestManifestAppendJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range manifestCases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.m.AppendJSON([]byte("prefix"))
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatalf("AppendJSON dropped what dst held: %q", got)
			}
			got = got[len("prefix"):]
			want, err := koi.Marshal(plain(tc.m))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AppendJSON\n got %s\nwant %s (koi.Marshal of the plain struct)", got, want)
			}
			if got, err := koi.Marshal(tc.m); err != nil || !bytes.Equal(got, want) {
				t.Errorf("koi.Marshal\n got %s (%v)\nwant %s", got, err, want)
			}
			stdWant, _ := json.Marshal(plain(tc.m))
			if got, err := json.Marshal(tc.m); err != nil || !bytes.Equal(got, stdWant) {
				t.Errorf("json.Marshal\n got %s (%v)\nwant %s", got, err, stdWant)
			}
			var back koi.Manifest
			if err := json.Unmarshal(tc.m.AppendJSON(nil), &back); err != nil || back != tc.m {
				t.Errorf("AppendJSON does not read back: %+v (%v)", back, err)
			}
		})
	}
}

// TestBundleAppendJSON: contents go out verbatim from AppendJSON (peers
// hash those bytes), compacted from json.Marshal and koi.Marshal as before;
// a RawBundle of the same manifest JSON writes the same bytes, and JSONLen
// says how many.
func TestBundleAppendJSON(t *testing.T) {
	t.Parallel()
	for _, contents := range []string{`{"title": "keep my spacing",  "n": 1.0, "s": "<&>\u2028"}`, `{}`, `[1, 2]`, ``} {
		for _, mc := range manifestCases {
			t.Run(mc.name+" "+contents, func(t *testing.T) {
				b := koi.Bundle{Manifest: mc.m, Contents: json.RawMessage(contents)}
				wantContents := contents
				if contents == "" {
					b.Contents, wantContents = nil, "null"
				}
				want := `{"manifest":` + string(mc.m.AppendJSON(nil)) + `,"contents":` + wantContents + `}`
				if got := string(b.AppendJSON(nil)); got != want {
					t.Errorf("Bundle.AppendJSON\n got %s\nwant %s", got, want)
				}
				raw := koi.RawBundle{Manifest: mc.m.AppendJSON(nil), Contents: b.Contents}
				if got := string(raw.AppendJSON(nil)); got != want {
					t.Errorf("RawBundle.AppendJSON\n got %s\nwant %s", got, want)
				}
				if n := raw.JSONLen(); n != len(want) {
					t.Errorf("JSONLen = %d, want %d", n, len(want))
				}
				pb := plainBundle{Manifest: plain(mc.m), Contents: b.Contents}
				stdWant, _ := json.Marshal(pb)
				if got, err := json.Marshal(b); err != nil || !bytes.Equal(got, stdWant) {
					t.Errorf("json.Marshal\n got %s (%v)\nwant %s", got, err, stdWant)
				}
				koiWant, _ := koi.Marshal(pb)
				if got, err := koi.Marshal(b); err != nil || !bytes.Equal(got, koiWant) {
					t.Errorf("koi.Marshal\n got %s (%v)\nwant %s", got, err, koiWant)
				}
			})
		}
	}
	t.Run("empty raw bundle", func(t *testing.T) {
		var raw koi.RawBundle
		const want = `{"manifest":null,"contents":null}`
		if got := string(raw.AppendJSON(nil)); got != want || raw.JSONLen() != len(want) {
			t.Errorf("= %s (JSONLen %d), want %s", got, raw.JSONLen(), want)
		}
	})
}

// TestRawPayloadsMatchTypedPayloads: the raw payloads, built from the JSON
// of manifests and bundles, print what koi.Marshal prints for the typed
// payloads of the same values, nil lists as [] included.
func TestRawPayloadsMatchTypedPayloads(t *testing.T) {
	t.Parallel()
	var (
		manifests    []koi.Manifest
		rawManifests []json.RawMessage
		bundles      []koi.Bundle
		rawBundles   []json.RawMessage
	)
	for i, mc := range manifestCases {
		manifests = append(manifests, mc.m)
		rawManifests = append(rawManifests, mc.m.AppendJSON(nil))
		b := koi.Bundle{Manifest: mc.m, Contents: json.RawMessage(`{"i":` + string(rune('0'+i)) + `,"s":"<&>"}`)}
		bundles = append(bundles, b)
		rawBundles = append(rawBundles, b.AppendJSON(nil))
	}
	odd := []string{"orn:x:<&>", "\u2028", "\"\\\n\x01", "é", ""}
	for _, tc := range []struct {
		name  string
		raw   interface{ AppendJSON([]byte) []byte }
		typed any
	}{
		{"manifests", koi.RawManifestsPayload{Manifests: rawManifests, NotFound: odd}, koi.NewManifestsPayload(manifests, odd)},
		{"manifests, nil lists", koi.RawManifestsPayload{}, koi.NewManifestsPayload(nil, nil)},
		{"bundles", koi.RawBundlesPayload{Bundles: rawBundles, NotFound: odd, Deferred: odd[:2]}, koi.NewBundlesPayload(bundles, odd, odd[:2])},
		{"bundles, nil lists", koi.RawBundlesPayload{}, koi.NewBundlesPayload(nil, nil, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := koi.Marshal(tc.typed)
			if err != nil {
				t.Fatal(err)
			}
			got := tc.raw.AppendJSON(nil)
			if !bytes.Equal(got, want) {
				t.Errorf("raw payload\n got %s\nwant %s", got, want)
			}
			if !json.Valid(got) {
				t.Errorf("raw payload is not JSON: %s", got)
			}
			if m, ok := tc.raw.(json.Marshaler); !ok {
				t.Errorf("%T is not a json.Marshaler", tc.raw)
			} else if mb, err := m.MarshalJSON(); err != nil || !bytes.Equal(mb, got) {
				t.Errorf("MarshalJSON = %s (%v), want AppendJSON's bytes", mb, err)
			}
		})
	}
}

// BenchmarkRawBundlesPayload is the /bundles/fetch answer of 100 stored
// bundles of 4 kB: the bytes are appended, never re-encoded.
func BenchmarkRawBundlesPayload(b *testing.B) {
	m := manifestCases[0].m
	bundle := koi.Bundle{Manifest: m, Contents: json.RawMessage(`{"s":"` + strings.Repeat("x", 4000) + `"}`)}.AppendJSON(nil)
	p := koi.RawBundlesPayload{Bundles: make([]json.RawMessage, 100)}
	for i := range p.Bundles {
		p.Bundles[i] = bundle
	}
	b.SetBytes(int64(100 * len(bundle)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = p.AppendJSON(buf[:0])
	}
}
