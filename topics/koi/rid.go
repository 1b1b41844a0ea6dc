package koi

import (
	"errors"
	"fmt"
	"strings"
)

// RID types of KOI-net itself. A type string is an RID without its
// reference: "orn:<namespace>" for the namespace schemes, or a bare scheme
// such as "https". The types of the things a source observes live with that
// source's parser (the GitHub ones in stages/github).
const (
	// TypeKoiNetNode is the type of KOI-net node profiles,
	// orn:koi-net.node:<name>+<sha256 hex of the base64 public key>.
	TypeKoiNetNode = "orn:koi-net.node"
	// TypeKoiNetEdge is the type of KOI-net edge profiles,
	// orn:koi-net.edge:<id>.
	TypeKoiNetEdge = "orn:koi-net.edge"
)

// ErrInvalidRID is wrapped by the errors ParseRID and RIDType return for
// strings that are not RIDs under rid-lib's rules.
var ErrInvalidRID = errors.New("koi: invalid RID")

// RID is a parsed KOI-net resource identifier, following rid-lib's generic
// parsing rules: "<scheme>:<reference>", or "<scheme>:<namespace>:<reference>"
// when the scheme is one of the namespace schemes "orn" and "urn".
//
// A valid RID has a non-empty Scheme without ':' and a non-empty Reference;
// Namespace is non-empty (and without ':') exactly when Scheme is "orn" or
// "urn". The zero RID is not valid. RID is a comparable value type; two RIDs
// are the same resource when their String forms are equal.
type RID struct {
	// Scheme is the text before the first ':' (for example "orn" or
	// "https"). Scheme matching is case-sensitive, as in rid-lib.
	Scheme string
	// Namespace is the text between the first and second ':' for the
	// namespace schemes (for example "github.issue"); empty otherwise.
	Namespace string
	// Reference is everything after the type; it may itself contain ':'.
	Reference string
}

// isNamespaceScheme reports whether scheme carries a namespace component.
func isNamespaceScheme(scheme string) bool {
	return scheme == "orn" || scheme == "urn"
}

// ParseRID parses s under rid-lib's rules (PROTOCOL.md section 4): the scheme
// is the text before the first ':'; for the schemes "orn" and "urn" the
// namespace is the text up to the second ':' and the reference the whole
// rest; for any other scheme the reference is everything after the first ':'
// (so "https://x/y" has scheme "https" and reference "//x/y"). An empty
// scheme, namespace or reference, a missing ':' or a namespace scheme without
// a namespace is an error wrapping ErrInvalidRID.
//
// ParseRID accepts any type, known or not, and does not apply the extra
// reference checks rid-lib's known classes make (such as the numeric part of
// an orn:github.issue RID).
func ParseRID(s string) (RID, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return RID{}, fmt.Errorf("%w %q: missing ':' between type and reference", ErrInvalidRID, s)
	}
	if scheme == "" {
		return RID{}, fmt.Errorf("%w %q: empty scheme", ErrInvalidRID, s)
	}
	var rid RID
	rid.Scheme = scheme
	if isNamespaceScheme(scheme) {
		ns, ref, ok := strings.Cut(rest, ":")
		if !ok {
			return RID{}, fmt.Errorf("%w %q: missing reference after namespace", ErrInvalidRID, s)
		}
		if ns == "" {
			return RID{}, fmt.Errorf("%w %q: empty namespace", ErrInvalidRID, s)
		}
		rid.Namespace = ns
		rest = ref
	}
	if rest == "" {
		return RID{}, fmt.Errorf("%w %q: empty reference", ErrInvalidRID, s)
	}
	rid.Reference = rest
	return rid, nil
}

// String returns the RID in its textual form, the type string, ':' and the
// reference. For an RID returned by ParseRID this is the input string. The
// zero RID prints as "".
func (r RID) String() string {
	if r == (RID{}) {
		return ""
	}
	return r.Type() + ":" + r.Reference
}

// Type returns the RID's type string (rid-lib's "context"): "orn:<namespace>"
// or "urn:<namespace>" for the namespace schemes, otherwise the bare scheme
// (for example "https").
func (r RID) Type() string {
	if r.Namespace != "" {
		return r.Scheme + ":" + r.Namespace
	}
	return r.Scheme
}

// RIDType parses the RID string s and returns its type string, for example
// "orn:github.issue" for "orn:github.issue:octo/hello:1" and "https" for
// "https://example.com/". It returns ParseRID's error for invalid input.
func RIDType(s string) (string, error) {
	rid, err := ParseRID(s)
	if err != nil {
		return "", err
	}
	return rid.Type(), nil
}
