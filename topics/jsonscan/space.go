package jsonscan

// SkipSpace returns the index of the first byte of b at or after i that is
// not JSON whitespace (space, tab, line feed, carriage return), or len(b).
// It is small enough to inline, as it must be: parsers call it between
// every two tokens.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}
