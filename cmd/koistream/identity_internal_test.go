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

// TestIdentityCommandReadsConfig: identity prints what serve would use for
// the same --config: koi_net.node_name, node_profile.base_url, the data
// folder and the password variable env.priv_key_password names.
func TestIdentityCommandReadsConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "config.yaml")
	data := filepath.Join(dir, "data")
	yaml := "koi_net:\n  node_name: sensor-b\n  node_profile:\n    base_url: http://sensor.example:9000/koi-net\n" +
		"env:\n  priv_key_password: SENSOR_KEY_PW\nkoistream:\n  data_dir: " + data + "\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SENSOR_KEY_PW", "pw")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"identity", "--config", conf}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got struct {
		RID     string `json:"rid"`
		Profile struct {
			BaseURL string `json:"base_url"`
		} `json:"profile"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.RID, "orn:koi-net.node:sensor-b+") || got.Profile.BaseURL != "http://sensor.example:9000/koi-net" {
		t.Errorf("identity %s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(data, "identity", "priv_key.pem")); err != nil {
		t.Errorf("key not in the configured data folder: %v", err)
	}
	// The key is encrypted with the named variable's password.
	t.Setenv("SENSOR_KEY_PW", "")
	if code := run([]string{"identity", "--config", conf}, &stdout, &stderr); code != exitFailure {
		t.Errorf("without the password: exit %d, want %d", code, exitFailure)
	}
}
