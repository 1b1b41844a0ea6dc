package backfill

import "strings"

// ParseLink parses an RFC 8288 Link header as GitHub sends it
// (`<url>; rel="next", <url>; rel="last"`) into a map from each relation to
// its URL, verbatim. A link with several space-separated relations is
// listed under each; malformed links are skipped; the first URL of a
// relation wins. It never fails: an absent or unusable header yields an
// empty map.
func ParseLink(h string) map[string]string {
	out := map[string]string{}
	for len(h) > 0 {
		h = strings.TrimLeft(h, " \t,")
		if !strings.HasPrefix(h, "<") {
			// Skip to the next link, if any.
			i := strings.Index(h, ",")
			if i < 0 {
				break
			}
			h = h[i+1:]
			continue
		}
		end := strings.IndexByte(h, '>')
		if end < 0 {
			break
		}
		target := h[1:end]
		h = h[end+1:]
		// Parameters run until the next comma outside quotes.
		var params string
		inQuote := false
		i := 0
		for ; i < len(h); i++ {
			if h[i] == '"' {
				inQuote = !inQuote
			} else if h[i] == ',' && !inQuote {
				break
			}
		}
		params, h = h[:i], h[i:]
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
				continue
			}
			v = strings.Trim(strings.TrimSpace(v), `"`)
			for _, rel := range strings.Fields(v) {
				rel = strings.ToLower(rel)
				if _, dup := out[rel]; !dup && target != "" {
					out[rel] = target
				}
			}
		}
	}
	return out
}
