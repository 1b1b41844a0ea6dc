package jsonscan

import (
	"encoding/binary"
	"errors"
)

// ErrTooDeep is returned by ValueEnd for a value nested deeper than its
// limit.
var ErrTooDeep = errors.New("nested too deep")

// The other faults ValueEnd finds. They are fixed values so that a record
// that fails costs no allocation before its caller wraps the error.
var (
	errMissingValue = errors.New("missing value")
	errUnterminated = errors.New("unterminated string")
	errUnbalanced   = errors.New("unbalanced value")
)

// ValueEnd returns the index after the JSON value that starts at b[i]
// (whitespace already skipped), without validating it: it finds the
// closing quote of a string with StringEnd, and the bracket that closes an
// object or array by counting brackets outside strings, which it skips
// whole. A bracket of the wrong kind counts as the right one, and a
// number, true, false or null is whatever runs up to the next ',', '}',
// ']' or whitespace. It returns an error wrapping ErrTooDeep when objects
// and arrays nest more than maxDepth deep, and another error when b ends
// before the value does or there is no value at i.
//
// It is for input that was validated before or will be by a decoder: the
// events parser slices a record's contents out with it, and the webhook
// precheck measures a payload's nesting.
func ValueEnd(b []byte, i, maxDepth int) (int, error) {
	if i >= len(b) {
		return 0, errMissingValue
	}
	switch b[i] {
	case '"':
		e := StringEnd(b, i+1)
		if e < 0 {
			return 0, errUnterminated
		}
		return e, nil
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			// Most bytes of a value are none of the five that matter here.
			for j+8 <= len(b) && !structural8(binary.LittleEndian.Uint64(b[j:])) {
				j += 8
			}
			if j >= len(b) {
				break
			}
			switch b[j] {
			case '"':
				e := StringEnd(b, j+1)
				if e < 0 {
					return 0, errUnterminated
				}
				j = e - 1
			case '{', '[':
				depth++
				if depth > maxDepth {
					return 0, ErrTooDeep
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errUnbalanced
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
			j++
		}
		if j == i {
			return 0, errMissingValue
		}
		return j, nil
	}
}

// structural8 reports whether one of the eight bytes of x is '"', '{',
// '}', '[' or ']'. '[' and ']' differ from '{' and '}' only in bit 0x20,
// and no other byte becomes '{' or '}' when that bit is set, so three
// zero-byte tests cover the five: the function inlines (five tests did
// not, and cost a call every eight bytes). A backslash matters only inside
// strings, which StringEnd skips whole.
func structural8(x uint64) bool {
	f := x | lo*0x20
	q := x ^ (lo * '"')
	o := f ^ (lo * '{')
	c := f ^ (lo * '}')
	return ((q-lo)&^q|(o-lo)&^o|(c-lo)&^c)&hi != 0
}
