package koi

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/koistream/koistream/topics/jsonscan"
)

// The canonicaliser is written by hand rather than taken from a library
// because it is the fastest by far on what ridify hashes, the contents of
// every observation of the benchmark corpus (BenchmarkJCS in benchmarks,
// RESULTS.md 2026-11-28): median 247 ms a pass against 1,137 ms for
// jsontext's Value.Canonicalize (4.6x) and 4,592 ms for gowebpki/jcs
// v1.0.1 (18.6x); the issue kept it only at 2x or more. Both libraries give
// the same bytes on that corpus and on the RFC 8785 cases, but accept some
// input it rejects (jcs_libraries_test.go).

// MaxNestingDepth is the deepest nesting of JSON arrays and objects that
// Canonicalize accepts. Deeper input is rejected with an error wrapping
// ErrTooDeep. The value matches encoding/json's own limit.
const MaxNestingDepth = 10000

// Sentinel errors returned (wrapped) by Canonicalize and Hash. Use errors.Is
// to test for them; the wrapping error adds the byte offset in the input.
var (
	// ErrInvalidJSON reports input that is not a single well-formed JSON
	// text, including invalid UTF-8 and lone UTF-16 surrogates in strings,
	// which RFC 8785 (via I-JSON, RFC 7493) does not allow.
	ErrInvalidJSON = errors.New("koi: invalid JSON")
	// ErrDuplicateKey reports an object with two members of the same name
	// (compared after resolving escapes), which I-JSON forbids.
	ErrDuplicateKey = errors.New("koi: duplicate object key")
	// ErrNumberRange reports a number whose magnitude overflows IEEE-754
	// double precision (it would become ±Infinity).
	ErrNumberRange = errors.New("koi: number out of float64 range")
	// ErrTooDeep reports input nested deeper than MaxNestingDepth.
	ErrTooDeep = errors.New("koi: JSON nesting too deep")
	// ErrTooLarge reports input longer than MaxCanonicalizeInput.
	ErrTooLarge = errors.New("koi: JSON input too large")
)

// MaxCanonicalizeInput is the longest input, in bytes, that Canonicalize
// accepts (512 MiB); longer input is rejected with an error wrapping
// ErrTooLarge. The bound keeps internal offsets within 32 bits.
const MaxCanonicalizeInput = 512 << 20

// Canonicalize appends the RFC 8785 (JSON Canonicalization Scheme) form of
// the JSON text src to dst and returns the extended buffer.
//
// Object members are sorted by the UTF-16 code units of their names, all
// insignificant whitespace is dropped, strings are re-escaped per RFC 8785
// (only '"', '\\' and U+0000 to U+001F are escaped, the latter with the short
// forms \b \f \n \r \t or as lowercase \u00xx; everything else, including
// U+2028, U+2029, '<', '>', '&' and '/', is written as raw UTF-8), and numbers
// are converted to IEEE-754 doubles and printed as ECMAScript's
// Number.prototype.toString does (so 1.0 becomes 1, -0 becomes 0, 1e21 becomes
// 1e+21, and integers above 2^53 may lose precision).
//
// It returns an error wrapping ErrInvalidJSON for malformed JSON, invalid
// UTF-8 or lone surrogate escapes, ErrDuplicateKey for duplicate member
// names, ErrNumberRange for numbers that overflow float64, ErrTooDeep beyond
// MaxNestingDepth and ErrTooLarge beyond MaxCanonicalizeInput. On error the returned slice is dst unchanged in
// length, although bytes of dst's spare capacity may have been overwritten.
//
// Canonicalize does not retain src or dst and is safe for concurrent use.
func Canonicalize(dst []byte, src []byte) ([]byte, error) {
	s := jcsPool.Get().(*jcsState)
	s.src = src
	s.dst = dst
	s.pos = 0
	s.depth = 0
	err := s.document()
	out := s.dst
	s.reset()
	jcsPool.Put(s)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// Hash returns the lowercase hexadecimal SHA-256 digest of the RFC 8785
// canonical form of the JSON text contents, which is how rid-lib computes a
// Manifest's sha256_hash. It returns the errors of Canonicalize unchanged.
// Hash is safe for concurrent use.
func Hash(contents []byte) (string, error) {
	bp := hashBufPool.Get().(*[]byte)
	canon, err := Canonicalize((*bp)[:0], contents)
	if err != nil {
		hashBufPool.Put(bp)
		return "", err
	}
	sum := sha256.Sum256(canon)
	if cap(canon) <= maxPooledBuf {
		*bp = canon[:0]
	} else {
		*bp = nil
	}
	hashBufPool.Put(bp)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:]), nil
}

// maxPooledBuf bounds the capacity of buffers kept in the pools, so that one
// huge document does not pin memory forever.
const maxPooledBuf = 1 << 20

var hashBufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

var jcsPool = sync.Pool{New: func() any { return new(jcsState) }}

// jcsMember is one object member written to dst: where its decoded name is
// and the span of `"name":value` in dst. It is kept small because sorting
// swaps members.
type jcsMember struct {
	prefix     uint64 // keyPrefix of the decoded name
	keyOff     uint32 // decoded name: src[keyOff:keyEnd], or keys[...] if keyInKeys is set in keyEnd
	keyEnd     uint32
	start, end uint32 // span in dst, relative to the object's '{'
}

// keyInKeys flags jcsMember.keyEnd when the name was decoded into
// jcsState.keys because it contained escapes.
const keyInKeys = 1 << 31

// jcsState is the reusable parser/writer state of one Canonicalize call.
type jcsState struct {
	src     []byte
	pos     int
	dst     []byte
	depth   int
	members []jcsMember // stack of members of the objects being parsed
	keys    []byte      // decoded names that contained escapes
	tmp     []byte      // scratch for reordering members
	scratch []jcsMember // scratch for merge sort
}

func (s *jcsState) reset() {
	s.src = nil
	s.dst = nil
	s.members = s.members[:0]
	s.keys = s.keys[:0]
	s.tmp = s.tmp[:0]
	if cap(s.tmp) > maxPooledBuf {
		s.tmp = nil
	}
	if cap(s.keys) > maxPooledBuf {
		s.keys = nil
	}
	if cap(s.members) > maxPooledBuf/24 {
		s.members = nil
	}
	if cap(s.scratch) > maxPooledBuf/24 {
		s.scratch = nil
	}
}

func (s *jcsState) fail(sentinel error, off int, what string) error {
	return fmt.Errorf("%w: %s at offset %d", sentinel, what, off)
}

func (s *jcsState) document() error {
	if len(s.src) > MaxCanonicalizeInput {
		return s.fail(ErrTooLarge, 0, fmt.Sprintf("%d bytes", len(s.src)))
	}
	s.skipWS()
	if err := s.value(); err != nil {
		return err
	}
	s.skipWS()
	if s.pos != len(s.src) {
		return s.fail(ErrInvalidJSON, s.pos, "unexpected data after top-level value")
	}
	return nil
}

func (s *jcsState) skipWS() {
	s.pos = jsonscan.SkipSpace(s.src, s.pos)
}

// value parses one JSON value at s.pos (whitespace already skipped) and
// writes its canonical form.
func (s *jcsState) value() error {
	if s.pos >= len(s.src) {
		return s.fail(ErrInvalidJSON, s.pos, "unexpected end of input")
	}
	switch c := s.src[s.pos]; c {
	case '{':
		return s.object()
	case '[':
		return s.array()
	case '"':
		s.pos++
		_, _, _, err := s.str()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return s.number()
		}
		return s.fail(ErrInvalidJSON, s.pos, fmt.Sprintf("invalid character %q looking for a value", c))
	}
}

func (s *jcsState) literal(lit string) error {
	end := s.pos + len(lit)
	if end > len(s.src) || string(s.src[s.pos:end]) != lit {
		return s.fail(ErrInvalidJSON, s.pos, "invalid literal")
	}
	s.dst = append(s.dst, lit...)
	s.pos = end
	return nil
}

func (s *jcsState) array() error {
	s.depth++
	if s.depth > MaxNestingDepth {
		return s.fail(ErrTooDeep, s.pos, "array")
	}
	s.pos++ // '['
	s.dst = append(s.dst, '[')
	s.skipWS()
	if s.pos < len(s.src) && s.src[s.pos] == ']' {
		s.pos++
		s.dst = append(s.dst, ']')
		s.depth--
		return nil
	}
	for {
		s.skipWS()
		if err := s.value(); err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(s.src) {
			return s.fail(ErrInvalidJSON, s.pos, "unexpected end of input in array")
		}
		switch s.src[s.pos] {
		case ',':
			s.pos++
			s.dst = append(s.dst, ',')
		case ']':
			s.pos++
			s.dst = append(s.dst, ']')
			s.depth--
			return nil
		default:
			return s.fail(ErrInvalidJSON, s.pos, "expected ',' or ']' in array")
		}
	}
}

func (s *jcsState) object() error {
	s.depth++
	if s.depth > MaxNestingDepth {
		return s.fail(ErrTooDeep, s.pos, "object")
	}
	objOff := s.pos
	s.pos++ // '{'
	objStart := len(s.dst)
	s.dst = append(s.dst, '{')
	s.skipWS()
	if s.pos < len(s.src) && s.src[s.pos] == '}' {
		s.pos++
		s.dst = append(s.dst, '}')
		s.depth--
		return nil
	}
	base := len(s.members)
	keysBase := len(s.keys)
	for {
		s.skipWS()
		if s.pos >= len(s.src) || s.src[s.pos] != '"' {
			return s.fail(ErrInvalidJSON, s.pos, "expected string for object member name")
		}
		s.pos++
		m := jcsMember{start: uint32(len(s.dst) - objStart)}
		rawStart, rawEnd, escaped, err := s.str()
		if err != nil {
			return err
		}
		var key []byte
		if escaped {
			off := len(s.keys)
			s.keys = jsonscan.AppendUnescaped(s.keys, s.src[rawStart:rawEnd])
			key = s.keys[off:]
			m.keyOff, m.keyEnd = uint32(off), uint32(len(s.keys))|keyInKeys
		} else {
			key = s.src[rawStart:rawEnd]
			m.keyOff, m.keyEnd = uint32(rawStart), uint32(rawEnd)
		}
		m.prefix = keyPrefix(key)
		s.skipWS()
		if s.pos >= len(s.src) || s.src[s.pos] != ':' {
			return s.fail(ErrInvalidJSON, s.pos, "expected ':' after object member name")
		}
		s.pos++
		s.dst = append(s.dst, ':')
		s.skipWS()
		if err := s.value(); err != nil {
			return err
		}
		m.end = uint32(len(s.dst) - objStart)
		s.members = append(s.members, m)
		s.skipWS()
		if s.pos >= len(s.src) {
			return s.fail(ErrInvalidJSON, s.pos, "unexpected end of input in object")
		}
		c := s.src[s.pos]
		if c == ',' {
			s.pos++
			s.dst = append(s.dst, ',')
			continue
		}
		if c != '}' {
			return s.fail(ErrInvalidJSON, s.pos, "expected ',' or '}' in object")
		}
		s.pos++
		break
	}
	if err := s.sortMembers(objOff, objStart, base); err != nil {
		return err
	}
	s.dst = append(s.dst, '}')
	s.members = s.members[:base]
	s.keys = s.keys[:keysBase]
	s.depth--
	return nil
}

// key returns the decoded name of m.
func (s *jcsState) key(m *jcsMember) []byte {
	if m.keyEnd&keyInKeys != 0 {
		return s.keys[m.keyOff : m.keyEnd&^keyInKeys]
	}
	return s.src[m.keyOff:m.keyEnd]
}

// lessMembers reports whether member a sorts before member b by name in
// UTF-16 code unit order. Differing prefixes decide on their own (see
// keyPrefix); the fast path is small enough to be inlined.
func (s *jcsState) lessMembers(a, b *jcsMember) bool {
	if a.prefix != b.prefix {
		return a.prefix < b.prefix
	}
	return s.compareKeys(a, b) < 0
}

// compareKeys compares the full names of two members.
func (s *jcsState) compareKeys(a, b *jcsMember) int {
	return compareUTF16(s.key(a), s.key(b))
}

// keyPrefix packs the first 8 bytes of the valid UTF-8 name key,
// big-endian and zero-padded, such that when two names' prefixes differ,
// comparing the prefixes as integers orders the names by UTF-16 code units.
//
// Byte order of UTF-8 is code point order, which differs from UTF-16 order
// only in that supplementary characters (lead bytes 0xF0-0xF4, surrogate
// pairs in UTF-16) sort before U+E000-U+FFFF (lead bytes 0xEE-0xEF). Since
// two names with a common prefix have the same rune boundaries, the first
// differing byte is either in the same multi-byte sequence (same lead byte,
// so code point order is right) or a lead byte in both; remapping lead bytes
// 0xF0-0xF4 to 0xEE-0xF2 and 0xEE-0xEF to 0xF3-0xF4 fixes their order.
// Continuation bytes and ASCII are below 0xEE and left alone. A name that
// ends early pads with zero, which sorts a proper prefix first (or ties with
// a U+0000 byte, in which case the full names are compared).
func keyPrefix(key []byte) uint64 {
	var p uint64
	if len(key) >= 8 {
		p = binary.BigEndian.Uint64(key)
	} else {
		for i, c := range key {
			p |= uint64(c) << (56 - 8*i)
		}
	}
	if p&0x8080808080808080 == 0 {
		return p
	}
	var q uint64
	for shift := 56; shift >= 0; shift -= 8 {
		c := byte(p >> shift)
		switch {
		case c >= 0xF0:
			c -= 2
		case c >= 0xEE:
			c += 5
		}
		q |= uint64(c) << shift
	}
	return q
}

// sortMembers reorders the members written since objStart+1 into RFC 8785
// order and reports duplicate names.
func (s *jcsState) sortMembers(objOff, objStart, base int) error {
	ms := s.members[base:]
	sorted := true
	for i := 1; i < len(ms); i++ {
		if !s.lessMembers(&ms[i-1], &ms[i]) {
			sorted = false
			break
		}
	}
	if sorted {
		return nil // strictly increasing: no duplicates either
	}
	s.sortRange(ms)
	for i := 1; i < len(ms); i++ {
		if !s.lessMembers(&ms[i-1], &ms[i]) {
			return s.fail(ErrDuplicateKey, objOff, fmt.Sprintf("name %q in object", s.key(&ms[i])))
		}
	}
	s.tmp = append(s.tmp[:0], s.dst[objStart:]...)
	s.dst = s.dst[:objStart+1]
	for i, m := range ms {
		if i > 0 {
			s.dst = append(s.dst, ',')
		}
		s.dst = append(s.dst, s.tmp[m.start:m.end]...)
	}
	return nil
}

// sortRange sorts members by name: a bottom-up merge sort over
// insertion-sorted runs, O(n log n) in the worst case whatever the input,
// with comparisons inlined (slices.SortFunc is several times slower here).
func (s *jcsState) sortRange(ms []jcsMember) {
	const run = 16
	n := len(ms)
	for lo := 0; lo < n; lo += run {
		s.insertionSort(ms[lo:min(lo+run, n)])
	}
	if n <= run {
		return
	}
	if cap(s.scratch) < n {
		s.scratch = make([]jcsMember, n)
	}
	src, dst := ms, s.scratch[:n]
	for width := run; width < n; width *= 2 {
		for lo := 0; lo < n; lo += 2 * width {
			mid := min(lo+width, n)
			hi := min(lo+2*width, n)
			s.merge(dst[lo:hi], src[lo:mid], src[mid:hi])
		}
		src, dst = dst, src
	}
	if &src[0] != &ms[0] {
		copy(ms, src)
	}
}

func (s *jcsState) insertionSort(ms []jcsMember) {
	for i := 1; i < len(ms); i++ {
		if !s.lessMembers(&ms[i], &ms[i-1]) {
			continue
		}
		x := ms[i]
		j := i - 1
		for j > 0 && s.lessMembers(&x, &ms[j-1]) {
			j--
		}
		copy(ms[j+1:i+1], ms[j:i])
		ms[j] = x
	}
}

// merge merges the sorted runs a and b into out, which has room for both.
func (s *jcsState) merge(out, a, b []jcsMember) {
	i, j, k := 0, 0, 0
	for i < len(a) && j < len(b) {
		if s.lessMembers(&b[j], &a[i]) {
			out[k] = b[j]
			j++
		} else {
			out[k] = a[i]
			i++
		}
		k++
	}
	k += copy(out[k:], a[i:])
	copy(out[k:], b[j:])
}

// compareUTF16 compares two valid UTF-8 strings by their UTF-16 code units,
// as RFC 8785 section 3.2.3 requires.
func compareUTF16(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return len(a) - len(b)
	}
	if a[i] < utf8.RuneSelf || b[i] < utf8.RuneSelf {
		// An ASCII byte is a rune boundary in both strings (they share the
		// prefix and are valid UTF-8), and ASCII sorts first in both orders.
		return int(a[i]) - int(b[i])
	}
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	ra, _ := utf8.DecodeRune(a[i:])
	rb, _ := utf8.DecodeRune(b[i:])
	// UTF-16 order equals code point order except that supplementary
	// characters (encoded with surrogates 0xD800-0xDFFF) sort before
	// U+E000-U+FFFF.
	if (ra >= 0x10000) != (rb >= 0x10000) {
		if ra >= 0x10000 {
			if rb >= 0xE000 {
				return -1
			}
			return 1
		}
		if ra >= 0xE000 {
			return 1
		}
		return -1
	}
	return int(ra) - int(rb)
}

// str parses a string whose opening quote has been consumed and writes its
// canonical form. It returns the raw byte range of the string body in src
// and whether the body contained escape sequences.
func (s *jcsState) str() (start, end int, escaped bool, err error) {
	src := s.src
	start = s.pos
	i := start
	run := i
	s.dst = append(s.dst, '"')
	for {
		i = jsonscan.PlainEnd(src, i)
		if i >= len(src) {
			return 0, 0, false, s.fail(ErrInvalidJSON, i, "unterminated string")
		}
		c := src[i]
		switch {
		case c == '"':
			s.dst = append(s.dst, src[run:i]...)
			s.dst = append(s.dst, '"')
			s.pos = i + 1
			return start, i, escaped, nil
		case c == '\\':
			s.dst = append(s.dst, src[run:i]...)
			escaped = true
			n, err := s.escape(i)
			if err != nil {
				return 0, 0, false, err
			}
			i += n
			run = i
		case c < 0x20:
			return 0, 0, false, s.fail(ErrInvalidJSON, i, "control character in string")
		default: // c >= 0x80
			r, size := utf8.DecodeRune(src[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false, s.fail(ErrInvalidJSON, i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
}

// escape decodes the escape sequence at src[i] (a backslash), writes the
// canonical form of the character and returns the length of the sequence.
func (s *jcsState) escape(i int) (int, error) {
	src := s.src
	if i+1 >= len(src) {
		return 0, s.fail(ErrInvalidJSON, i, "unterminated escape sequence")
	}
	switch src[i+1] {
	case '"':
		s.dst = append(s.dst, '\\', '"')
	case '\\':
		s.dst = append(s.dst, '\\', '\\')
	case '/':
		s.dst = append(s.dst, '/')
	case 'b':
		s.dst = append(s.dst, '\\', 'b')
	case 'f':
		s.dst = append(s.dst, '\\', 'f')
	case 'n':
		s.dst = append(s.dst, '\\', 'n')
	case 'r':
		s.dst = append(s.dst, '\\', 'r')
	case 't':
		s.dst = append(s.dst, '\\', 't')
	case 'u':
		r, n, err := s.unicodeEscape(i)
		if err != nil {
			return 0, err
		}
		s.dst = appendCanonicalRune(s.dst, r)
		return n, nil
	default:
		return 0, s.fail(ErrInvalidJSON, i, "invalid escape sequence")
	}
	return 2, nil
}

// unicodeEscape decodes \uXXXX at src[i], combining a surrogate pair, and
// returns the rune and the number of bytes consumed.
func (s *jcsState) unicodeEscape(i int) (rune, int, error) {
	r, ok := jsonscan.Hex4(s.src, i+2)
	if !ok {
		return 0, 0, s.fail(ErrInvalidJSON, i, "invalid \\u escape")
	}
	switch {
	case r >= 0xDC00 && r < 0xE000:
		return 0, 0, s.fail(ErrInvalidJSON, i, "lone low surrogate in \\u escape")
	case r >= 0xD800 && r < 0xDC00:
		j := i + 6
		if j+1 >= len(s.src) || s.src[j] != '\\' || s.src[j+1] != 'u' {
			return 0, 0, s.fail(ErrInvalidJSON, i, "lone high surrogate in \\u escape")
		}
		lo, ok := jsonscan.Hex4(s.src, j+2)
		if !ok {
			return 0, 0, s.fail(ErrInvalidJSON, j, "invalid \\u escape")
		}
		if lo < 0xDC00 || lo >= 0xE000 {
			return 0, 0, s.fail(ErrInvalidJSON, i, "lone high surrogate in \\u escape")
		}
		return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12, nil
	}
	return r, 6, nil
}

const lowerHex = "0123456789abcdef"

// appendCanonicalRune appends r as it appears inside an RFC 8785 string.
func appendCanonicalRune(dst []byte, r rune) []byte {
	switch r {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if r < 0x20 {
		return append(dst, '\\', 'u', '0', '0', lowerHex[r>>4], lowerHex[r&0xF])
	}
	return utf8.AppendRune(dst, r)
}

// number parses a JSON number and writes it in ECMAScript format.
func (s *jcsState) number() error {
	start := s.pos
	end, integer := jsonscan.NumberEnd(s.src, start)
	if end < 0 {
		return s.fail(ErrInvalidJSON, start, "invalid number")
	}
	s.pos = end
	lit := s.src[start:end]
	digits := lit
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if integer && len(digits) <= 15 {
		// Exactly representable, and printed by ECMAScript as plain digits.
		if len(digits) == 1 && digits[0] == '0' {
			s.dst = append(s.dst, '0') // also turns -0 into 0
		} else {
			s.dst = append(s.dst, lit...)
		}
		return nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) {
		return s.fail(ErrNumberRange, start, "number")
	}
	s.dst = appendESNumber(s.dst, f)
	return nil
}

// appendESNumber appends the finite float64 f formatted like ECMAScript's
// Number::toString (ECMA-262 section 6.1.6.1.20), as RFC 8785 section 3.2.2.3
// requires.
func appendESNumber(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0')
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // [-]d[.ddd]e±dd
	if b[0] == '-' {
		dst = append(dst, '-')
		b = b[1:]
	}
	var digits [24]byte
	digits[0] = b[0]
	k := 1
	j := 1
	if b[1] == '.' {
		for j = 2; b[j] != 'e'; j++ {
			digits[k] = b[j]
			k++
		}
	}
	// b[j] == 'e'
	exp := 0
	for _, c := range b[j+2:] {
		exp = exp*10 + int(c-'0')
	}
	if b[j+1] == '-' {
		exp = -exp
	}
	n := exp + 1 // f = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits[:k]...)
		for ; k < n; k++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:k]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for ; n < 0; n++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits[:k]...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:k]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst
}
