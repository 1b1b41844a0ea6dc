package pipeline

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/youmark/pkcs8"

	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/koi"
)

// The node's key on disk, where the Python reference keeps it too: a PKCS#8
// PEM file, encrypted with the password in PrivKeyPasswordEnv when that is
// set.
const (
	// IdentityDirName is the folder of the data folder holding the key.
	IdentityDirName = "identity"
	// PrivKeyFileName is the key file's name in IdentityDirName.
	PrivKeyFileName = "priv_key.pem"
	// PrivKeyPasswordEnv names the environment variable holding the key's
	// password, as in the Python reference.
	PrivKeyPasswordEnv = "PRIV_KEY_PASSWORD"
)

// PEM block types of PKCS#8 keys (RFC 5958), the ones Python's
// cryptography load_pem_private_key reads.
const (
	pemPrivateKey          = "PRIVATE KEY"
	pemEncryptedPrivateKey = "ENCRYPTED PRIVATE KEY"
)

// ErrKeyPassword is wrapped by the errors of DecodePrivateKeyPEM and
// LoadOrCreateKey when the key is encrypted and no password, or the wrong
// one, was given.
var ErrKeyPassword = errors.New("pipeline: private key password missing or wrong")

// PrivKeyPath returns the path of the node's private key under dataDir:
// <dataDir>/identity/priv_key.pem.
func PrivKeyPath(dataDir string) string {
	return filepath.Join(dataDir, IdentityDirName, PrivKeyFileName)
}

// EncodePrivateKeyPEM returns key as PKCS#8 PEM: unencrypted ("PRIVATE
// KEY") when password is empty, else encrypted ("ENCRYPTED PRIVATE KEY",
// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC), a form Python's
// cryptography loader reads with the same password.
func EncodePrivateKeyPEM(key *ecdsa.PrivateKey, password []byte) ([]byte, error) {
	if len(password) == 0 {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("pipeline: encode private key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
	}
	der, err := pkcs8.MarshalPrivateKey(key, password, pkcs8.DefaultOpts)
	if err != nil {
		return nil, fmt.Errorf("pipeline: encrypt private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemEncryptedPrivateKey, Bytes: der}), nil
}

// DecodePrivateKeyPEM reads a P-256 key from PKCS#8 PEM as
// EncodePrivateKeyPEM (or the Python reference) writes it. An encrypted key
// needs its password: without it, or with a wrong one, the error wraps
// ErrKeyPassword. A password given for an unencrypted key is ignored. Keys
// that are not ECDSA P-256 are refused.
func DecodePrivateKeyPEM(data, password []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("pipeline: private key: no PEM block")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case pemPrivateKey:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemEncryptedPrivateKey:
		if len(password) == 0 {
			return nil, fmt.Errorf("%w: the key is encrypted and %s is not set", ErrKeyPassword, PrivKeyPasswordEnv)
		}
		k, _, err = pkcs8.ParsePrivateKey(block.Bytes, password)
		if err != nil {
			// A wrong password shows as bad padding or a key that does not
			// parse; the library does not tell them apart.
			return nil, fmt.Errorf("%w: %w", ErrKeyPassword, err)
		}
	default:
		return nil, fmt.Errorf("pipeline: private key: PEM block %q, want %q or %q", block.Type, pemPrivateKey, pemEncryptedPrivateKey)
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline: private key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("pipeline: private key is not ECDSA P-256")
	}
	return key, nil
}

// LoadOrCreateKey returns the node's private key from PrivKeyPath(dataDir),
// generating and storing a new P-256 key first when there is none (created
// is then true). The file is written with mode 0600 in a folder of mode
// 0700, encrypted when password is not empty (see EncodePrivateKeyPEM), and
// appears whole or not at all: it is written to a temporary file and linked
// into place, so two processes starting at once end up with the same key
// (the loser of the link loads the winner's).
func LoadOrCreateKey(dataDir string, password []byte) (key *ecdsa.PrivateKey, created bool, err error) {
	path := PrivKeyPath(dataDir)
	data, err := os.ReadFile(path)
	if err == nil {
		key, err = DecodePrivateKeyPEM(data, password)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if key, err = koi.GenerateKey(); err != nil {
		return nil, false, err
	}
	data, err = EncodePrivateKeyPEM(key, password)
	if err != nil {
		return nil, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	tmp, err := os.CreateTemp(dir, PrivKeyFileName+".tmp*")
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; Chmod states it whatever the
	// platform default.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, err
	}
	if err := tmp.Close(); err != nil {
		return nil, false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateKey(dataDir, password)
		}
		return nil, false, err
	}
	syncDir(dir)
	return key, true, nil
}

// syncDir makes a new directory entry durable where the platform allows;
// failing to is not an error, since the key file itself was synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// Identity is a node's KOI-net identity: its key, the public key string
// its profile publishes, and its node RID.
type Identity struct {
	// Key is the node's private key.
	Key *ecdsa.PrivateKey
	// PublicKey is the base64 DER SPKI of the public key (koi.PublicKeyString).
	PublicKey string
	// RID is orn:koi-net.node:<name>+<sha256 hex of PublicKey>.
	RID string
}

// LoadIdentity returns the identity of the node called name whose data
// folder is dataDir, creating its key on first use (LoadOrCreateKey)
// encrypted with password (the caller reads it from PrivKeyPasswordEnv or
// wherever the configuration says; empty means unencrypted).
func LoadIdentity(dataDir, name string, password []byte) (Identity, error) {
	key, _, err := LoadOrCreateKey(dataDir, password)
	if err != nil {
		return Identity{}, err
	}
	pub, err := koi.PublicKeyString(&key.PublicKey)
	if err != nil {
		return Identity{}, err
	}
	rid, err := koi.NodeRIDForKey(name, pub)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Key: key, PublicKey: pub, RID: rid}, nil
}

// NodeIdentity returns the identity a node with configuration cfg (after
// SetDefaults) runs under: LoadIdentity's, named by LegacyNodeRID on a
// koi-net 1.0 network (cfg.KOI.Protocol "1.0"), where nodes are
// <name>+<uuid4>.
func NodeIdentity(cfg Config) (Identity, error) {
	id, err := LoadIdentity(cfg.DataDir, cfg.NodeName, cfg.PrivKeyPassword)
	if err != nil {
		return Identity{}, fmt.Errorf("node identity: %w", err)
	}
	if cfg.KOI.Protocol == ProtocolV1 {
		if id.RID, err = LegacyNodeRID(cfg.DataDir, cfg.NodeName); err != nil {
			return Identity{}, fmt.Errorf("node identity: %w", err)
		}
	}
	return id, nil
}

// ProfileOf returns the profile contents a node with configuration cfg and
// identity id publishes when its HTTP listener is at addr (host:port): the
// configured base_url, else http://<addr><KOIPath>; a PARTIAL node's
// base_url is null; a 1.0 node's profile has no public_key.
func ProfileOf(cfg Config, id Identity, addr string) []byte {
	spec := ProfileSpec{BaseURL: cfg.BaseURL, NodeType: cfg.KOI.NodeType, Provides: GitHubTypes, PublicKey: id.PublicKey}
	if spec.BaseURL == "" {
		spec.BaseURL = "http://" + addr + cfg.KOIPath
	}
	if spec.NodeType == NodeTypePartial {
		spec.BaseURL = "" // a PARTIAL node serves no one
	}
	if cfg.KOI.Protocol == ProtocolV1 {
		spec.PublicKey = "" // 1.0 profiles have none, and the RID is not its hash
	}
	return spec.JSON()
}

// ProfileBundle returns the node's own profile bundle for base URL baseURL
// as KOI-net JSON, and its manifest alone: contents NodeProfileJSON(baseURL,
// GitHubTypes, id.PublicKey), manifest of id.RID at ts. The hash depends only
// on the contents, so peers see the same profile across restarts.
func (id Identity) ProfileBundle(baseURL string, ts time.Time) (manifest, bundle []byte, err error) {
	contents := NodeProfileJSON(baseURL, GitHubTypes, id.PublicKey)
	b, err := koi.NewBundle(id.RID, contents, ts)
	if err != nil {
		return nil, nil, fmt.Errorf("pipeline: profile bundle: %w", err)
	}
	manifest = b.Manifest.AppendJSON(nil)
	return manifest, koi.RawBundle{Manifest: manifest, Contents: contents}.AppendJSON(nil), nil
}

// ProfileManifestFileName is the file in IdentityDirName holding the
// manifest of the profile the node last served, so that a restart serves
// the same manifest when the profile did not change.
const ProfileManifestFileName = "profile_manifest.json"

// StableProfileBundle is ProfileBundle with a timestamp that stays put
// across restarts: the one recorded in
// <dataDir>/identity/profile_manifest.json when that manifest has the same
// RID and contents hash, else now, which is then recorded there. A profile
// whose manifest changed on every start would reach KOI-net peers as a
// spurious UPDATE; one whose contents changed (another base_url) gets a new
// timestamp, as an update should.
func (id Identity) StableProfileBundle(dataDir, baseURL string, now time.Time) (manifest, bundle []byte, err error) {
	return id.StableBundleOf(dataDir, NodeProfileJSON(baseURL, GitHubTypes, id.PublicKey), now)
}

// StableBundleOf is StableProfileBundle for any profile contents (a
// PARTIAL node's, a 1.0 node's without public_key).
func (id Identity) StableBundleOf(dataDir string, contents []byte, now time.Time) (manifest, bundle []byte, err error) {
	m, err := koi.NewManifest(id.RID, contents, now)
	if err != nil {
		return nil, nil, fmt.Errorf("pipeline: profile bundle: %w", err)
	}
	path := filepath.Join(dataDir, IdentityDirName, ProfileManifestFileName)
	var last koi.Manifest
	if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &last) == nil &&
		last.RID == m.RID && last.SHA256Hash == m.SHA256Hash && validTimestamp(last.Timestamp) {
		m.Timestamp = last.Timestamp
	} else if err := writeFileAtomic(path, m.AppendJSON(nil)); err != nil {
		return nil, nil, fmt.Errorf("pipeline: record the profile manifest: %w", err)
	}
	manifest = m.AppendJSON(nil)
	return manifest, koi.RawBundle{Manifest: manifest, Contents: contents}.AppendJSON(nil), nil
}

// validTimestamp reports whether ts is a manifest timestamp koi prints:
// RFC 3339 in UTC.
func validTimestamp(ts string) bool {
	t, err := time.Parse(time.RFC3339Nano, ts)
	return err == nil && koi.FormatTimestamp(t) == ts
}

// writeFileAtomic replaces path with data (mode 0600): written to a
// temporary file beside it, synced and renamed into place.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// GitHubTypes are the RID types a koistream GitHub sensor emits events of
// and answers fetches for: what its profile's provides lists.
var GitHubTypes = []string{github.TypeRepo, github.TypeCommit, github.TypeIssue, github.TypePR, github.TypeEvent}

// NodeProfileJSON returns a FULL node's profile contents as koi-net 2.1
// emits them (KOI-2.1.md 2.1): ProfileSpec{BaseURL: baseURL, NodeType:
// "FULL", Provides: provides, PublicKey: publicKey}.JSON().
func NodeProfileJSON(baseURL string, provides []string, publicKey string) []byte {
	return ProfileSpec{BaseURL: baseURL, NodeType: NodeTypeFull, Provides: provides, PublicKey: publicKey}.JSON()
}

// ProfileSpec is the node's own profile, the contents of its
// orn:koi-net.node bundle.
type ProfileSpec struct {
	// BaseURL is where peers reach the KOI-net API; empty prints null, as
	// a PARTIAL node's profile has it.
	BaseURL string
	// NodeType is "FULL" or "PARTIAL".
	NodeType string
	// Provides lists the RID types of both provides.event and
	// provides.state: the node answers fetches for every type it emits.
	Provides []string
	// PublicKey is the base64 DER SPKI of the node's key; empty leaves
	// public_key out, as koi-net 1.0 profiles have none (a 1.0 node's RID
	// is not its key's hash, so a 2.x peer must not try to check it).
	PublicKey string
}

// JSON returns the profile as koi-net 2.1 emits it (KOI-2.1.md 2.1):
// "@context" first, then base_url, node_type, provides {event, state} and
// public_key, compact, strings escaped as pydantic prints them. The manifest
// hash of these bytes is what peers compare, so the key order is part of the
// contract.
func (p ProfileSpec) JSON() []byte {
	b := []byte(`{"@context":`)
	b = koi.AppendString(b, koi.ContextNodeProfile)
	b = append(b, `,"base_url":`...)
	if p.BaseURL == "" {
		b = append(b, "null"...)
	} else {
		b = koi.AppendString(b, p.BaseURL)
	}
	b = append(b, `,"node_type":`...)
	b = koi.AppendString(b, p.NodeType)
	b = append(b, `,"provides":{"event":`...)
	b = appendStrings(b, p.Provides)
	b = append(b, `,"state":`...)
	b = appendStrings(b, p.Provides)
	b = append(b, '}')
	if p.PublicKey != "" {
		b = append(b, `,"public_key":`...)
		b = koi.AppendString(b, p.PublicKey)
	}
	return append(b, '}')
}

// LegacyRIDFileName is the file in IdentityDirName holding a koi-net 1.0
// node RID, <name>+<uuid4>: 1.0 RIDs are random, so the node keeps its one.
const LegacyRIDFileName = "node_rid_v1"

// LegacyNodeRID returns the koi-net 1.0 node RID of the node called name
// whose data folder is dataDir: the one recorded there when it has that
// name, else a new orn:koi-net.node:<name>+<uuid4>, which is recorded. A
// 1.0 peer knows a node by this RID, so it must survive restarts.
func LegacyNodeRID(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, IdentityDirName, LegacyRIDFileName)
	if data, err := os.ReadFile(path); err == nil {
		rid := strings.TrimSpace(string(data))
		if strings.HasPrefix(rid, koi.TypeKoiNetNode+":"+name+"+") {
			if _, err := koi.ParseRID(rid); err == nil {
				return rid, nil
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("pipeline: read the 1.0 node RID: %w", err)
	}
	rid, err := koi.NewLegacyNodeRID(name, nil)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("pipeline: 1.0 node RID: %w", err)
	}
	if err := writeFileAtomic(path, []byte(rid+"\n")); err != nil {
		return "", fmt.Errorf("pipeline: record the 1.0 node RID: %w", err)
	}
	return rid, nil
}

// appendStrings appends ss as a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = koi.AppendString(b, s)
	}
	return append(b, ']')
}
