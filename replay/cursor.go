package replay

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
)

// Cursor is a position in the events topic: for each partition, the offset
// of the next record to read. The cursor a subscriber receives with an
// item is the position right after it (and after every record before it
// that the subscription skipped), so resuming with it delivers exactly the
// items that followed, after a restart of the node too: Kafka offsets are
// durable. A partition the cursor does not name starts at its first
// offset. The zero Cursor is the start of the topic.
//
// A Cursor is a value; its methods never modify the receiver except
// Advance. It is not safe for concurrent use while Advance is called.
type Cursor struct {
	next []int64 // index: partition
}

// cursorVersion is the first byte of an encoded cursor.
const cursorVersion = 1

// ErrBadCursor is wrapped by every error ParseCursor returns.
var ErrBadCursor = errors.New("replay: not a cursor")

// maxCursorPartitions bounds what ParseCursor accepts: far more partitions
// than a topic has (Kafka's own soft limit per broker is 4,000), few enough
// that a hostile cursor cannot make the server allocate much.
const maxCursorPartitions = 1 << 12

// NewCursor returns the cursor at next[p] for each partition p. It copies
// next.
func NewCursor(next []int64) Cursor {
	return Cursor{next: append([]int64(nil), next...)}
}

// Next returns the offset of the next record to read from partition p.
func (c Cursor) Next(p int32) int64 {
	if int(p) < len(c.next) {
		return c.next[p]
	}
	return 0
}

// Partitions returns how many partitions the cursor names.
func (c Cursor) Partitions() int { return len(c.next) }

// Advance moves the cursor past offset of partition p: Next(p) becomes
// offset+1 unless it is already beyond.
func (c *Cursor) Advance(p int32, offset int64) {
	if int(p) >= len(c.next) {
		c.next = append(c.next, make([]int64, int(p)+1-len(c.next))...)
	}
	if offset+1 > c.next[p] {
		c.next[p] = offset + 1
	}
}

// Clone returns a copy that Advance on either does not affect.
func (c Cursor) Clone() Cursor { return NewCursor(c.next) }

// String encodes the cursor: unpadded URL-safe base64 of a version byte,
// the partition count and each partition's next offset as unsigned
// varints, and a CRC-32C of those bytes (2 bytes of it), so that a string
// from another server (a PyPubSub UUID) is refused rather than read as a
// position. The same position always encodes the same way. Eight
// partitions at offsets in the millions take about 40 characters.
func (c Cursor) String() string { return string(c.AppendText(nil)) }

// AppendText appends String's encoding to dst.
func (c Cursor) AppendText(dst []byte) []byte {
	// The binary form is built in dst's spare capacity, past where its
	// text goes, and encoded down into place: a cursor is encoded for every
	// item every subscriber is sent, and a buffer of its own escaped to the
	// heap (crc32 leaks its argument), an allocation per delivery.
	maxRaw := 1 + binary.MaxVarintLen64*(1+len(c.next)) + 2
	maxEnc := base64.RawURLEncoding.EncodedLen(maxRaw)
	start := len(dst)
	dst = slices.Grow(dst, maxEnc+maxRaw)
	raw := dst[start+maxEnc : start+maxEnc+maxRaw]
	raw[0] = cursorVersion
	n := 1 + binary.PutUvarint(raw[1:], uint64(len(c.next)))
	for _, o := range c.next {
		n += binary.PutUvarint(raw[n:], uint64(max(o, 0)))
	}
	sum := crc32.Checksum(raw[:n], castagnoli)
	raw[n], raw[n+1] = byte(sum>>8), byte(sum)
	n += 2
	enc := base64.RawURLEncoding.EncodedLen(n)
	base64.RawURLEncoding.Encode(dst[start:start+enc], raw[:n])
	return dst[:start+enc]
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ParseCursor decodes a String encoding. It fails, with an error wrapping
// ErrBadCursor, on anything else.
func ParseCursor(s string) (Cursor, error) {
	if len(s) > base64.RawURLEncoding.EncodedLen(1+binary.MaxVarintLen64*(1+maxCursorPartitions)+2) {
		return Cursor{}, fmt.Errorf("%w: %d characters", ErrBadCursor, len(s))
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 4 {
		return Cursor{}, fmt.Errorf("%w: %.40q", ErrBadCursor, s)
	}
	body, sum := b[:len(b)-2], b[len(b)-2:]
	want := crc32.Checksum(body, castagnoli)
	if sum[0] != byte(want>>8) || sum[1] != byte(want) {
		return Cursor{}, fmt.Errorf("%w: %.40q: checksum mismatch", ErrBadCursor, s)
	}
	if body[0] != cursorVersion {
		return Cursor{}, fmt.Errorf("%w: %.40q: version %d", ErrBadCursor, s, body[0])
	}
	body = body[1:]
	n, k := binary.Uvarint(body)
	if k <= 0 || n > maxCursorPartitions {
		return Cursor{}, fmt.Errorf("%w: %.40q: bad partition count", ErrBadCursor, s)
	}
	body = body[k:]
	c := Cursor{next: make([]int64, n)}
	for i := range c.next {
		o, k := binary.Uvarint(body)
		if k <= 0 || o > 1<<62 {
			return Cursor{}, fmt.Errorf("%w: %.40q: bad offset of partition %d", ErrBadCursor, s, i)
		}
		c.next[i] = int64(o)
		body = body[k:]
	}
	if len(body) != 0 {
		return Cursor{}, fmt.Errorf("%w: %.40q: %d trailing bytes", ErrBadCursor, s, len(body))
	}
	return c, nil
}
