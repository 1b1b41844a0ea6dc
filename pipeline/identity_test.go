package pipeline_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/koi"
)

func TestIdentityKeyFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
		pemType  string
	}{
		{"unencrypted", "", "-----BEGIN PRIVATE KEY-----"},
		{"encrypted", "s3cret", "-----BEGIN ENCRYPTED PRIVATE KEY-----"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key, created, err := pipeline.LoadOrCreateKey(dir, []byte(tc.password))
			if err != nil || !created {
				t.Fatalf("first start: created %v, %v", created, err)
			}
			path := pipeline.PrivKeyPath(dir)
			if path != filepath.Join(dir, "identity", "priv_key.pem") {
				t.Fatalf("key path %s", path)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", st.Mode().Perm())
			}
			data, _ := os.ReadFile(path)
			if !strings.HasPrefix(string(data), tc.pemType) {
				t.Errorf("PEM starts %q", strings.SplitN(string(data), "\n", 2)[0])
			}
			again, created, err := pipeline.LoadOrCreateKey(dir, []byte(tc.password))
			if err != nil || created || !again.Equal(key) {
				t.Fatalf("second start: created %v, same key %v, %v", created, again != nil && again.Equal(key), err)
			}
			if tc.password != "" {
				for _, pw := range []string{"", "wrong"} {
					if _, _, err := pipeline.LoadOrCreateKey(dir, []byte(pw)); !errors.Is(err, pipeline.ErrKeyPassword) {
						t.Errorf("password %q: %v, want ErrKeyPassword", pw, err)
					}
				}
			}
			pythonLoads(t, path, tc.password, key)
		})
	}
}

// pythonLoads checks that Python's cryptography package, which the
// reference loads its key with, reads the file to the same key. It skips
// where python3 with cryptography is not installed.
func pythonLoads(t *testing.T, path, password string, key *ecdsa.PrivateKey) {
	t.Helper()
	script := `
import base64, os, sys
from cryptography.hazmat.primitives import serialization
pw = os.environ.get("PW") or None
k = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=pw.encode() if pw else None)
der = k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
print(base64.b64encode(der).decode())
`
	if exec.Command("python3", "-c", "import cryptography").Run() != nil {
		t.Log("python3 with cryptography not installed: not checking the Python loader")
		return
	}
	cmd := exec.Command("python3", "-c", script, path)
	cmd.Env = append(os.Environ(), "PW="+password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python loader: %v\n%s", err, out)
	}
	want, _ := koi.PublicKeyString(&key.PublicKey)
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("python read public key %s, want %s", got, want)
	}
}

func TestIdentityConcurrentFirstStart(t *testing.T) {
	dir := t.TempDir()
	const n = 4
	keys := make([]*ecdsa.PrivateKey, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, _, err := pipeline.LoadOrCreateKey(dir, nil)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if keys[i] == nil || !keys[i].Equal(keys[0]) {
			t.Fatalf("process %d got another key", i)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "identity", "*.tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestIdentityRIDAndProfile(t *testing.T) {
	dir := t.TempDir()
	id, err := pipeline.LoadIdentity(dir, "github-sensor", []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := koi.CheckNodeKey(id.RID, id.PublicKey); err != nil {
		t.Errorf("RID and key disagree: %v", err)
	}
	again, err := pipeline.LoadIdentity(dir, "github-sensor", []byte("pw"))
	if err != nil || again.RID != id.RID {
		t.Errorf("RID changed across starts: %s, %s, %v", id.RID, again.RID, err)
	}
	if _, err := pipeline.LoadIdentity(dir, "github-sensor", nil); !errors.Is(err, pipeline.ErrKeyPassword) {
		t.Errorf("encrypted key without its password: %v, want ErrKeyPassword", err)
	}

	// The profile of the KOI-2.1.md vector, from the vector key.
	d, _ := hex.DecodeString(strings.Repeat("1f", 32))
	vk, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := koi.PublicKeyString(&vk.PublicKey)
	profile := pipeline.NodeProfileJSON("http://127.0.0.1:8091/koi-net", []string{"orn:github.issue"}, pub)
	want := `{"@context":"orn:koi-net.context:koi-net.node","base_url":"http://127.0.0.1:8091/koi-net","node_type":"FULL","provides":{"event":["orn:github.issue"],"state":["orn:github.issue"]},"public_key":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEa/hdX+hFmLEMphmewJzNfTXc1xlf3R3Hc3oMZwBu8lG5UvJe7B3u0fyhkYOJkEZjV9MUrft+l2C42a/I85qVrQ=="}`
	if string(profile) != want {
		t.Fatalf("profile\n got %s\nwant %s", profile, want)
	}
	if h, _ := koi.Hash(profile); h != "2b32ffd2c9ed4ba53517798fb356870a7c01617fb37a853eba4c2dba08c15fbb" {
		t.Errorf("profile hash %s", h)
	}
}

// TestStableProfileBundle: the profile manifest served after a restart is
// the one served before while the profile is unchanged, so peers see no
// UPDATE; another base_url is another profile, with a new timestamp.
func TestStableProfileBundle(t *testing.T) {
	dir := t.TempDir()
	id, err := pipeline.LoadIdentity(dir, "github-sensor", nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 123456000, time.UTC)
	m1, b1, err := id.StableProfileBundle(dir, "http://127.0.0.1:8002/koi-net", t0)
	if err != nil {
		t.Fatal(err)
	}
	if want, _, _ := id.ProfileBundle("http://127.0.0.1:8002/koi-net", t0); string(m1) != string(want) {
		t.Fatalf("first manifest %s, want %s", m1, want)
	}
	m2, b2, err := id.StableProfileBundle(dir, "http://127.0.0.1:8002/koi-net", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if string(m2) != string(m1) || string(b2) != string(b1) {
		t.Fatalf("unchanged profile, new manifest after a restart:\n%s\n%s", m2, m1)
	}
	t1 := t0.Add(2 * time.Hour)
	m3, _, err := id.StableProfileBundle(dir, "http://example.org/koi-net", t1)
	if err != nil {
		t.Fatal(err)
	}
	if want, _, _ := id.ProfileBundle("http://example.org/koi-net", t1); string(m3) != string(want) {
		t.Fatalf("changed profile: manifest %s, want %s", m3, want)
	}
	m4, _, err := id.StableProfileBundle(dir, "http://example.org/koi-net", t1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if string(m4) != string(m3) {
		t.Fatalf("the changed profile's manifest moved again: %s, want %s", m4, m3)
	}
}
