package benchmarks

// patch is a place in a generated payload that later passes vary.
type patch struct {
	off  int
	kind byte
}

const (
	patchSHA     = 's' // 40 hex digits: the last 8 change
	patchISOTime = 't' // "YYYY-MM-DDTHH:MM:SS...": MM:SS move forward
	patchUnix    = 'u' // a 10-digit Unix time after `_at":`: the last 4 digits change
)

// findPatches locates the commit shas and timestamps of a compact payload.
func findPatches(b []byte) []patch {
	var ps []patch
	for i := 0; i < len(b); i++ {
		switch {
		case isHex(b[i]) && (i == 0 || !isAlnum(b[i-1])):
			j := i
			for j < len(b) && isHex(b[j]) {
				j++
			}
			if j-i == 40 && (j == len(b) || !isAlnum(b[j])) && !allZero(b[i:j]) {
				ps = append(ps, patch{off: i, kind: patchSHA})
			}
			i = j - 1
		case b[i] == '"' && isISOTime(b[i+1:]):
			ps = append(ps, patch{off: i + 1, kind: patchISOTime})
			i += 20
		case b[i] == ':' && i >= 4 && string(b[i-4:i]) == `_at"` && isDigits(b[i+1:], 10):
			ps = append(ps, patch{off: i + 1, kind: patchUnix})
			i += 10
		}
	}
	return ps
}

// apply varies b at p for pass (≥ 1). The result depends only on the
// original bytes and pass, so repeated values (a sha in commits and in
// head_commit) stay equal, and it never changes the length.
func (p patch) apply(b []byte, pass int) {
	switch p.kind {
	case patchSHA:
		s := b[p.off+32 : p.off+40]
		var v uint32
		for _, c := range s {
			v = v<<4 | uint32(unhex(c))
		}
		v ^= uint32(splitmix(uint64(pass)))
		for i := 7; i >= 0; i-- {
			s[i] = hexDigits[v&0xf]
			v >>= 4
		}
	case patchISOTime:
		// MM:SS at offsets 14..18 of "YYYY-MM-DDTHH:MM:SS".
		s := b[p.off+14 : p.off+19]
		secs := (int(s[0]-'0')*10+int(s[1]-'0'))*60 + int(s[3]-'0')*10 + int(s[4]-'0')
		secs = (secs + pass) % 3600
		m, sec := secs/60, secs%60
		s[0], s[1], s[3], s[4] = byte('0'+m/10), byte('0'+m%10), byte('0'+sec/10), byte('0'+sec%10)
	case patchUnix:
		s := b[p.off+6 : p.off+10]
		v := 0
		for _, c := range s {
			v = v*10 + int(c-'0')
		}
		v = (v + pass) % 10000
		for i := 3; i >= 0; i-- {
			s[i] = byte('0' + v%10)
			v /= 10
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}

func isDigits(b []byte, n int) bool {
	if len(b) < n+1 {
		return false
	}
	for _, c := range b[:n] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return b[n] < '0' || b[n] > '9'
}

// isISOTime reports whether b starts with "YYYY-MM-DDTHH:MM:SS".
func isISOTime(b []byte) bool {
	const layout = "dddd-dd-ddTdd:dd:dd"
	if len(b) < len(layout) {
		return false
	}
	for i := range len(layout) {
		switch layout[i] {
		case 'd':
			if b[i] < '0' || b[i] > '9' {
				return false
			}
		default:
			if b[i] != layout[i] {
				return false
			}
		}
	}
	return true
}
