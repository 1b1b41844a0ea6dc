package benchmarks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gowebpki/jcs"

	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/observed"
)

// BenchmarkJCS and TestJCSLibrariesAgreeOnCorpus measure koi.Canonicalize,
// the hand-written RFC 8785 canonicaliser, against the two Go libraries
// (issue 9) on what ridify hashes: the contents of every observation of
// the default generated corpus. koi stays because the issue asked for 2x
// and it is 4.6x as fast as the fastest library, jsontext (median 247
// against 1,137 ms a pass; RESULTS.md, 2026-11-28); the libraries are test
// dependencies only.

// observedContents returns the Contents of every upsert observation that
// stages/github.Normalize makes of the deliveries of one pass over the
// default generated corpus: the inputs of ridify's content hash.
var observedContents = sync.OnceValues(func() ([][]byte, error) {
	c, err := GenerateCorpus(DefaultSeed, DefaultCorpusSize)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for i := range c.Len() {
		d := c.Delivery(i)
		obs, err := github.Normalize(github.Input{Event: d.Event, Delivery: d.ID, ContentType: "application/json", Body: d.Body})
		if err != nil {
			return nil, fmt.Errorf("delivery %d (%s): %w", i, d.Event, err)
		}
		for _, o := range obs {
			if o.Op == observed.OpUpsert {
				out = append(out, o.Contents)
			}
		}
	}
	return out, nil
})

// canonicalizer is one RFC 8785 implementation called as ridify calls
// koi.Canonicalize: append the canonical form of src, which must not be
// modified (it goes out as the bundle contents), to dst.
type canonicalizer struct {
	name  string
	canon func(dst, src []byte) ([]byte, error)
}

// canonicalizers are the implementations compared, koi first (the base of
// benchstat's comparison) and the closest rival next to it, so that the two
// run close together in time on a shared machine.
var canonicalizers = []canonicalizer{
	{"koi", koi.Canonicalize},
	{"jsontext", func(dst, src []byte) ([]byte, error) {
		// Value.Canonicalize rewrites its receiver: work on a copy.
		start := len(dst)
		dst = append(dst, src...)
		v := jsontext.Value(dst[start:])
		if err := v.Canonicalize(); err != nil {
			return dst[:start], err
		}
		return append(dst[:start], v...), nil
	}},
	{"gowebpki", func(dst, src []byte) ([]byte, error) {
		out, err := jcs.Transform(src)
		return append(dst, out...), err
	}},
}

// hashWith is koi.Hash on top of impl: the lowercase hexadecimal SHA-256 of
// the canonical form, canonicalised into a pooled buffer as koi.Hash does.
func hashWith(impl canonicalizer) func([]byte) (string, error) {
	pool := sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}
	return func(contents []byte) (string, error) {
		bp := pool.Get().(*[]byte)
		defer pool.Put(bp)
		canon, err := impl.canon((*bp)[:0], contents)
		if err != nil {
			return "", err
		}
		*bp = canon[:0]
		sum := sha256.Sum256(canon)
		return hex.EncodeToString(sum[:]), nil
	}
}

// TestJCSLibrariesAgreeOnCorpus checks that every implementation gives the
// same canonical bytes for every observation's contents, the condition for
// comparing their speed at all. With -race it checks every eighth.
func TestJCSLibrariesAgreeOnCorpus(t *testing.T) {
	cs, err := observedContents()
	if err != nil {
		t.Fatal(err)
	}
	stride := 1
	if raceEnabled {
		stride = 8
	}
	for _, impl := range canonicalizers[1:] {
		t.Run(impl.name, func(t *testing.T) {
			var want, got []byte
			for i := 0; i < len(cs); i += stride {
				c := cs[i]
				if want, err = koi.Canonicalize(want[:0], c); err != nil {
					t.Fatalf("koi: contents %d: %v\n%s", i, err, c)
				}
				if got, err = impl.canon(got[:0], c); err != nil {
					t.Fatalf("contents %d: %v\n%s", i, err, c)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("contents %d differs from koi:\n got %s\nwant %s", i, got, want)
				}
			}
		})
	}
}

// BenchmarkJCS canonicalises (op=canonicalize) and hashes (op=hash) the
// contents of every observation of one pass over the default corpus with
// each implementation. One op is one pass over all the contents, so MB/s
// is of contents bytes; ns/contents and cpu-ns/contents are the mean wall
// and process CPU time per observation.
// Run it interleaved, for example:
//
//	go test -c -o /tmp/jcs.test ./benchmarks
//	for i in $(seq 10); do /tmp/jcs.test -test.run '^$' -test.bench JCS -test.benchmem; done > jcs.txt
//	benchstat -col /impl jcs.txt
func BenchmarkJCS(b *testing.B) {
	cs, err := observedContents()
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, c := range cs {
		total += int64(len(c))
	}
	// perContents reports the mean wall and process CPU time (which counts
	// the garbage collector's work on other cores) per observation.
	perContents := func(b *testing.B, start cpuSnapshot) {
		n := float64(b.N) * float64(len(cs))
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/contents")
		b.ReportMetric(float64(start.until(takeCPUSnapshot()).process.Nanoseconds())/n, "cpu-ns/contents")
	}
	for _, impl := range canonicalizers {
		b.Run("op=canonicalize/impl="+impl.name, func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			var buf []byte
			var err error
			start := takeCPUSnapshot()
			for b.Loop() {
				for _, c := range cs {
					if buf, err = impl.canon(buf[:0], c); err != nil {
						b.Fatal(err)
					}
				}
			}
			perContents(b, start)
		})
	}
	for _, impl := range canonicalizers {
		hash := hashWith(impl)
		if impl.name == "koi" {
			hash = koi.Hash
		}
		b.Run("op=hash/impl="+impl.name, func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			start := takeCPUSnapshot()
			for b.Loop() {
				for _, c := range cs {
					if _, err := hash(c); err != nil {
						b.Fatal(err)
					}
				}
			}
			perContents(b, start)
		})
	}
}
