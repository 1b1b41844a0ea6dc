package koi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Context RIDs that koi-net 2.1 puts first in node and edge profiles
// (KOI-2.1.md 1c). They are plain RID strings.
const (
	// ContextNodeProfile is the "@context" of node profile contents.
	ContextNodeProfile = "orn:koi-net.context:koi-net.node"
	// ContextEdgeProfile is the "@context" of edge profile contents.
	ContextEdgeProfile = "orn:koi-net.context:koi-net.edge"
)

// Errors of the identity functions. ErrInvalidKey is what the reference
// answers with the invalid_key error code: a public key that does not hash to
// the node RID, or that is not a P-256 key at all.
var (
	// ErrInvalidNodeRID is wrapped by the errors of ParseNodeRID and the
	// functions that build node RIDs from a name that cannot be one.
	ErrInvalidNodeRID = errors.New("koi: invalid node RID")
	// ErrInvalidKey is wrapped by the errors of ParsePublicKey and
	// CheckNodeKey.
	ErrInvalidKey = errors.New("koi: invalid public key")
)

// GenerateKey returns a new P-256 private key from crypto/rand, the only
// curve KOI-net uses.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// PublicKeyString returns pub as KOI-net publishes it in a node profile's
// public_key: standard base64 with padding of the DER SubjectPublicKeyInfo
// (91 bytes for P-256, so 124 characters starting
// "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"). pub must be a P-256 key.
func PublicKeyString(pub *ecdsa.PublicKey) (string, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return "", fmt.Errorf("%w: not a P-256 key", ErrInvalidKey)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// ParsePublicKey parses a profile's public_key (standard base64 of a DER
// SubjectPublicKeyInfo) and returns the P-256 key. Anything else (bad
// base64, another algorithm or curve, trailing bytes) is an error wrapping
// ErrInvalidKey. Unlike Python's lenient b64decode, characters outside the
// base64 alphabet (other than '\r' and '\n', which Go's decoder skips too)
// and missing padding are refused: a conforming peer never sends them, and
// the key is trusted only after its string hashed to the node RID anyway.
func ParsePublicKey(s string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %w", ErrInvalidKey, err)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: not a P-256 ECDSA key", ErrInvalidKey)
	}
	return pub, nil
}

// PublicKeyHash returns the hash a koi-net 1.1+ node RID carries for the
// public key string pub: the lowercase hex SHA-256 of the ASCII base64 text
// itself, not of the DER bytes it encodes (vectors.txt decides this).
func PublicKeyHash(pub string) string {
	sum := sha256.Sum256([]byte(pub))
	return hex.EncodeToString(sum[:])
}

// NodeRIDForKey returns the koi-net 1.1+ node RID
// "orn:koi-net.node:<name>+<PublicKeyHash(pub)>" for the public key string
// pub (as PublicKeyString prints it). The name must be valid for a node RID
// (see ParseNodeRID); otherwise the error wraps ErrInvalidNodeRID.
func NodeRIDForKey(name, pub string) (string, error) {
	if err := checkNodeName(name); err != nil {
		return "", err
	}
	return TypeKoiNetNode + ":" + name + "+" + PublicKeyHash(pub), nil
}

// NewLegacyNodeRID returns a koi-net 1.0 node RID
// "orn:koi-net.node:<name>+<uuid4>" with a random version 4 UUID read from
// r (crypto/rand.Reader when r is nil). A 1.0 node keeps its RID across
// restarts, so the caller stores the result. Errors wrap ErrInvalidNodeRID
// for a bad name, or are r's.
func NewLegacyNodeRID(name string, r io.Reader) (string, error) {
	if err := checkNodeName(name); err != nil {
		return "", err
	}
	if r == nil {
		r = rand.Reader
	}
	var u [16]byte
	if _, err := io.ReadFull(r, u[:]); err != nil {
		return "", fmt.Errorf("koi: node RID uuid: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(u[:])
	return TypeKoiNetNode + ":" + name + "+" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// checkNodeName refuses names rid-lib could not split back: the reference
// of a node RID must split on '+' into exactly two non-empty parts.
func checkNodeName(name string) error {
	if name == "" || strings.Contains(name, "+") || !utf8.ValidString(name) {
		return fmt.Errorf("%w: node name %q must be non-empty valid UTF-8 without '+'", ErrInvalidNodeRID, name)
	}
	return nil
}

// NodeRID is a parsed node RID: orn:koi-net.node:<Name>+<Hash>. Hash is the
// text after '+': the SHA-256 hex of the public key string on koi-net 1.1+
// networks, a UUID on 1.0 networks; rid-lib does not check its form, and
// neither does ParseNodeRID (Legacy tells the two apart).
type NodeRID struct {
	// Name is the node name, the reference's text before '+'.
	Name string
	// Hash is the reference's text after '+'.
	Hash string
}

// ParseNodeRID parses s as rid-lib parses a KoiNetNode RID: the type must be
// orn:koi-net.node and the reference must split on '+' into exactly two
// non-empty parts. Errors wrap ErrInvalidNodeRID (and ErrInvalidRID when s is
// no RID at all).
func ParseNodeRID(s string) (NodeRID, error) {
	rid, err := ParseRID(s)
	if err != nil {
		return NodeRID{}, fmt.Errorf("%w: %w", ErrInvalidNodeRID, err)
	}
	if rid.Type() != TypeKoiNetNode {
		return NodeRID{}, fmt.Errorf("%w %q: type is %q, not %q", ErrInvalidNodeRID, s, rid.Type(), TypeKoiNetNode)
	}
	parts := strings.Split(rid.Reference, "+")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return NodeRID{}, fmt.Errorf("%w %q: reference must be <name>+<hash>", ErrInvalidNodeRID, s)
	}
	return NodeRID{Name: parts[0], Hash: parts[1]}, nil
}

// String returns the node RID's text, orn:koi-net.node:<Name>+<Hash>.
func (n NodeRID) String() string {
	return TypeKoiNetNode + ":" + n.Name + "+" + n.Hash
}

// Legacy reports whether the RID has the koi-net 1.0 form, a UUID in place
// of the key hash (8-4-4-4-12 hex digits). Such a node has no key to check.
func (n NodeRID) Legacy() bool {
	h := n.Hash
	if len(h) != 36 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// CheckNodeKey checks the public key string pub against the node RID rid as
// the reference does before trusting a profile (PROTOCOL.md 3, step 2;
// KOI-2.1.md 1a): PublicKeyHash(pub) must equal the RID's hash exactly
// (lowercase hex, as the reference compares strings). It returns nil on a
// match and an error wrapping ErrInvalidKey otherwise, including for a 1.0
// RID (no key can match a UUID) and for an RID that is not a node RID (also
// wrapping ErrInvalidNodeRID). pub must also parse as a P-256 key, so a
// matching hash of garbage is refused too.
func CheckNodeKey(rid, pub string) error {
	n, err := ParseNodeRID(rid)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if PublicKeyHash(pub) != n.Hash {
		return fmt.Errorf("%w: sha256 of the public key does not match node RID %q", ErrInvalidKey, rid)
	}
	if _, err := ParsePublicKey(pub); err != nil {
		return err
	}
	return nil
}

// EdgeRID returns the koi-net 1.1+ edge RID for an edge from source to
// target: orn:koi-net.edge:<sha256 hex of source+target>, the plain
// concatenation of the two RID strings (PROTOCOL.md 4).
func EdgeRID(source, target string) string {
	sum := sha256.Sum256([]byte(source + target))
	return TypeKoiNetEdge + ":" + hex.EncodeToString(sum[:])
}

// LegacyEdgeRID returns the koi-net 1.0 edge RID for an edge from source to
// target: the SHA-256 hex of Python's json.dumps({"source": s, "target": t})
// with its default separators (", " and ": ") and ASCII escaping, which is
// how koi-net 1.0 derived it.
func LegacyEdgeRID(source, target string) string {
	b := []byte(`{"source": `)
	b = appendPythonASCIIString(b, source)
	b = append(b, `, "target": `...)
	b = appendPythonASCIIString(b, target)
	b = append(b, '}')
	sum := sha256.Sum256(b)
	return TypeKoiNetEdge + ":" + hex.EncodeToString(sum[:])
}

// appendPythonASCIIString appends s as Python's json.dumps prints a string
// with ensure_ascii=True: printable ASCII raw except '"' and '\\', the short
// escapes \b \f \n \r \t, and everything else (other controls, DEL,
// non-ASCII) as lowercase \uXXXX, astral characters as surrogate pairs.
func appendPythonASCIIString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, `\"`...)
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r >= 0x20 && r <= 0x7e:
			b = append(b, byte(r))
		case r > 0xffff:
			r -= 0x10000
			b = appendU4(b, 0xd800+(r>>10))
			b = appendU4(b, 0xdc00+(r&0x3ff))
		default:
			b = appendU4(b, r)
		}
	}
	return append(b, '"')
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', lowerHex[r>>12&0xf], lowerHex[r>>8&0xf], lowerHex[r>>4&0xf], lowerHex[r&0xf])
}
