package benchmarks

import "slices"

// CorpusStats describes the payloads of the first n deliveries of a corpus.
type CorpusStats struct {
	// Source is [Corpus.Source].
	Source string `json:"corpus_source"`
	// Distinct is [Corpus.Len].
	Distinct int `json:"corpus_distinct_payloads"`
	// Events counts deliveries by X-GitHub-Event.
	Events map[string]int `json:"corpus_events"`
	// TotalBytes is the sum of the payload sizes.
	TotalBytes int64 `json:"payload_bytes"`
	// MeanBytes, P50Bytes, P99Bytes and MaxBytes describe the payload size
	// distribution (percentiles by nearest rank).
	MeanBytes float64 `json:"corpus_mean_bytes"`
	// P50Bytes: see MeanBytes.
	P50Bytes int `json:"corpus_p50_bytes"`
	// P99Bytes: see MeanBytes.
	P99Bytes int `json:"corpus_p99_bytes"`
	// MaxBytes: see MeanBytes.
	MaxBytes int `json:"corpus_max_bytes"`
}

// Stats describes the first n deliveries.
func (c *Corpus) Stats(n int) CorpusStats {
	s := CorpusStats{Source: c.source, Distinct: len(c.entries), Events: map[string]int{}}
	if n < 1 {
		return s
	}
	sizes := make([]int, n)
	for i := range n {
		e := &c.entries[i%len(c.entries)]
		sizes[i] = len(e.body)
		s.TotalBytes += int64(len(e.body))
		s.Events[e.event]++
	}
	slices.Sort(sizes)
	s.MeanBytes = float64(s.TotalBytes) / float64(n)
	s.P50Bytes = nearestRank(sizes, 0.50)
	s.P99Bytes = nearestRank(sizes, 0.99)
	s.MaxBytes = sizes[n-1]
	return s
}

// nearestRank returns the q-quantile of sorted by the nearest-rank method:
// the smallest value with at least q of the values at or below it.
func nearestRank[T any](sorted []T, q float64) T {
	var zero T
	if len(sorted) == 0 {
		return zero
	}
	rank := int(q*float64(len(sorted)) + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
