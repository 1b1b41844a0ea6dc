package webhook_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/koistream/koistream/pipeline/webhook"
)

// GitHub's documented test vector (docs "Validating webhook deliveries").
const (
	ghSecret    = "It's a Secret to Everybody"
	ghPayload   = "Hello, World!"
	ghSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestSignGitHubVector(t *testing.T) {
	t.Parallel()
	if got := webhook.Sign([]byte(ghSecret), []byte(ghPayload)); got != ghSignature {
		t.Errorf("Sign(%q, %q) = %s, want %s", ghSecret, ghPayload, got, ghSignature)
	}
}

func TestSign(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret string
		body   string
	}{
		{"github vector", ghSecret, ghPayload},
		{"empty body", "s", ""},
		{"empty secret", "", "{}"},
		{"binary body", "s", "\x00\xff\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := webhook.Sign([]byte(tc.secret), []byte(tc.body))
			hexSig, ok := strings.CutPrefix(got, "sha256=")
			if !ok {
				t.Fatalf("Sign = %q, want the sha256= prefix", got)
			}
			if len(hexSig) != 64 || strings.ToLower(hexSig) != hexSig {
				t.Errorf("Sign = %q, want 64 lowercase hex digits after the prefix", got)
			}
			if again := webhook.Sign([]byte(tc.secret), []byte(tc.body)); again != got {
				t.Errorf("Sign is not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	other := webhook.Sign([]byte("another secret"), []byte(ghPayload))
	hexPart := strings.TrimPrefix(ghSignature, "sha256=")
	tests := []struct {
		name    string
		secrets []string
		header  string
		body    string
		want    bool
	}{
		{"github vector", []string{ghSecret}, ghSignature, ghPayload, true},
		{"body differs by one byte", []string{ghSecret}, ghSignature, "Hello, World?", false},
		{"body with trailing newline", []string{ghSecret}, ghSignature, ghPayload + "\n", false},
		{"wrong secret", []string{"It's a secret to everybody"}, ghSignature, ghPayload, false},
		{"signed with another secret", []string{ghSecret}, other, ghPayload, false},
		{"sha1 prefix", []string{ghSecret}, "sha1=" + hexPart, ghPayload, false},
		{"uppercase prefix", []string{ghSecret}, "SHA256=" + hexPart, ghPayload, false},
		{"no prefix", []string{ghSecret}, hexPart, ghPayload, false},
		{"prefix only", []string{ghSecret}, "sha256=", ghPayload, false},
		{"empty header", []string{ghSecret}, "", ghPayload, false},
		// GitHub sends lowercase hex; hex.DecodeString also takes uppercase,
		// and the decoded MAC is what is compared, so case does not matter.
		{"uppercase hex", []string{ghSecret}, "sha256=" + strings.ToUpper(hexPart), ghPayload, true},
		{"mixed case hex", []string{ghSecret}, "sha256=" + strings.ToUpper(hexPart[:10]) + hexPart[10:], ghPayload, true},
		{"truncated hex", []string{ghSecret}, ghSignature[:len(ghSignature)-2], ghPayload, false},
		{"odd length hex", []string{ghSecret}, ghSignature[:len(ghSignature)-1], ghPayload, false},
		{"extra hex byte", []string{ghSecret}, ghSignature + "00", ghPayload, false},
		{"non-hex digit", []string{ghSecret}, ghSignature[:len(ghSignature)-1] + "g", ghPayload, false},
		{"leading space", []string{ghSecret}, " " + ghSignature, ghPayload, false},
		{"trailing space", []string{ghSecret}, ghSignature + " ", ghPayload, false},
		{"two signatures", []string{ghSecret}, ghSignature + "," + other, ghPayload, false},
		{"rotation: new secret first", []string{ghSecret, "old secret"}, ghSignature, ghPayload, true},
		{"rotation: new secret last", []string{"old secret", "older secret", ghSecret}, ghSignature, ghPayload, true},
		{"rotation: none matches", []string{"old secret", "older secret"}, ghSignature, ghPayload, false},
		{"empty secret list", nil, ghSignature, ghPayload, false},
		{"empty secret skipped", []string{""}, webhook.Sign(nil, []byte(ghPayload)), ghPayload, false},
		{"empty secret beside a good one", []string{"", ghSecret}, ghSignature, ghPayload, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var secrets [][]byte
			for _, s := range tc.secrets {
				secrets = append(secrets, []byte(s))
			}
			if got := webhook.VerifySignature(secrets, tc.header, []byte(tc.body)); got != tc.want {
				t.Errorf("VerifySignature(%q, %q, %q) = %v, want %v", tc.secrets, tc.header, tc.body, got, tc.want)
			}
		})
	}
}

func TestParseSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" ", nil},
		{",,,", nil},
		{"one", []string{"one"}},
		{ghSecret, []string{ghSecret}}, // inner spaces and quotes are kept
		{" new , old ", []string{"new", "old"}},
		{"new,,old,", []string{"new", "old"}},
		{"\tnew\n,old", []string{"new", "old"}},
		{"a,a", []string{"a", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, s := range webhook.ParseSecrets(tc.in) {
				got = append(got, string(s))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ParseSecrets(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestParseSecretsRotation checks the path GITHUB_WEBHOOK_SECRET takes: a
// comma-separated list in which any secret verifies.
func TestParseSecretsRotation(t *testing.T) {
	t.Parallel()
	secrets := webhook.ParseSecrets("old-secret, " + ghSecret + " ,")
	if !webhook.VerifySignature(secrets, ghSignature, []byte(ghPayload)) {
		t.Errorf("GitHub's vector does not verify under %q", secrets)
	}
	old := webhook.Sign([]byte("old-secret"), []byte(ghPayload))
	if !webhook.VerifySignature(secrets, old, []byte(ghPayload)) {
		t.Errorf("a delivery signed with the old secret does not verify under %q", secrets)
	}
}

func FuzzVerifySignature(f *testing.F) {
	f.Add([]byte(ghSecret), ghSignature, []byte(ghPayload))
	f.Add([]byte(ghSecret), "sha1="+strings.TrimPrefix(ghSignature, "sha256="), []byte(ghPayload))
	f.Add([]byte(""), "sha256=", []byte(""))
	f.Add([]byte("k"), "sha256=zz", []byte("{}"))
	f.Add([]byte("k"), strings.ToUpper(ghSignature), []byte(ghPayload))
	f.Fuzz(func(t *testing.T, secret []byte, header string, body []byte) {
		secrets := [][]byte{secret}
		got := webhook.VerifySignature(secrets, header, body)

		sig := webhook.Sign(secret, body)
		signed := webhook.VerifySignature(secrets, sig, body)
		if len(secret) == 0 {
			// An empty secret is never used: it would make anyone a signer.
			if got || signed {
				t.Fatalf("empty secret verified a signature: header %q -> %v, Sign -> %v", header, got, signed)
			}
			return
		}
		if !signed {
			t.Fatalf("Sign(%q, %q) = %q does not verify under the same secret", secret, body, sig)
		}
		// Exactly the header GitHub would send verifies, up to the case of
		// the hex digits.
		hexSig, ok := strings.CutPrefix(header, "sha256=")
		want := ok && strings.EqualFold(hexSig, strings.TrimPrefix(sig, "sha256="))
		if got != want {
			t.Fatalf("VerifySignature(%q, %q, %q) = %v, want %v (signature is %s)", secret, header, body, got, want, sig)
		}
		// Rotation: adding more secrets never turns a valid signature invalid.
		if !webhook.VerifySignature([][]byte{[]byte("x"), secret, nil}, sig, body) {
			t.Fatalf("Sign(%q, %q) does not verify among several secrets", secret, body)
		}
	})
}
