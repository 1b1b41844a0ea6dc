package koi_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

// readKV parses a testdata file of "KEY VALUE" lines.
func readKV(t testing.TB, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := make(map[string]string)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if key, value, ok := strings.Cut(sc.Text(), " "); ok {
			v[key] = value
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

// vectorKey returns the private key of vectors.txt (scalar 0x1f...1f).
func vectorKey(t testing.TB, v map[string]string) *ecdsa.PrivateKey {
	t.Helper()
	d, err := hex.DecodeString(strings.TrimPrefix(v["PRIVATE_SCALAR_HEX"], "0x"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// withoutContext removes the leading "@context" member of a 2.1 profile,
// giving the 2.0 form of the same profile.
func withoutContext(t testing.TB, s string) string {
	t.Helper()
	i := strings.Index(s, `",`)
	if !strings.HasPrefix(s, `{"@context":"`) || i < 0 {
		t.Fatalf("no leading @context in %s", s)
	}
	return "{" + s[i+2:]
}

func TestIdentityVectors(t *testing.T) {
	v := readVectors(t)
	v21 := readKV(t, "testdata/koi21_vectors.txt")
	key := vectorKey(t, v)

	pub, err := koi.PublicKeyString(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if pub != v["PUBKEY_DER_B64"] {
		t.Fatalf("public key\n got %s\nwant %s", pub, v["PUBKEY_DER_B64"])
	}
	rid, err := koi.NodeRIDForKey("github-sensor", pub)
	if err != nil {
		t.Fatal(err)
	}
	if rid != v["NODE_RID"] || rid != v21["S"] {
		t.Fatalf("node RID %s, want %s", rid, v["NODE_RID"])
	}
	if err := koi.CheckNodeKey(rid, pub); err != nil {
		t.Fatalf("CheckNodeKey(vector) = %v", err)
	}
	edge := koi.EdgeRID(v21["S"], v21["C"])
	if edge != v["EDGE_RID(source=NODE_RID,target=coordinator)"] || edge != v21["EDGE_RID"] {
		t.Fatalf("edge RID %s, want %s", edge, v21["EDGE_RID"])
	}

	hashes := []struct {
		name, json, want string
	}{
		{"contents", v["CONTENTS_JCS"], v["CONTENTS_SHA256"]},
		{"profile 2.1", v21["PROFILE21_JSON"], v21["PROFILE21_SHA256"]},
		{"profile 2.0", withoutContext(t, v21["PROFILE21_JSON"]), v21["PROFILE20_SHA256"]},
		{"profile 2.0 is PROFILE_SHA256", withoutContext(t, v21["PROFILE21_JSON"]), v["PROFILE_SHA256"]},
		{"edge proposal 2.1", v21["EDGE_PROPOSAL21_JSON"], v21["EDGE_PROPOSAL21_SHA256"]},
		{"edge proposal 2.0", withoutContext(t, v21["EDGE_PROPOSAL21_JSON"]), v21["EDGE_PROPOSAL20_SHA256"]},
		{"edge approval 2.1", v21["EDGE_APPROVED21_JSON"], v21["EDGE_APPROVED21_SHA256"]},
	}
	for _, tc := range hashes {
		t.Run(tc.name, func(t *testing.T) {
			got, err := koi.Hash([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("hash %s, want %s", got, tc.want)
			}
		})
	}

	t.Run("contents JCS", func(t *testing.T) {
		got, err := koi.Canonicalize(nil, vectorContents(t, v))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != v["CONTENTS_JCS"] {
			t.Errorf("JCS\n got %s\nwant %s", got, v["CONTENTS_JCS"])
		}
	})
	t.Run("@context sorts first in JCS", func(t *testing.T) {
		got, err := koi.Canonicalize(nil, []byte(v21["EDGE_PROPOSAL21_JSON"]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, []byte(`{"@context":"`+koi.ContextEdgeProfile+`",`)) {
			t.Errorf("JCS %s", got)
		}
	})
}

func TestPublicKeyRoundTrip(t *testing.T) {
	k, err := koi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := koi.PublicKeyString(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 124 || !strings.HasPrefix(s, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE") {
		t.Fatalf("public key string %q", s)
	}
	back, err := koi.ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(&k.PublicKey) {
		t.Fatal("round trip changed the key")
	}
}

func TestParsePublicKeyRefuses(t *testing.T) {
	v := readVectors(t)
	good := v["PUBKEY_DER_B64"]
	// A P-384 key, to check the curve is enforced.
	p384 := "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE" + strings.Repeat("A", 128)
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"not base64", "%%%"},
		{"no padding", strings.TrimRight(good, "=")},
		{"url alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(good)},
		{"truncated", good[:100]},
		{"other curve", p384},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := koi.ParsePublicKey(tc.in); !errors.Is(err, koi.ErrInvalidKey) {
				t.Errorf("koi.ParsePublicKey(%q) = %v, want ErrInvalidKey", tc.in, err)
			}
		})
	}
}

func TestParseNodeRID(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   koi.NodeRID
		legacy bool
		ok     bool
	}{
		{"orn:koi-net.node:github-sensor+659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2",
			koi.NodeRID{Name: "github-sensor", Hash: "659d582044995e62cf3f5fd977b8c91fa2d9a4183375626f452028f9cfb37aa2"}, false, true},
		{"orn:koi-net.node:coordinator+240e0296-ebf1-4c08-99bf-33543c5554d6",
			koi.NodeRID{Name: "coordinator", Hash: "240e0296-ebf1-4c08-99bf-33543c5554d6"}, true, true},
		{"orn:koi-net.node:a:b+x", koi.NodeRID{Name: "a:b", Hash: "x"}, false, true},
		{"orn:koi-net.node:noplus", koi.NodeRID{}, false, false},
		{"orn:koi-net.node:a+b+c", koi.NodeRID{}, false, false},
		{"orn:koi-net.node:+abc", koi.NodeRID{}, false, false},
		{"orn:koi-net.node:abc+", koi.NodeRID{}, false, false},
		{"orn:koi-net.edge:a+b", koi.NodeRID{}, false, false},
		{"orn:koi-net.node", koi.NodeRID{}, false, false},
		{"", koi.NodeRID{}, false, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := koi.ParseNodeRID(tc.in)
			if !tc.ok {
				if !errors.Is(err, koi.ErrInvalidNodeRID) {
					t.Fatalf("koi.ParseNodeRID = %+v, %v; want ErrInvalidNodeRID", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("koi.ParseNodeRID = %+v, %v; want %+v", got, err, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q", got.String())
			}
			if got.Legacy() != tc.legacy {
				t.Errorf("Legacy() = %v", got.Legacy())
			}
		})
	}
}

func TestNodeRIDNames(t *testing.T) {
	for _, name := range []string{"", "a+b", "bad\xff"} {
		if _, err := koi.NodeRIDForKey(name, "k"); !errors.Is(err, koi.ErrInvalidNodeRID) {
			t.Errorf("koi.NodeRIDForKey(%q) = %v", name, err)
		}
		if _, err := koi.NewLegacyNodeRID(name, nil); !errors.Is(err, koi.ErrInvalidNodeRID) {
			t.Errorf("koi.NewLegacyNodeRID(%q) = %v", name, err)
		}
	}
}

func TestNewLegacyNodeRID(t *testing.T) {
	zero := bytes.NewReader(make([]byte, 16))
	rid, err := koi.NewLegacyNodeRID("coordinator", zero)
	if err != nil {
		t.Fatal(err)
	}
	if want := "orn:koi-net.node:coordinator+00000000-0000-4000-8000-000000000000"; rid != want {
		t.Fatalf("got %s, want %s", rid, want)
	}
	rid, err = koi.NewLegacyNodeRID("gosim", nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := koi.ParseNodeRID(rid)
	if err != nil || !n.Legacy() || n.Name != "gosim" || n.Hash[14] != '4' {
		t.Fatalf("random legacy RID %s parses as %+v, %v", rid, n, err)
	}
	if err := koi.CheckNodeKey(rid, readVectors(t)["PUBKEY_DER_B64"]); !errors.Is(err, koi.ErrInvalidKey) {
		t.Errorf("koi.CheckNodeKey(legacy RID) = %v, want ErrInvalidKey", err)
	}
}

func TestCheckNodeKey(t *testing.T) {
	v := readVectors(t)
	pub := v["PUBKEY_DER_B64"]
	other, err := koi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _ := koi.PublicKeyString(&other.PublicKey)
	rid := v["NODE_RID"]
	for _, tc := range []struct {
		name, rid, pub string
		ok             bool
	}{
		{"vector", rid, pub, true},
		{"another name, same key", "orn:koi-net.node:other+" + koi.PublicKeyHash(pub), pub, true},
		{"other key", rid, otherPub, false},
		{"uppercase hash", "orn:koi-net.node:github-sensor+" + strings.ToUpper(koi.PublicKeyHash(pub)), pub, false},
		{"hash of DER bytes", "orn:koi-net.node:github-sensor+" + derHash(t, pub), pub, false},
		{"not a node RID", "orn:koi-net.edge:x+" + koi.PublicKeyHash(pub), pub, false},
		{"garbage key with matching hash", "orn:koi-net.node:x+" + koi.PublicKeyHash("garbage"), "garbage", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := koi.CheckNodeKey(tc.rid, tc.pub)
			if tc.ok && err != nil {
				t.Fatalf("koi.CheckNodeKey = %v", err)
			}
			if !tc.ok && !errors.Is(err, koi.ErrInvalidKey) {
				t.Fatalf("koi.CheckNodeKey = %v, want ErrInvalidKey", err)
			}
		})
	}
}

// derHash is the hash the RID does not use: SHA-256 of the DER bytes.
func derHash(t *testing.T, pub string) string {
	k, err := koi.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hexDER(k)
	return b
}

func TestLegacyEdgeRID(t *testing.T) {
	for _, tc := range []struct {
		name, source, target, dumped string
	}{
		{"ascii", "orn:koi-net.node:a+1", "orn:koi-net.node:b+2",
			`{"source": "orn:koi-net.node:a+1", "target": "orn:koi-net.node:b+2"}`},
		{"escapes", "orn:koi-net.node:é😀+\"\\\n\x7f", "t",
			`{"source": "orn:koi-net.node:\u00e9\ud83d\ude00+\"\\\n\u007f", "target": "t"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := koi.LegacyEdgeRID(tc.source, tc.target), koi.TypeKoiNetEdge+":"+sha256Hex([]byte(tc.dumped)); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

// sha256Hex is the lowercase hex SHA-256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// hexDER returns the SHA-256 hex of k's DER SubjectPublicKeyInfo.
func hexDER(k *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	return sha256Hex(der), err
}
