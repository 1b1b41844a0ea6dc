package eventhive

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/koistream/koistream/topics/jsonscan"
)

// ErrNotJSON is wrapped by the errors Canonical returns for input that is
// not one valid JSON value in valid UTF-8.
var ErrNotJSON = errors.New("eventhive: not valid JSON")

// maxDepth is encoding/json's nesting limit: Canonical accepts what
// encoding/json accepts.
const maxDepth = 10000

// node is one parsed JSON value. Strings and numbers keep their literal
// bytes (a string without its quotes, escapes undecoded): they are written
// straight from them, so nothing is decoded twice.
type node struct {
	kind   byte   // '{', '[', '"', '0' (number), 't', 'f', 'n'
	lit    []byte // string body or number literal
	keyLit []byte // member name literal, when in an object
	// key is the decoded member name, for sorting, when in an object and
	// the name is not plain: plain names (ASCII without escapes, almost
	// all of them) compare as their literal bytes, which order as their
	// code points.
	key     []rune
	plain   bool
	members []*node // object members or array elements, in input order
}

// nodeSlab is how many nodes the parser allocates at a time: one
// allocation instead of one per value (a webhook payload has hundreds),
// which was a third of a sealed message's CPU in allocation and GC.
const nodeSlab = 64

// Canonical returns b, one JSON value, as EventHive's signer writes it:
// Python's json.dumps(json.loads(b), indent=0, sort_keys=True,
// separators=(',', ':')) with ensure_ascii (PUBSUB.md 5.3). That is:
//
//   - a newline after '{' and '[', after every ',' and before '}' and ']'
//     of a non-empty object or array, no other whitespace;
//   - object members sorted by the code points of their names, a name
//     given twice keeping its last value (a Python dict);
//   - strings with '"' and '\' escaped, \b \f \n \r \t for those controls,
//     every other code point below 0x20 or from 0x7F up as \uxxxx in
//     lower-case hex (UTF-16 surrogate pairs above U+FFFF, a lone
//     surrogate escape kept as it was), '/' not escaped;
//   - integers (no fraction, no exponent) as written except that -0 is 0
//     (a Python int); other numbers as the nearest float64 in Python's
//     repr: the shortest digits that round-trip, fixed notation with ".0"
//     when the decimal exponent is from -4 to 15, otherwise d.ddde±XX;
//     numbers beyond float64 as Infinity or -Infinity, as Python writes
//     them.
//
// It fails, with an error wrapping ErrNotJSON, when b is not valid UTF-8
// or not exactly one JSON value as encoding/json reads it (NaN and
// Infinity, which Python also reads, are refused). It is safe for
// concurrent use.
func Canonical(b []byte) ([]byte, error) {
	n, err := parse(b)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+len(b)/8)
	return appendCanonical(out, n), nil
}

func parse(b []byte) (*node, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrNotJSON)
	}
	p := parser{b: b}
	p.space()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(b) {
		return nil, p.errorf("data after the value")
	}
	return n, nil
}

type parser struct {
	b    []byte
	i    int
	slab []node // nodes not yet handed out
}

// node returns a new node of kind; the slab's nodes never move, so the
// pointers handed out stay valid.
func (p *parser) node(kind byte, lit []byte) *node {
	if len(p.slab) == 0 {
		p.slab = make([]node, nodeSlab)
	}
	n := &p.slab[0]
	p.slab = p.slab[1:]
	n.kind, n.lit = kind, lit
	return n
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrNotJSON, p.i, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*node, error) {
	if p.i >= len(p.b) {
		return nil, p.errorf("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		lit, err := p.str()
		if err != nil {
			return nil, err
		}
		return p.node('"', lit), nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case bytes.HasPrefix(p.b[p.i:], []byte("true")):
		p.i += 4
		return p.node('t', nil), nil
	case bytes.HasPrefix(p.b[p.i:], []byte("false")):
		p.i += 5
		return p.node('f', nil), nil
	case bytes.HasPrefix(p.b[p.i:], []byte("null")):
		p.i += 4
		return p.node('n', nil), nil
	}
	return nil, p.errorf("unexpected %q", p.b[p.i])
}

func (p *parser) object(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested too deeply")
	}
	n := p.node('{', nil)
	p.i++ // '{'
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return n, nil
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.errorf("expected a member name")
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.errorf("expected ':'")
		}
		p.i++
		p.space()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		v.keyLit = name
		if v.plain = isPlain(name); !v.plain {
			v.key = decodeRunes(name)
		}
		n.members = append(n.members, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated object")
		}
		if p.b[p.i] == '}' {
			p.i++
			return n, nil
		}
		if p.b[p.i] != ',' {
			return nil, p.errorf("expected ',' or '}'")
		}
		p.i++
		p.space()
	}
}

func (p *parser) array(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested too deeply")
	}
	n := p.node('[', nil)
	p.i++ // '['
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return n, nil
	}
	for {
		p.space()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		n.members = append(n.members, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated array")
		}
		if p.b[p.i] == ']' {
			p.i++
			return n, nil
		}
		if p.b[p.i] != ',' {
			return nil, p.errorf("expected ',' or ']'")
		}
		p.i++
	}
}

// str reads a string at p.i (on its opening quote) and returns its body.
// jsonscan.ValidStringEnd checks it eight bytes at a time; only a string
// it refuses is walked again byte by byte, to say what is wrong.
func (p *parser) str() ([]byte, error) {
	start := p.i + 1
	if end := jsonscan.ValidStringEnd(p.b, start); end >= 0 {
		p.i = end
		return p.b[start : end-1], nil
	}
	for i := start; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			p.i = i + 1
			return p.b[start:i], nil
		case c < 0x20:
			p.i = i
			return nil, p.errorf("control character in a string")
		case c == '\\':
			i++
			if i >= len(p.b) {
				break
			}
			switch p.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := hex4(p.b, i+1); !ok {
					p.i = i
					return nil, p.errorf("bad \\u escape")
				}
				i += 4
			default:
				p.i = i
				return nil, p.errorf("bad escape")
			}
		}
	}
	p.i = len(p.b)
	return nil, p.errorf("unterminated string")
}

func (p *parser) number() (*node, error) {
	start := p.i
	i := p.i
	if p.b[i] == '-' {
		i++
	}
	digits := func() int {
		s := i
		for i < len(p.b) && p.b[i] >= '0' && p.b[i] <= '9' {
			i++
		}
		return i - s
	}
	switch {
	case i < len(p.b) && p.b[i] == '0':
		i++
	case digits() == 0:
		p.i = i
		return nil, p.errorf("bad number")
	}
	if i < len(p.b) && p.b[i] == '.' {
		i++
		if digits() == 0 {
			p.i = i
			return nil, p.errorf("bad fraction")
		}
	}
	if i < len(p.b) && (p.b[i] == 'e' || p.b[i] == 'E') {
		i++
		if i < len(p.b) && (p.b[i] == '+' || p.b[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.i = i
			return nil, p.errorf("bad exponent")
		}
	}
	p.i = i
	return p.node('0', p.b[start:i]), nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// units calls fn with each UTF-16 code unit of the string body lit, as
// Python holds it after json.loads: escapes decoded, a surrogate pair
// given as two escapes or as one UTF-8 character alike. lit is valid.
func units(lit []byte, fn func(u uint16)) {
	for i := 0; i < len(lit); {
		c := lit[i]
		if c == '\\' {
			switch e := lit[i+1]; e {
			case 'u':
				r, _ := hex4(lit, i+2)
				fn(uint16(r))
				i += 6
				continue
			case 'b':
				fn('\b')
			case 'f':
				fn('\f')
			case 'n':
				fn('\n')
			case 'r':
				fn('\r')
			case 't':
				fn('\t')
			default: // '"', '\\', '/'
				fn(uint16(e))
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			fn(uint16(c))
			i++
			continue
		}
		r, size := utf8.DecodeRune(lit[i:])
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			fn(uint16(hi))
			fn(uint16(lo))
		} else {
			fn(uint16(r))
		}
		i += size
	}
}

// isPlain reports whether the string body lit is ASCII without escapes.
func isPlain(lit []byte) bool {
	for _, c := range lit {
		if c >= utf8.RuneSelf || c == '\\' {
			return false
		}
	}
	return true
}

// runes returns the code points of a member's name.
func (n *node) runes() []rune {
	if !n.plain {
		return n.key
	}
	out := make([]rune, len(n.keyLit))
	for i, c := range n.keyLit {
		out[i] = rune(c)
	}
	return out
}

// nameIs reports whether the member's name is name.
func (n *node) nameIs(name string) bool {
	if n.plain {
		return string(n.keyLit) == name
	}
	return slices.Equal(n.key, []rune(name))
}

// compareNames orders two members' names by code point, as Python's
// sort_keys does.
func compareNames(a, b *node) int {
	if a.plain && b.plain {
		return bytes.Compare(a.keyLit, b.keyLit)
	}
	return slices.Compare(a.runes(), b.runes())
}

// decodeRunes returns the code points of the string body lit as Python's
// json.loads makes them: a high surrogate followed by a low one is one code
// point, a lone surrogate stays a code point of its own.
func decodeRunes(lit []byte) []rune {
	var us []uint16
	units(lit, func(u uint16) { us = append(us, u) })
	out := make([]rune, 0, len(us))
	for i := 0; i < len(us); i++ {
		u := rune(us[i])
		if utf16.IsSurrogate(u) && u < 0xdc00 && i+1 < len(us) {
			if r := utf16.DecodeRune(u, rune(us[i+1])); r != utf8.RuneError {
				out = append(out, r)
				i++
				continue
			}
		}
		out = append(out, u)
	}
	return out
}

const hexDigits = "0123456789abcdef"

// appendString appends the string body lit as Python's ensure_ascii
// encoder writes it. Writing each UTF-16 unit is exact: a code point above
// U+FFFF is written as its surrogate pair, and a lone surrogate as itself.
func appendString(dst, lit []byte) []byte {
	dst = append(dst, '"')
	// Most bytes are printable ASCII without escapes, which ensure_ascii
	// writes as they are: copied in runs, the per-unit path below only
	// for the rest (it was most of a sealed message's cost).
	for len(lit) > 0 {
		i := 0
		for i < len(lit) && lit[i] >= 0x20 && lit[i] < 0x7f && lit[i] != '"' && lit[i] != '\\' {
			i++
		}
		dst = append(dst, lit[:i]...)
		lit = lit[i:]
		if len(lit) == 0 {
			break
		}
		// One escape or one multi-byte character through units.
		j := 1
		if lit[0] == '\\' {
			j = 2
			if len(lit) > 1 && lit[1] == 'u' {
				j = 6
			}
		} else if lit[0] >= utf8.RuneSelf {
			_, j = utf8.DecodeRune(lit)
		}
		j = min(j, len(lit))
		dst = appendUnits(dst, lit[:j])
		lit = lit[j:]
	}
	return append(dst, '"')
}

// appendUnits appends the string body lit unit by unit as ensure_ascii
// writes it.
func appendUnits(dst, lit []byte) []byte {
	units(lit, func(u uint16) {
		switch {
		case u == '"':
			dst = append(dst, '\\', '"')
		case u == '\\':
			dst = append(dst, '\\', '\\')
		case u == '\n':
			dst = append(dst, '\\', 'n')
		case u == '\r':
			dst = append(dst, '\\', 'r')
		case u == '\t':
			dst = append(dst, '\\', 't')
		case u == '\b':
			dst = append(dst, '\\', 'b')
		case u == '\f':
			dst = append(dst, '\\', 'f')
		case u < 0x20 || u >= 0x7f:
			dst = append(dst, '\\', 'u', hexDigits[u>>12], hexDigits[u>>8&0xf], hexDigits[u>>4&0xf], hexDigits[u&0xf])
		default:
			dst = append(dst, byte(u))
		}
	})
	return dst
}

// AppendFloat appends f as Python's repr(float) writes it, which is how
// json.dumps writes floats: the shortest digits that read back as f, in
// fixed notation with at least one fractional digit when the decimal
// exponent is from -4 to 15, otherwise as d.ddde±XX; Infinity, -Infinity
// and NaN as json.dumps writes them.
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	}
	if f != 0 {
		if exp := decimalExponent(f); exp < -4 || exp >= 16 {
			return strconv.AppendFloat(dst, f, 'e', -1, 64)
		}
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	if !bytes.ContainsRune(dst[start:], '.') {
		dst = append(dst, '.', '0')
	}
	return dst
}

// decimalExponent is the exponent of f in the shortest scientific form.
func decimalExponent(f float64) int {
	s := strconv.FormatFloat(f, 'e', -1, 64)
	e, _ := strconv.Atoi(s[strings.IndexByte(s, 'e')+1:])
	return e
}

func appendNumber(dst, lit []byte) []byte {
	if !bytes.ContainsAny(lit, ".eE") {
		if string(lit) == "-0" {
			return append(dst, '0')
		}
		return append(dst, lit...)
	}
	f, _ := strconv.ParseFloat(string(lit), 64) // ±Inf on overflow, as Python
	return AppendFloat(dst, f)
}

func appendCanonical(dst []byte, n *node) []byte {
	switch n.kind {
	case '{':
		if len(n.members) == 0 {
			return append(dst, '{', '}')
		}
		ms := lastOfEachName(n.members)
		slices.SortStableFunc(ms, compareNames)
		dst = append(dst, '{', '\n')
		for i, m := range ms {
			if i > 0 {
				dst = append(dst, ',', '\n')
			}
			dst = appendString(dst, m.keyLit)
			dst = append(dst, ':')
			dst = appendCanonical(dst, m)
		}
		return append(dst, '\n', '}')
	case '[':
		if len(n.members) == 0 {
			return append(dst, '[', ']')
		}
		dst = append(dst, '[', '\n')
		for i, m := range n.members {
			if i > 0 {
				dst = append(dst, ',', '\n')
			}
			dst = appendCanonical(dst, m)
		}
		return append(dst, '\n', ']')
	case '"':
		return appendString(dst, n.lit)
	case '0':
		return appendNumber(dst, n.lit)
	case 't':
		return append(dst, "true"...)
	case 'f':
		return append(dst, "false"...)
	}
	return append(dst, "null"...)
}

// lastOfEachName returns the members without those a later member of the
// same name replaces, as a Python dict keeps the last value of a name.
func lastOfEachName(ms []*node) []*node {
	if len(ms) <= 16 {
		// Few members, the usual case: comparing them pairwise is cheaper
		// than a map of their names.
		out := make([]*node, 0, len(ms))
		for i, m := range ms {
			later := false
			for _, o := range ms[i+1:] {
				if compareNames(m, o) == 0 {
					later = true
					break
				}
			}
			if !later {
				out = append(out, m)
			}
		}
		return out
	}
	seen := make(map[string]bool, len(ms))
	out := make([]*node, 0, len(ms))
	for i := len(ms) - 1; i >= 0; i-- {
		k := runeKey(ms[i].runes())
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, ms[i])
	}
	return out
}

// runeKey is a map key for code points, lone surrogates included (which
// string([]rune) would turn into U+FFFD).
func runeKey(rs []rune) string {
	b := make([]byte, 0, 3*len(rs))
	for _, r := range rs {
		b = append(b, byte(r>>16), byte(r>>8), byte(r))
	}
	return string(b)
}
