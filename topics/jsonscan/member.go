package jsonscan

// HasMember reports whether b, which must be valid JSON (check it first:
// the scanners assume it), is an object with a top-level member named one
// of names (compared unescaped). Values deeper than maxDepth end the scan
// with false. The KOI-net API tells signed envelopes from bare payloads by
// it, and the koi-net parser does the same with the bodies it reads back.
func HasMember(b []byte, maxDepth int, names ...string) bool {
	found := false
	_ = EachMember(b, maxDepth, func(m Member) bool {
		for _, n := range names {
			if string(m.Name) == n {
				found = true
				return false
			}
		}
		return true
	})
	return found
}
