package jsonscan

// NumberEnd returns the index after the JSON number (RFC 8259: an optional
// minus, an integer part without leading zeros, an optional fraction and an
// optional exponent) that starts at b[i], or -1 if none does or if a
// fraction or exponent has no digits ("1.", "1e+"), which no JSON text can
// hold where a number ends. What follows the number is the caller's to
// check ("01" is the number 0 and then a 1). integer
// reports that the number has neither fraction nor exponent, so a caller
// can take its digits as they are (the canonicaliser prints integers of up
// to 15 digits unchanged rather than through strconv.ParseFloat).
func NumberEnd(b []byte, i int) (end int, integer bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digitsEnd(b, i+1)
	default:
		return -1, false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			return -1, false
		}
		i, integer = j, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			return -1, false
		}
		i, integer = j, false
	}
	return i, integer
}

// digitsEnd returns the index after the run of ASCII digits at b[i:].
func digitsEnd(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
