package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/koistream/koistream/topics/koi"
)

func TestIdentityCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PRIV_KEY_PASSWORD", "pw")
	var first string
	for i := range 2 {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"identity", "--data-dir", dir}, &stdout, &stderr); code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, stderr.String())
		}
		var got struct {
			RID     string          `json:"rid"`
			Profile json.RawMessage `json:"profile"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
			t.Fatalf("output %q: %v", stdout.String(), err)
		}
		var profile struct {
			Context   string `json:"@context"`
			BaseURL   string `json:"base_url"`
			NodeType  string `json:"node_type"`
			PublicKey string `json:"public_key"`
		}
		if err := json.Unmarshal(got.Profile, &profile); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.RID, "orn:koi-net.node:github-sensor+") || koi.CheckNodeKey(got.RID, profile.PublicKey) != nil {
			t.Errorf("RID %s does not match public key %s", got.RID, profile.PublicKey)
		}
		if !bytes.HasPrefix(got.Profile, []byte(`{"@context":"orn:koi-net.context:koi-net.node",`)) ||
			profile.NodeType != "FULL" || profile.BaseURL != "http://127.0.0.1:8002/koi-net" {
			t.Errorf("profile %s", got.Profile)
		}
		if i == 0 {
			first = got.RID
		} else if got.RID != first {
			t.Errorf("RID changed on the second run: %s, %s", first, got.RID)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "identity", "priv_key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", st, err)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"identity", "--data-dir", dir, "--name", "a+b"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("--name a+b: exit %d, want %d", code, exitUsage)
	}
	t.Setenv("PRIV_KEY_PASSWORD", "wrong")
	if code := run([]string{"identity", "--data-dir", dir}, &stdout, &stderr); code != exitFailure {
		t.Errorf("wrong password: exit %d, want %d", code, exitFailure)
	}
}
