package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// signaturePrefix starts GitHub's X-Hub-Signature-256 value.
const signaturePrefix = "sha256="

// VerifySignature reports whether header, an X-Hub-Signature-256 value, is
// the HMAC-SHA256 of body under any of secrets. Every secret is tried, each
// comparison in constant time, so a caller rotating secrets can list the old
// and the new one. An empty header or secret list never verifies.
func VerifySignature(secrets [][]byte, header string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return false
	}
	want, err := hex.DecodeString(hexSig)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	valid := false
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		mac := hmac.New(sha256.New, s)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), want) {
			valid = true
		}
	}
	return valid
}

// wellFormedSignature reports whether header has the form of an
// X-Hub-Signature-256 value, "sha256=" and 64 hex digits, so that a request
// that could never verify is refused before its body is read.
func wellFormedSignature(header string) bool {
	hexSig, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok || len(hexSig) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(hexSig); i++ {
		c := hexSig[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Sign returns the X-Hub-Signature-256 value GitHub would send for body
// under secret. Tests and tools that post webhooks use it.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// ParseSecrets splits a comma-separated secret list (GITHUB_WEBHOOK_SECRET),
// trimming spaces and dropping empty entries.
func ParseSecrets(s string) [][]byte {
	var out [][]byte
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, []byte(p))
		}
	}
	return out
}
