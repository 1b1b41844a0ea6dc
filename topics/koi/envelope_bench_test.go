package koi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/koi"
)

// The cost of signing and verifying per request, reported beside the
// KOI-net endpoint figures (benchmarks/RESULTS.md, "KOI-net node"):
//
//	go test -run '^$' -bench 'Seal|ValidateEnvelope' ./topics/koi/
func benchEnvelope(b *testing.B) (body []byte, me string, lookup koi.KeyLookup, payload []byte) {
	v := readVectors(b)
	v21 := readKV(b, "testdata/koi21_vectors.txt")
	key := vectorKey(b, v)
	payload = []byte(`{"type":"fetch_bundles","rids":["orn:github.issue:octo/hello:1"]}`)
	body, err := koi.Seal(key, payload, v21["S"], v21["C"])
	if err != nil {
		b.Fatal(err)
	}
	pub, err := koi.PublicKeyString(&key.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	return body, v21["C"], lookupOf(map[string]string{v21["S"]: pub}), payload
}

// BenchmarkSeal: printing a one-RID fetch payload the pydantic way and
// signing it (ECDSA P-256), as every answer and every request we send does.
func BenchmarkSeal(b *testing.B) {
	v := readVectors(b)
	v21 := readKV(b, "testdata/koi21_vectors.txt")
	key := vectorKey(b, v)
	_, _, _, payload := benchEnvelope(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := koi.Seal(key, payload, v21["S"], v21["C"]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateEnvelope: parsing a signed request and checking it in
// the reference's order (sender, key hash, signature, target), as every
// signed request we receive is.
func BenchmarkValidateEnvelope(b *testing.B) {
	body, me, lookup, _ := benchEnvelope(b)
	b.ReportAllocs()
	for b.Loop() {
		env, err := koi.ParseEnvelope(body)
		if err != nil {
			b.Fatal(err)
		}
		if err := koi.ValidateEnvelope(env, me, lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSealPrintedMatchesSeal: the payloads SealPrinted is for are already
// as pydantic prints them, so it sends the very bytes Seal would (and a
// Python receiver's re-printing verifies them).
func TestSealPrintedMatchesSeal(t *testing.T) {
	v := readVectors(t)
	v21 := readKV(t, "testdata/koi21_vectors.txt")
	key := vectorKey(t, v)
	m, err := koi.NewManifest("orn:github.issue:octo/hello:1", []byte(`{"a":1}`), time.Date(2026, 11, 28, 1, 2, 3, 456000, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"rids with escapes", koi.NewRidsPayload([]string{"orn:github.issue:octo/hello:1", "orn:x:a\u2028b<>&\"\\é\x01"}).AppendJSON(nil)},
		{"no rids", koi.NewRidsPayload(nil).AppendJSON(nil)},
		{"manifests", koi.RawManifestsPayload{Manifests: []json.RawMessage{m.AppendJSON(nil)}, NotFound: []string{"orn:github.issue:octo/hello:2"}}.AppendJSON(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			printed, err := koi.AppendPydanticJSON(nil, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if string(printed) != string(tc.payload) {
				t.Fatalf("pydantic prints\n%s\nnot\n%s", printed, tc.payload)
			}
			body, err := koi.SealPrinted(key, tc.payload, v21["S"], v21["C"])
			if err != nil {
				t.Fatal(err)
			}
			env, err := koi.ParseEnvelope(body)
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := koi.PublicKeyString(&key.PublicKey)
			if err := env.Verify(pub); err != nil || string(env.Payload) != string(tc.payload) {
				t.Errorf("verify: %v; payload %s", err, env.Payload)
			}
		})
	}
}
