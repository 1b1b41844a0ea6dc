package eventhive

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	wire "github.com/koistream/koistream/topics/eventhive"
)

// Names of EventHive's wire format (PUBSUB.md 5.2, 5.3), shared with the
// raw format (topics/eventhive).
const (
	// Version is the EventHive version whose format this package speaks,
	// written into the metadata's version member.
	Version = "0.5.0"
	// MetadataKey is the member EventHive adds to every message:
	// {"time","version","event","id"}.
	MetadataKey = wire.MetadataKey
	// SignKey is the member holding the signature inside a signed message.
	SignKey = wire.SignKey
	// IVKey and CiphertextKey are the members of an encrypted message.
	IVKey         = "iv"
	CiphertextKey = "ciphertext"
)

// Errors Open returns, each wrapped with the detail; the text is what a
// dead-lettered message's reason says.
var (
	// ErrNotObject: the message is not a JSON object.
	ErrNotObject = errors.New("eventhive: message is not a JSON object")
	// ErrDecrypt: an encrypted message whose iv or ciphertext is not
	// standard base64, whose iv is not 16 bytes, or whose plaintext is
	// not a JSON object (encrypted under another secret).
	ErrDecrypt = errors.New("eventhive: cannot decrypt")
	// ErrBadSignature: a message on a channel with a secret whose
	// __sign__ is missing or is not the HMAC of the rest.
	ErrBadSignature = errors.New("eventhive: signature does not verify")
)

// How Open verified a message: the values of the raw records'
// topics/eventhive.HeaderVerification.
const (
	// Unverified: no secret is configured; the message was taken as it
	// came.
	Unverified = wire.Unverified
	// Signed: a plaintext message whose __sign__ verified (EventHive
	// accepts these too, PUBSUB.md 5.3 step 7).
	Signed = wire.Signed
	// Encrypted: an {"iv","ciphertext"} message that decrypted to a
	// message whose __sign__ verified.
	Encrypted = wire.Encrypted
)

// DeriveKey returns EventHive's key for secret: the first 16 bytes of
// SHA-256 of its UTF-8 bytes, used both as the AES-128 key and as the
// HMAC-SHA1 key.
func DeriveKey(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:16]
}

// Codec seals and opens EventHive messages of one connector. The zero
// Codec, or one made with an empty secret, has no secret: Seal returns the
// message as it is and Open accepts any JSON object. A Codec is immutable
// and safe for concurrent use.
type Codec struct {
	key   []byte
	block cipher.Block
}

// NewCodec returns the codec of a connector configured with secret; an
// empty secret means plaintext.
func NewCodec(secret string) *Codec {
	if secret == "" {
		return &Codec{}
	}
	key := DeriveKey(secret)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 16-byte key cannot fail
	}
	return &Codec{key: key, block: block}
}

// Secret reports whether the codec signs and encrypts.
func (c *Codec) Secret() bool { return c != nil && c.key != nil }

// Signature returns EventHive's signature of msg, a JSON object: the
// lower-case hex HMAC-SHA1, keyed with the derived key, of Canonical(msg)
// without a top-level __sign__ member. It fails when msg is not a JSON
// object or the codec has no secret.
func (c *Codec) Signature(msg []byte) (string, error) {
	if !c.Secret() {
		return "", errors.New("eventhive: no secret to sign with")
	}
	n, err := parseObject(msg)
	if err != nil {
		return "", err
	}
	return c.sign(withoutMember(n, SignKey)), nil
}

func (c *Codec) sign(n *node) string {
	mac := hmac.New(sha1.New, c.key)
	mac.Write(appendCanonical(nil, n))
	return hex.EncodeToString(mac.Sum(nil))
}

// signedCanonical returns the canonical form of the object n with its
// signature member added, canonicalizing n's members once: the form
// signed and the form encrypted differ only by that member, so the second
// is the first with the member spliced in at its sorted place (two full
// canonicalizations were most of a sealed message's cost).
func (c *Codec) signedCanonical(n *node) []byte {
	if len(n.members) == 0 {
		sig := c.sign(n)
		return appendCanonical(nil, &node{kind: '{', members: []*node{{kind: '"', lit: []byte(sig), plain: true, keyLit: []byte(SignKey)}}})
	}
	ms := lastOfEachName(n.members)
	slices.SortStableFunc(ms, compareNames)
	body := []byte{'{', '\n'}
	ends := make([]int, len(ms)) // where member i's text ends in body
	for i, m := range ms {
		if i > 0 {
			body = append(body, ',', '\n')
		}
		body = appendString(body, m.keyLit)
		body = append(body, ':')
		body = appendCanonical(body, m)
		ends[i] = len(body)
	}
	body = append(body, '\n', '}')
	mac := hmac.New(sha1.New, c.key)
	mac.Write(body)
	sig := hex.EncodeToString(mac.Sum(nil))
	member := appendString(nil, []byte(SignKey))
	member = append(member, ':')
	member = appendString(member, []byte(sig))
	signKey := &node{plain: true, keyLit: []byte(SignKey)}
	at, _ := slices.BinarySearchFunc(ms, signKey, compareNames)
	out := make([]byte, 0, len(body)+len(member)+2)
	switch {
	case at == 0:
		out = append(out, '{', '\n')
		out = append(out, member...)
		out = append(out, ',', '\n')
		out = append(out, body[2:]...)
	default:
		out = append(out, body[:ends[at-1]]...)
		out = append(out, ',', '\n')
		out = append(out, member...)
		out = append(out, body[ends[at-1]:]...)
	}
	return out
}

// Seal returns the wire form of msg, a JSON object: msg itself without a
// secret; with one, EventHive's {"iv","ciphertext"} of msg signed (its
// __sign__ member set) under a random IV. It fails when msg is not a JSON
// object.
func (c *Codec) Seal(msg []byte) ([]byte, error) {
	if !c.Secret() {
		if _, err := parseObject(msg); err != nil {
			return nil, err
		}
		return msg, nil
	}
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("eventhive: iv: %w", err)
	}
	return c.SealWithIV(msg, iv)
}

// SealWithIV is Seal with the given 16-byte IV instead of a random one, for
// test vectors. Reusing an IV with one key reveals the plaintexts: callers
// other than tests use Seal.
func (c *Codec) SealWithIV(msg, iv []byte) ([]byte, error) {
	if !c.Secret() {
		return nil, errors.New("eventhive: no secret to encrypt with")
	}
	if len(iv) != aes.BlockSize {
		return nil, fmt.Errorf("eventhive: iv of %d bytes, want %d", len(iv), aes.BlockSize)
	}
	n, err := parseObject(msg)
	if err != nil {
		return nil, err
	}
	plain := c.signedCanonical(withoutMember(n, SignKey))
	ct := make([]byte, len(plain))
	cipher.NewCTR(c.block, iv).XORKeyStream(ct, plain)
	out := make([]byte, 0, len(ct)*4/3+64)
	out = append(out, `{"iv":"`...)
	out = base64.StdEncoding.AppendEncode(out, iv)
	out = append(out, `","ciphertext":"`...)
	out = base64.StdEncoding.AppendEncode(out, ct)
	return append(out, `"}`...), nil
}

// Open reads a message as an EventHive receiver with this codec does
// (PUBSUB.md 5.3 step 6): without a secret any JSON object is taken as it
// came; with one, an {"iv","ciphertext"} object is decrypted, and the
// message (decrypted or plaintext) must carry a __sign__ that is the
// signature of the rest. It returns the message as the receiver's hook
// gets it, the decrypted plaintext byte for byte (canonical JSON, __sign__
// still in it) or msg itself, and how it was verified. Where EventHive
// drops a message silently, Open fails with an error wrapping
// ErrNotObject, ErrDecrypt or ErrBadSignature that says why.
func (c *Codec) Open(msg []byte) (body []byte, verification string, err error) {
	n, err := parseObject(msg)
	if err != nil {
		return nil, "", err
	}
	if !c.Secret() {
		return msg, Unverified, nil
	}
	plain, how := msg, Signed
	iv, ivOK := stringMember(n, IVKey)
	ct, ctOK := stringMember(n, CiphertextKey)
	if ivOK && ctOK {
		how = Encrypted
		if plain, err = c.decrypt(iv, ct); err != nil {
			return nil, "", err
		}
		if n, err = parseObject(plain); err != nil {
			return nil, "", fmt.Errorf("%w: the plaintext (wrong secret?): %w", ErrDecrypt, err)
		}
	}
	got, ok := stringMember(n, SignKey)
	if !ok {
		return nil, "", fmt.Errorf("%w: no %s string member", ErrBadSignature, SignKey)
	}
	want := c.sign(withoutMember(n, SignKey))
	if !hmac.Equal([]byte(got), []byte(want)) {
		return nil, "", fmt.Errorf("%w: %s is not the HMAC-SHA1 of the message", ErrBadSignature, SignKey)
	}
	return plain, how, nil
}

func (c *Codec) decrypt(ivText, ctText string) ([]byte, error) {
	iv, err := base64.StdEncoding.DecodeString(ivText)
	if err != nil {
		return nil, fmt.Errorf("%w: iv: %w", ErrDecrypt, err)
	}
	if len(iv) != aes.BlockSize {
		return nil, fmt.Errorf("%w: iv of %d bytes, want %d", ErrDecrypt, len(iv), aes.BlockSize)
	}
	ct, err := base64.StdEncoding.DecodeString(ctText)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext: %w", ErrDecrypt, err)
	}
	plain := make([]byte, len(ct))
	cipher.NewCTR(c.block, iv).XORKeyStream(plain, ct)
	return plain, nil
}

// parseObject parses b, which must be one JSON object.
func parseObject(b []byte) (*node, error) {
	n, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotObject, err)
	}
	if n.kind != '{' {
		return nil, fmt.Errorf("%w: %s", ErrNotObject, kindName(n.kind))
	}
	return n, nil
}

func kindName(k byte) string {
	switch k {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	}
	return "null"
}

// withoutMember returns the object n without its members named name (what
// Python's dict.pop leaves).
func withoutMember(n *node, name string) *node {
	out := &node{kind: n.kind, members: make([]*node, 0, len(n.members))}
	for _, m := range n.members {
		if !m.nameIs(name) {
			out.members = append(out.members, m)
		}
	}
	return out
}

// stringMember returns the decoded value of the object n's member name
// (the last of that name) when it is a string.
func stringMember(n *node, name string) (string, bool) {
	for i := len(n.members) - 1; i >= 0; i-- {
		m := n.members[i]
		if m.nameIs(name) {
			if m.kind != '"' {
				return "", false
			}
			return string(decodeRunes(m.lit)), true
		}
	}
	return "", false
}
