package koi_test

import (
	"testing"

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
