package projections_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/koistream/koistream/projections"
)

// BenchmarkCacheApply is the projection's part of the runner's hot path: a
// poll of 1,000 NEW events of 3.7 kB, spread over three partitions, applied
// through Store.Apply to the cache and committed with its offsets, as the
// runner does per poll (no broker). Pebble's flushes and compactions are
// in it, as in the running node.
func BenchmarkCacheApply(b *testing.B) {
	s, err := projections.OpenStore(b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := projections.NewCache(s)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Attach(c); err != nil {
		b.Fatal(err)
	}
	contents := `{"title":"` + strings.Repeat("lorem ipsum ", 300) + `","n":1}`
	const batch = 1000
	recs := make([]projections.Record, batch)
	var bytes int64
	for i := range recs {
		rid := fmt.Sprintf("orn:github.issue:o/r:%d", i)
		man := `{"rid":"` + rid + `","timestamp":"2025-01-02T03:04:05.123456Z","sha256_hash":"c823c275099e9446e747b73e2ba6b23593ef29c603b75d52649b502334e5ce17"}`
		recs[i] = rec(int32(i%3), int64(i), newEvent(rid, man, contents))
		bytes += int64(len(recs[i].Value))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := range recs {
			recs[i].Offset += batch
		}
		if _, err := s.Apply(recs); err != nil {
			b.Fatal(err)
		}
	}
}
