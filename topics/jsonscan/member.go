package jsonscan

// HasMember reports whether b, which must be valid JSON (check it first:
// the scanners assume it), is an object with a top-level member named one
// of names (compared unescaped). Values deeper than maxDepth end the scan
// with false. The KOI-net API tells signed envelopes from bare payloads by
// it, and the koi-net parser does the same with the bodies it reads back.
func HasMember(b []byte, maxDepth int, names ...string) bool {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	var key []byte
	i = SkipSpace(b, i+1)
	for i < len(b) && b[i] != '}' {
		end := StringEnd(b, i+1)
		key = AppendUnescaped(key[:0], b[i+1:end-1])
		for _, n := range names {
			if string(key) == n {
				return true
			}
		}
		i = SkipSpace(b, end)
		i = SkipSpace(b, i+1) // past ':'
		vend, err := ValueEnd(b, i, maxDepth)
		if err != nil {
			return false
		}
		i = SkipSpace(b, vend)
		if i < len(b) && b[i] == ',' {
			i = SkipSpace(b, i+1)
		}
	}
	return false
}
