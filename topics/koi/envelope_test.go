package koi_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/koistream/koistream/topics/koi"
)

// signedBody appends ,"signature":"sig" to an unsigned envelope's JSON, as
// the reference sends it (signature as the fourth key).
func signedBody(unsigned, sig string) []byte {
	return []byte(strings.TrimSuffix(unsigned, "}") + `,"signature":"` + sig + `"}`)
}

// lookupOf returns a KeyLookup knowing the given RID -> key pairs.
func lookupOf(known map[string]string) koi.KeyLookup {
	return func(rid string) (string, bool) {
		k, ok := known[rid]
		return k, ok
	}
}

// codeOf returns the reference error code of err, or "" for nil.
func codeOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ee *koi.EnvelopeError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v is not an *EnvelopeError", err)
	}
	return ee.Code
}

func TestEnvelopeSignatureVectors(t *testing.T) {
	v := readVectors(t)
	v21 := readKV(t, "testdata/koi21_vectors.txt")
	pub := v["PUBKEY_DER_B64"]
	s, c := v21["S"], v21["C"]
	for _, tc := range []struct {
		name, unsigned, sig string
		lookup              koi.KeyLookup
		want                string // error code of ValidateEnvelope
	}{
		{"vectors.txt, sender known", v["UNSIGNED_ENVELOPE_JSON"], v["SIGNATURE_B64"], lookupOf(map[string]string{s: pub}), ""},
		{"vectors.txt, sender unknown", v["UNSIGNED_ENVELOPE_JSON"], v["SIGNATURE_B64"], nil, koi.ErrorUnknownNode},
		{"2.1 handshake, sender unknown", v21["HANDSHAKE_UNSIGNED_JSON"], v21["HANDSHAKE_SIGNATURE_B64"], nil, ""},
		{"2.1 handshake, sender known", v21["HANDSHAKE_UNSIGNED_JSON"], v21["HANDSHAKE_SIGNATURE_B64"], lookupOf(map[string]string{s: pub}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := koi.ParseEnvelope(signedBody(tc.unsigned, tc.sig))
			if err != nil {
				t.Fatal(err)
			}
			if env.SourceNode != s || env.TargetNode != c || env.Signature != tc.sig {
				t.Fatalf("parsed %+v", env)
			}
			if got := string(env.Message()); got != tc.unsigned {
				t.Fatalf("message differs from the signed bytes\n got %s\nwant %s", got, tc.unsigned)
			}
			if err := env.Verify(pub); err != nil {
				t.Fatalf("Verify = %v", err)
			}
			if got := codeOf(t, koi.ValidateEnvelope(env, c, tc.lookup)); got != tc.want {
				t.Errorf("ValidateEnvelope code %q, want %q", got, tc.want)
			}
			// The reference's own bytes are already pydantic's form.
			p, err := koi.AppendPydanticJSON(nil, env.Payload)
			if err != nil || !bytes.Equal(p, env.Payload) {
				t.Errorf("payload is not pydantic-canonical: %v\n got %s\nwant %s", err, p, env.Payload)
			}
		})
	}
}

func TestSealVerifiesTheReferenceWay(t *testing.T) {
	v := readVectors(t)
	v21 := readKV(t, "testdata/koi21_vectors.txt")
	key := vectorKey(t, v)
	s, c := v21["S"], v21["C"]
	// A payload as Go might print it: spaces, a float written 1E2, an escape
	// for é, HTML characters and U+2028; Seal must sign pydantic's form.
	payload := "{\"type\": \"events_payload\", \"events\": [{\"rid\": \"orn:github.issue:octo/hello:1\", \"event_type\": \"NEW\"," +
		" \"manifest\": {\"rid\": \"orn:github.issue:octo/hello:1\", \"timestamp\": \"2025-01-02T03:04:05Z\", \"sha256_hash\": \"" + v["CONTENTS_SHA256"] + "\"}," +
		" \"contents\": {\"z\": 1E2, \"a\": \"h\\u00e9 <&> \u2028\", \"n\": null}}]}"
	for _, tc := range []struct {
		name, payload, pydantic string
	}{
		{"events with floats and escapes", payload,
			`{"type":"events_payload","events":[{"rid":"orn:github.issue:octo/hello:1","event_type":"NEW","manifest":{"rid":"orn:github.issue:octo/hello:1","timestamp":"2025-01-02T03:04:05Z","sha256_hash":"` +
				v["CONTENTS_SHA256"] + "\"},\"contents\":{\"z\":100.0,\"a\":\"hé <&> \u2028\",\"n\":null}}]}"},
		{"fetch_rids vector", extractPayload(t, v["UNSIGNED_FETCH_RIDS_JSON"]), extractPayload(t, v["UNSIGNED_FETCH_RIDS_JSON"])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := koi.Seal(key, []byte(tc.payload), s, c)
			if err != nil {
				t.Fatal(err)
			}
			env, err := koi.ParseEnvelope(body)
			if err != nil {
				t.Fatal(err)
			}
			if string(env.Payload) != tc.pydantic {
				t.Fatalf("sent payload\n got %s\nwant %s", env.Payload, tc.pydantic)
			}
			// The reference re-serializes the parsed envelope (pydantic's
			// form, model order) and verifies over that.
			msg := `{"payload":` + tc.pydantic + `,"source_node":"` + s + `","target_node":"` + c + `"}`
			pk, _ := koi.ParsePublicKey(v["PUBKEY_DER_B64"])
			if err := koi.VerifySignature(pk, []byte(msg), env.Signature); err != nil {
				t.Fatalf("reference-style verification: %v", err)
			}
			if len(env.Signature) != koi.SignatureLen {
				t.Errorf("signature length %d", len(env.Signature))
			}
			if err := koi.ValidateEnvelope(env, c, lookupOf(map[string]string{s: v["PUBKEY_DER_B64"]})); err != nil {
				t.Errorf("ValidateEnvelope = %v", err)
			}
			if !bytes.HasSuffix(body, []byte(`,"signature":"`+env.Signature+`"}`)) {
				t.Errorf("signature is not the fourth key: %s", body)
			}
		})
	}
	t.Run("AppendSignedMessage rebuilds the fetch vector", func(t *testing.T) {
		checkSignedMessage(t, v["UNSIGNED_FETCH_RIDS_JSON"])
	})
}

// extractPayload returns the raw payload of an unsigned envelope's JSON.
func extractPayload(t *testing.T, unsigned string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(unsigned), &m); err != nil {
		t.Fatal(err)
	}
	return string(m["payload"])
}

// checkSignedMessage checks that AppendSignedMessage rebuilds the
// reference's unsigned message from its parts.
func checkSignedMessage(t *testing.T, unsigned string) {
	t.Helper()
	var env struct {
		Payload json.RawMessage `json:"payload"`
		Source  string          `json:"source_node"`
		Target  string          `json:"target_node"`
	}
	if err := json.Unmarshal([]byte(unsigned), &env); err != nil {
		t.Fatal(err)
	}
	if got := string(koi.AppendSignedMessage(nil, env.Payload, env.Source, env.Target)); got != unsigned {
		t.Fatalf("AppendSignedMessage\n got %s\nwant %s", got, unsigned)
	}
}

func TestValidateEnvelopeRefusals(t *testing.T) {
	v := readVectors(t)
	v21 := readKV(t, "testdata/koi21_vectors.txt")
	key := vectorKey(t, v)
	pub := v["PUBKEY_DER_B64"]
	s, c := v21["S"], v21["C"]
	other, err := koi.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _ := koi.PublicKeyString(&other.PublicKey)
	otherRID, _ := koi.NodeRIDForKey("other", otherPub)
	known := lookupOf(map[string]string{s: pub, otherRID: otherPub, "orn:koi-net.node:renamed+" + koi.PublicKeyHash(pub): pub})
	payload := extractPayload(t, v["UNSIGNED_ENVELOPE_JSON"])
	good, err := koi.Seal(key, []byte(payload), s, c)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(t *testing.T, b []byte) koi.SignedEnvelope {
		t.Helper()
		env, err := koi.ParseEnvelope(b)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	base := parse(t, good)
	sig, _ := base64.StdEncoding.DecodeString(base.Signature)
	derSig := derOf(t, key, base.Message())

	for _, tc := range []struct {
		name   string
		mutate func(e *koi.SignedEnvelope)
		me     string
		lookup koi.KeyLookup
		want   string
	}{
		{"untouched", func(*koi.SignedEnvelope) {}, c, known, ""},
		{"payload byte", func(e *koi.SignedEnvelope) {
			e.Payload = bytes.Replace(e.Payload, []byte(`"number":1`), []byte(`"number":2`), 1)
		}, c, known, koi.ErrorInvalidSignature},
		{"payload key order", func(e *koi.SignedEnvelope) {
			e.Payload = bytes.Replace(e.Payload, []byte(`"webhook_event_type":"issues","action":"opened"`), []byte(`"action":"opened","webhook_event_type":"issues"`), 1)
		}, c, known, koi.ErrorInvalidSignature},
		{"source: unknown node", func(e *koi.SignedEnvelope) { e.SourceNode = "orn:koi-net.node:stranger+" + koi.PublicKeyHash("x") }, c, known, koi.ErrorUnknownNode},
		{"source: another known node", func(e *koi.SignedEnvelope) { e.SourceNode = otherRID }, c, known, koi.ErrorInvalidSignature},
		{"source: same key, other name", func(e *koi.SignedEnvelope) { e.SourceNode = "orn:koi-net.node:renamed+" + koi.PublicKeyHash(pub) }, c, known, koi.ErrorInvalidSignature},
		{"source: key does not hash to RID", func(*koi.SignedEnvelope) {}, c, lookupOf(map[string]string{s: otherPub}), koi.ErrorInvalidKey},
		{"target changed after signing", func(e *koi.SignedEnvelope) { e.TargetNode = otherRID }, otherRID, known, koi.ErrorInvalidSignature},
		{"signed for another node", func(*koi.SignedEnvelope) {}, otherRID, known, koi.ErrorInvalidTarget},
		{"signature: bit flipped", func(e *koi.SignedEnvelope) {
			b := bytes.Clone(sig)
			b[10] ^= 1
			e.Signature = base64.StdEncoding.EncodeToString(b)
		}, c, known, koi.ErrorInvalidSignature},
		{"signature: r and s swapped", func(e *koi.SignedEnvelope) {
			e.Signature = base64.StdEncoding.EncodeToString(append(bytes.Clone(sig[32:]), sig[:32]...))
		}, c, known, koi.ErrorInvalidSignature},
		{"signature: DER instead of raw", func(e *koi.SignedEnvelope) { e.Signature = base64.StdEncoding.EncodeToString(derSig) }, c, known, koi.ErrorInvalidSignature},
		{"signature: url-safe base64", func(e *koi.SignedEnvelope) {
			e.Signature = base64.URLEncoding.EncodeToString(sig)
			if e.Signature == base64.StdEncoding.EncodeToString(sig) {
				e.Signature = "-" + e.Signature[1:]
			}
		}, c, known, koi.ErrorInvalidSignature},
		{"signature: unpadded", func(e *koi.SignedEnvelope) { e.Signature = strings.TrimRight(e.Signature, "=") }, c, known, koi.ErrorInvalidSignature},
		{"signature: empty", func(e *koi.SignedEnvelope) { e.Signature = "" }, c, known, koi.ErrorInvalidSignature},
		{"signature: by another key", func(e *koi.SignedEnvelope) {
			e.Signature, _ = koi.Sign(other, e.Message())
		}, c, known, koi.ErrorInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := parse(t, good)
			tc.mutate(&env)
			err := koi.ValidateEnvelope(env, tc.me, tc.lookup)
			if got := codeOf(t, err); got != tc.want {
				t.Fatalf("code %q, want %q (%v)", got, tc.want, err)
			}
			if err != nil {
				var ee *koi.EnvelopeError
				errors.As(err, &ee)
				if want := `{"type":"error_response","error":"` + tc.want + `"}`; string(ee.Body()) != want {
					t.Errorf("body %s, want %s", ee.Body(), want)
				}
			}
			// The mutated envelope, sent as a body, is refused the same way.
			env2, perr := koi.ParseEnvelope(env.AppendJSON(nil))
			if perr != nil {
				t.Fatal(perr)
			}
			if got := codeOf(t, koi.ValidateEnvelope(env2, tc.me, tc.lookup)); got != tc.want {
				t.Errorf("after a round trip: code %q, want %q", got, tc.want)
			}
		})
	}
}

// derOf signs msg and returns the ASN.1 DER form koi-net 1.0 used.
func derOf(t *testing.T, key *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	d := sha256.Sum256(msg)
	der, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestHandshakeKeyRules(t *testing.T) {
	v := readVectors(t)
	v21 := readKV(t, "testdata/koi21_vectors.txt")
	key := vectorKey(t, v)
	s, c := v21["S"], v21["C"]
	hs := extractPayload(t, v21["HANDSHAKE_UNSIGNED_JSON"])
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"handshake", hs, ""},
		{"NEW is about another node", strings.ReplaceAll(hs, `"rid":"`+s+`","event_type":"NEW"`, `"rid":"`+c+`","event_type":"NEW"`), koi.ErrorUnknownNode},
		{"UPDATE instead of NEW", strings.Replace(hs, `"event_type":"NEW"`, `"event_type":"UPDATE"`, 1), koi.ErrorUnknownNode},
		{"FORGET only", `{"type":"events_payload","events":[{"rid":"` + s + `","event_type":"FORGET"}]}`, koi.ErrorUnknownNode},
		{"not events", `{"type":"fetch_rids","rid_types":[]}`, koi.ErrorUnknownNode},
		{"profile without key", strings.Replace(hs, `"public_key":`, `"other_key":`, 1), koi.ErrorInvalidKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := koi.Seal(key, []byte(tc.payload), s, c)
			if err != nil {
				t.Fatal(err)
			}
			env, err := koi.ParseEnvelope(body)
			if err != nil {
				t.Fatal(err)
			}
			if got := codeOf(t, koi.ValidateEnvelope(env, c, nil)); got != tc.want {
				t.Errorf("code %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVerifyPrettyPrintedBody(t *testing.T) {
	v := readVectors(t)
	var indented bytes.Buffer
	body := signedBody(v["UNSIGNED_ENVELOPE_JSON"], v["SIGNATURE_B64"])
	if err := json.Indent(&indented, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	env, err := koi.ParseEnvelope(indented.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Verify(v["PUBKEY_DER_B64"]); err != nil {
		t.Errorf("pretty-printed body: %v", err)
	}
}

func TestParseEnvelopeRefuses(t *testing.T) {
	v21 := readKV(t, "testdata/koi21_vectors.txt")
	s, c := v21["S"], v21["C"]
	sig := strings.Repeat("A", 86) + "=="
	for _, tc := range []struct{ name, body string }{
		{"empty", ``},
		{"null", `null`},
		{"array", `[]`},
		{"unsigned 1.0 body", `{"rid":"` + s + `","limit":0}`},
		{"no signature", `{"payload":{},"source_node":"` + s + `","target_node":"` + c + `"}`},
		{"payload not object", `{"payload":[],"source_node":"` + s + `","target_node":"` + c + `","signature":"` + sig + `"}`},
		{"payload null", `{"payload":null,"source_node":"` + s + `","target_node":"` + c + `","signature":"` + sig + `"}`},
		{"source not string", `{"payload":{},"source_node":1,"target_node":"` + c + `","signature":"` + sig + `"}`},
		{"source not a node RID", `{"payload":{},"source_node":"orn:github.repo:o/r","target_node":"` + c + `","signature":"` + sig + `"}`},
		{"target missing", `{"payload":{},"source_node":"` + s + `","signature":"` + sig + `"}`},
		{"signature null", `{"payload":{},"source_node":"` + s + `","target_node":"` + c + `","signature":null}`},
		{"key case differs", `{"Payload":{},"source_node":"` + s + `","target_node":"` + c + `","signature":"` + sig + `"}`},
		{"trailing data", `{"payload":{},"source_node":"` + s + `","target_node":"` + c + `","signature":"` + sig + `"} {}`},
		{"invalid UTF-8", `{"payload":{"a":"` + "\xff" + `"},"source_node":"` + s + `","target_node":"` + c + `","signature":"` + sig + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := koi.ParseEnvelope([]byte(tc.body)); !errors.Is(err, koi.ErrInvalidEnvelope) {
				t.Errorf("ParseEnvelope = %v, want ErrInvalidEnvelope", err)
			}
		})
	}
}

func TestAppendPydanticJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		fails          bool
	}{
		{"float 1.0", `1.0`, `1.0`, false},
		{"float 1E2", `1E2`, `100.0`, false},
		{"float 100.50", `100.50`, `100.5`, false},
		{"float 0.00001", `0.00001`, `0.00001`, false},
		{"float 1e-5", `1e-5`, `0.00001`, false},
		{"float 9.9e-6", `9.9e-6`, `9.9e-6`, false},
		{"float 1.5e-7", `0.00000015`, `1.5e-7`, false},
		{"float 2.5e15", `2500000000000000.0`, `2500000000000000.0`, false},
		{"float 1e16", `1e16`, `1e+16`, false},
		{"float 1e300", `1e300`, `1e+300`, false},
		{"float 5e-324", `5e-324`, `5e-324`, false},
		{"float -0.0", `-0.0`, `-0.0`, false},
		{"float 0.0", `0e0`, `0.0`, false},
		{"float shortest digits", `0.1000000000000000055511151231257827`, `0.1`, false},
		{"float overflow", `1e400`, ``, true},
		{"big integer", `123456789012345678901234567890`, `123456789012345678901234567890`, false},
		{"negative integer", `-7`, `-7`, false},
		{"U+2028 raw", "\"a\u2028b\u2029\"", "\"a\u2028b\u2029\"", false},
		{"U+2028 escaped", `"a\u2028b"`, "\"a\u2028b\"", false},
		{"html", `"<>&"`, `"<>&"`, false},
		{"html escaped", `"\u003c\u003e\u0026"`, `"<>&"`, false},
		{"slash", `"a\/b"`, `"a/b"`, false},
		{"non-ASCII escaped", `"h\u00e9llo \ud83d\ude00"`, `"héllo 😀"`, false},
		{"controls", `"\u0001\u001f\n\t\u007f"`, "\"\\u0001\\u001f\\n\\t\x7f\"", false},
		{"nulls kept", `{"a":null,"b":[null]}`, `{"a":null,"b":[null]}`, false},
		{"key order kept", `{"z":1, "a":2, "m":{"y":true,"b":false}}`, `{"z":1,"a":2,"m":{"y":true,"b":false}}`, false},
		{"empty containers", `{"a":{},"b":[]}`, `{"a":{},"b":[]}`, false},
		{"duplicate key", `{"a":1,"a":2}`, ``, true},
		{"invalid", `{"a":}`, ``, true},
		{"two values", `{} {}`, ``, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := koi.AppendPydanticJSON(nil, []byte(tc.in))
			if tc.fails {
				if !errors.Is(err, koi.ErrNotPydanticJSON) {
					t.Fatalf("got %s, %v; want ErrNotPydanticJSON", got, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestTimestampsAsPydanticPrintsThem(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2025-01-02T03:04:05.123456Z", "2025-01-02T03:04:05.123456Z"},
		{"2025-01-02T03:04:05Z", "2025-01-02T03:04:05Z"},
		{"2025-01-02T03:04:05.000000Z", "2025-01-02T03:04:05Z"},
		{"2025-01-02T03:04:05.1234567Z", "2025-01-02T03:04:05.123456Z"},
		{"2025-01-02T03:04:05.5+00:00", "2025-01-02T03:04:05.500000Z"},
		{"2025-01-02T05:04:05+02:00", "2025-01-02T03:04:05Z"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			ts, err := koi.ParseTimestamp(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := koi.FormatTimestamp(ts); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzParseEnvelope holds ParseEnvelope to encoding/json's reading of the
// same body: both accept or both refuse, and on acceptance they agree on
// every member.
func FuzzParseEnvelope(f *testing.F) {
	v := readVectors(f)
	v21 := readKV(f, "testdata/koi21_vectors.txt")
	f.Add(signedBody(v["UNSIGNED_ENVELOPE_JSON"], v["SIGNATURE_B64"]))
	f.Add(signedBody(v21["HANDSHAKE_UNSIGNED_JSON"], v21["HANDSHAKE_SIGNATURE_B64"]))
	f.Add([]byte(`{"payload" : { } , "source_node":"orn:koi-net.node:a+b","target_node":"orn:koi-net.node:c+d","signature":"x","extra":[1,{"a":"}"}]}`))
	f.Add([]byte(`{"payload":{},"payload":{"a":1},"source_node":"orn:koi-net.node:a+b","target_node":"orn:koi-net.node:c\u002bd","signature":"\ud800"}`))
	f.Add([]byte(`{"pay\u006coad":{},"source_node":"orn:koi-net.node:a+b","target_node":"orn:koi-net.node:c+d","signature":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := koi.ParseEnvelope(body)
		want, ok := oracleEnvelope(body)
		if (err == nil) != ok {
			t.Fatalf("ParseEnvelope error %v, oracle ok %v, body %q", err, ok, body)
		}
		if !ok {
			return
		}
		if !bytes.Equal(got.Payload, want.Payload) || got.SourceNode != want.SourceNode ||
			got.TargetNode != want.TargetNode || got.Signature != want.Signature {
			t.Fatalf("ParseEnvelope %+v, oracle %+v, body %q", got, want, body)
		}
	})
}

// oracleEnvelope reads an envelope body with encoding/json.
func oracleEnvelope(body []byte) (koi.SignedEnvelope, bool) {
	if !utf8.Valid(body) {
		return koi.SignedEnvelope{}, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return koi.SignedEnvelope{}, false
	}
	var env koi.SignedEnvelope
	env.Payload = m["payload"]
	if len(env.Payload) == 0 || env.Payload[0] != '{' {
		return koi.SignedEnvelope{}, false
	}
	for name, dst := range map[string]*string{"source_node": &env.SourceNode, "target_node": &env.TargetNode, "signature": &env.Signature} {
		raw := m[name]
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
			return koi.SignedEnvelope{}, false
		}
	}
	for _, rid := range []string{env.SourceNode, env.TargetNode} {
		if _, err := koi.ParseNodeRID(rid); err != nil {
			return koi.SignedEnvelope{}, false
		}
	}
	return env, true
}
