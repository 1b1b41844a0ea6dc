package yamlconf

import (
	"sort"
	"strings"
)

// Nearest returns the known name a mistyped name most likely meant, or "",
// by the rules the decoder suggests keys with. Stage names use it too.
func Nearest(name string, known []string) string { return nearest(name, known) }

// nearest returns the known key a mistyped key most likely meant, or ""
// when none is close. Close means an edit distance (with transpositions) of
// at most two, or at most half the longer name, or one name being a prefix
// of the other: "partitons" → "partitions", "monitored_repos" →
// "monitored_repositories", "repos" → "repositories".
func nearest(key string, known []string) string {
	k := normalizeKey(key)
	best, bestDist := "", -1
	for _, cand := range known {
		c := normalizeKey(cand)
		d := editDistance(k, c)
		close := d <= 2 || 2*d <= max(len(k), len(c)) ||
			len(k) >= 3 && len(c) >= 3 && (strings.HasPrefix(c, k) || strings.HasPrefix(k, c))
		if !close {
			continue
		}
		if bestDist < 0 || d < bestDist || d == bestDist && cand < best {
			best, bestDist = cand, d
		}
	}
	return best
}

// normalizeKey folds case and treats '-' like '_', so "Node-Name" is
// compared as "node_name".
func normalizeKey(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes each
// cost one.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// knownList formats known keys for a message: sorted, comma-separated.
func knownList(known []string) string {
	s := append([]string(nil), known...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}
