package pipeline

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/koistream/koistream/topics/koi"
)

// The value types of the configuration file. Each checks itself when the
// file is read (its Validate method), so a mistake is reported at its own
// line. Messages are predicates: the decoder puts the key path before them.

// Port is a TCP port, 0 to 65535; 0 picks a free port.
type Port int

// Validate reports whether p is a TCP port.
func (p Port) Validate() error {
	if p < 0 || p > 65535 {
		return fmt.Errorf("must be a port from 0 to 65535, got %d", int(p))
	}
	return nil
}

// URLPath is an absolute URL path, such as /koi-net.
type URLPath string

// Validate reports whether p starts with '/'.
func (p URLPath) Validate() error {
	if !strings.HasPrefix(string(p), "/") {
		return fmt.Errorf("must be a path starting with /, got %q", string(p))
	}
	return nil
}

// HostPort is a network address, "host:port".
type HostPort string

// Validate reports whether a is host:port.
func (a HostPort) Validate() error {
	if _, _, err := net.SplitHostPort(string(a)); err != nil {
		return fmt.Errorf("must be host:port, got %q", string(a))
	}
	return nil
}

// Count is a whole number, 0 or more.
type Count int

// Validate reports whether c is not negative.
func (c Count) Validate() error {
	if c < 0 {
		return fmt.Errorf("must be 0 or more, got %d", int(c))
	}
	return nil
}

// Seconds is a duration in seconds, 0 or more, fractions allowed (the
// Python node's worker timeouts).
type Seconds float64

// Validate reports whether s is not negative.
func (s Seconds) Validate() error {
	if s < 0 {
		return fmt.Errorf("must be 0 or more seconds, got %g", float64(s))
	}
	return nil
}

// EnvVar is the name of an environment variable.
type EnvVar string

var envVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports whether v looks like a variable name. A value that does
// not is most likely the secret itself, pasted where its variable's name
// belongs.
func (v EnvVar) Validate() error {
	if !envVarRE.MatchString(string(v)) {
		return fmt.Errorf("must name an environment variable (letters, digits and _), got %q", string(v))
	}
	return nil
}

// HTTPURL is an absolute http or https URL.
type HTTPURL string

// Validate reports whether u is an absolute http or https URL with a host.
func (u HTTPURL) Validate() error {
	p, err := url.Parse(string(u))
	if err != nil || p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
		return fmt.Errorf("must be an http or https URL, got %q", string(u))
	}
	return nil
}

// NodeRID is a KOI-net node RID, orn:koi-net.node:<name>+<hash>. The hash is
// the sha256 of the node's base64 public key (koi-net 1.1 and later) or a
// UUID (koi-net 1.0).
type NodeRID string

// Validate reports whether r is a node RID.
func (r NodeRID) Validate() error {
	_, _, err := r.parts()
	return err
}

// parts returns the name and the hash of r.
func (r NodeRID) parts() (name, hash string, err error) {
	bad := fmt.Errorf("must be a KOI-net node RID, orn:koi-net.node:<name>+<hash>, got %q", string(r))
	rid, perr := koi.ParseRID(string(r))
	if perr != nil || rid.Type() != koi.TypeKoiNetNode {
		return "", "", bad
	}
	name, hash, ok := strings.Cut(rid.Reference, "+")
	if !ok || name == "" || hash == "" || strings.Contains(hash, "+") || strings.ContainsAny(rid.Reference, " \t") {
		return "", "", bad
	}
	return name, hash, nil
}

// RIDType is an RID type such as orn:github.issue, or a koi-net 1.0 class
// name such as GitHubEvent, as node profiles list them.
type RIDType string

// Validate reports whether t is a single word.
func (t RIDType) Validate() error {
	if t == "" || strings.ContainsAny(string(t), " \t") {
		return fmt.Errorf("must be an RID type such as orn:github.issue, got %q", string(t))
	}
	return nil
}

// NodeType is a KOI-net node type, FULL or PARTIAL.
type NodeType string

// Validate reports whether t is FULL or PARTIAL.
func (t NodeType) Validate() error {
	if t != "FULL" && t != "PARTIAL" {
		return fmt.Errorf("must be FULL or PARTIAL, got %q", string(t))
	}
	return nil
}

// PublicKey is a node's public key as KOI-net profiles carry it: the
// base64 DER (SubjectPublicKeyInfo) of an ECDSA P-256 key.
type PublicKey string

// Validate reports whether k is a base64 DER ECDSA P-256 public key.
func (k PublicKey) Validate() error {
	der, err := base64.StdEncoding.DecodeString(string(k))
	if err != nil {
		return fmt.Errorf("must be a base64 public key, got %q", short(string(k)))
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return fmt.Errorf("must be the base64 DER of a public key, got %q", short(string(k)))
	}
	if ec, ok := pub.(*ecdsa.PublicKey); !ok || ec.Curve.Params().Name != "P-256" {
		return fmt.Errorf("must be an ECDSA P-256 public key, got another kind of key")
	}
	return nil
}

// hashOf returns the node RID hash of k (koi-net 1.1 and later): the hex
// sha256 of its base64 text.
func (k PublicKey) hashOf() string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

// short cuts s for a message.
func short(s string) string {
	if len(s) > 24 {
		return s[:21] + "..."
	}
	return s
}
