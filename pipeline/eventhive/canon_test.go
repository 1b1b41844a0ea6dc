package eventhive_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/koistream/koistream/pipeline/eventhive"
)

// TestCanonical: the expectations are Python 3.11's
// json.dumps(json.loads(in), indent=0, sort_keys=True, separators=(',',':')),
// generated once and pasted here.
func TestCanonical(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty object", "{}", "{}"},
		{"empty array", "[]", "[]"},
		{"indent zero newlines", "{\"b\":[1,2,{\"c\":null}],\"a\":{\"x\":true,\"y\":false},\"e\":[],\"f\":{}}", "{\n\"a\":{\n\"x\":true,\n\"y\":false\n},\n\"b\":[\n1,\n2,\n{\n\"c\":null\n}\n],\n\"e\":[],\n\"f\":{}\n}"},
		{"sorted by code point", "{\"b\":1,\"a\":2,\"B\":3,\"\\u00e9\":4,\"z\":5,\"\\ud83d\\ude00\":6,\"\\uffff\":7}", "{\n\"B\":3,\n\"a\":2,\n\"b\":1,\n\"z\":5,\n\"\\u00e9\":4,\n\"\\uffff\":7,\n\"\\ud83d\\ude00\":6\n}"},
		{"duplicate keeps last", "{\"a\":1,\"b\":2,\"a\":3}", "{\n\"a\":3,\n\"b\":2\n}"},
		{"non-ASCII escaped", "{\"s\":\"h\u00e9llo \u4e16\u754c\"}", "{\n\"s\":\"h\\u00e9llo \\u4e16\\u754c\"\n}"},
		{"astral as surrogate pair", "{\"s\":\"\U0001f600 \\ud83d\\ude00\"}", "{\n\"s\":\"\\ud83d\\ude00 \\ud83d\\ude00\"\n}"},
		{"lone surrogate kept", "{\"s\":\"\\udc00x\\ud800\"}", "{\n\"s\":\"\\udc00x\\ud800\"\n}"},
		{"DEL escaped", "{\"s\":\"a\x7fb\\u007f\"}", "{\n\"s\":\"a\\u007fb\\u007f\"\n}"},
		{"controls", "{\"s\":\"\\u0000\\u001f\\b\\f\\n\\r\\t\\u000b\"}", "{\n\"s\":\"\\u0000\\u001f\\b\\f\\n\\r\\t\\u000b\"\n}"},
		{"slash and html not escaped", "{\"s\":\"a/b \\/ <>&\"}", "{\n\"s\":\"a/b / <>&\"\n}"},
		{"quote and backslash", "{\"s\":\"\\\"\\\\\"}", "{\n\"s\":\"\\\"\\\\\"\n}"},
		{"ascii escapes decoded", "{\"s\":\"\\u0041\\u007e\"}", "{\n\"s\":\"A~\"\n}"},
		{"integers as written", "{\"a\":0,\"b\":-0,\"c\":123456789012345678901234567890,\"d\":-7}", "{\n\"a\":0,\n\"b\":0,\n\"c\":123456789012345678901234567890,\n\"d\":-7\n}"},
		{"floats python repr", "[1.0,1.5,-0.0,0.0,1e16,1e15,1E+15,1e-4,1e-5,0.1,123.456e3,1.2345678901234568e+17,5e-324,1.7976931348623157e308,1e400,-1e400,1e-400,2.5E-7,100.0,1680610165.4884348]", "[\n1.0,\n1.5,\n-0.0,\n0.0,\n1e+16,\n1000000000000000.0,\n1000000000000000.0,\n0.0001,\n1e-05,\n0.1,\n123456.0,\n1.2345678901234568e+17,\n5e-324,\n1.7976931348623157e+308,\nInfinity,\n-Infinity,\n0.0,\n2.5e-07,\n100.0,\n1680610165.4884348\n]"},
		{"nested arrays", "[[],[[]],[1,[2]]]", "[\n[],\n[\n[]\n],\n[\n1,\n[\n2\n]\n]\n]"},
		{"whitespace", " { \"a\" : [ 1 , 2 ] } ", "{\n\"a\":[\n1,\n2\n]\n}"},
		{"top-level scalars", "\"x\"", "\"x\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eventhive.Canonical([]byte(tt.in))
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonical(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalRefuses(t *testing.T) {
	for _, in := range []string{``, ` `, `{`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `NaN`, `Infinity`,
		`{"a":1}x`, `"\x01"`, `"\q"`, `"\u12"`, "\"\xff\"", `tru`, `nul`, `{1:2}`, `'a'`, `[1 2]`} {
		t.Run(in, func(t *testing.T) {
			if got, err := eventhive.Canonical([]byte(in)); !errors.Is(err, eventhive.ErrNotJSON) {
				t.Fatalf("Canonical(%q) = %q, %v; want ErrNotJSON", in, got, err)
			}
		})
	}
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	if _, err := eventhive.Canonical([]byte(deep)); !errors.Is(err, eventhive.ErrNotJSON) {
		t.Errorf("10001 levels: %v, want ErrNotJSON as encoding/json", err)
	}
}

func TestAppendFloat(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{1680610165.4884348, "1680610165.4884348"}, {1, "1.0"}, {1e16, "1e+16"}, {9999999999999998, "9999999999999998.0"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {-2.5e-300, "-2.5e-300"}, {1e22, "1e+22"},
	} {
		if got := string(eventhive.AppendFloat(nil, tt.f)); got != tt.want {
			t.Errorf("AppendFloat(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

// TestOpen covers what a receiver with and without a secret accepts and
// why it refuses the rest.
func TestOpen(t *testing.T) {
	secret := eventhive.NewCodec(vectorSecret)
	plain := eventhive.NewCodec("")
	sealed, err := secret.Seal([]byte(vectorMessage))
	if err != nil {
		t.Fatal(err)
	}
	signedPlain := strings.Replace(vectorMessage, `{"param1"`, `{"__sign__":"`+vectorSign+`","param1"`, 1)
	tampered := bytes.Replace(sealed, []byte(`"ciphertext":"`), []byte(`"ciphertext":"A`), 1)
	// Flip one bit of the ciphertext: CTR decrypts it to a plaintext one
	// bit off, whose signature then fails (there is no MAC over the
	// ciphertext, so this is the case that matters).
	var w map[string]string
	if err := json.Unmarshal(sealed, &w); err != nil {
		t.Fatal(err)
	}
	ct, err := base64.StdEncoding.DecodeString(w["ciphertext"])
	if err != nil {
		t.Fatal(err)
	}
	ct[len(ct)/2] ^= 1
	bitflip, _ := json.Marshal(map[string]string{"iv": w["iv"], "ciphertext": base64.StdEncoding.EncodeToString(ct)})

	tests := []struct {
		name  string
		codec *eventhive.Codec
		in    string
		how   string
		err   error
	}{
		{"plaintext without secret", plain, `{"a":1}`, eventhive.Unverified, nil},
		{"encrypted without secret is an object", plain, string(sealed), eventhive.Unverified, nil},
		{"array refused", plain, `[1]`, "", eventhive.ErrNotObject},
		{"not JSON refused", plain, `{"a"`, "", eventhive.ErrNotObject},
		{"sealed", secret, string(sealed), eventhive.Encrypted, nil},
		{"signed plaintext accepted as EventHive does", secret, signedPlain, eventhive.Signed, nil},
		{"unsigned plaintext refused", secret, vectorMessage, "", eventhive.ErrBadSignature},
		{"wrong signature", secret, strings.Replace(signedPlain, `"param2":2`, `"param2":3`, 1), "", eventhive.ErrBadSignature},
		{"sign not a string", secret, `{"__sign__":1}`, "", eventhive.ErrBadSignature},
		{"bad base64", secret, string(tampered), "", eventhive.ErrDecrypt},
		{"short iv", secret, `{"iv":"AAAA","ciphertext":"AAAA"}`, "", eventhive.ErrDecrypt},
		{"flipped ciphertext bit", secret, string(bitflip), "", nil}, // ErrDecrypt or ErrBadSignature, see below
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, how, err := tt.codec.Open([]byte(tt.in))
			if tt.name == "flipped ciphertext bit" {
				if !errors.Is(err, eventhive.ErrBadSignature) && !errors.Is(err, eventhive.ErrDecrypt) {
					t.Fatalf("Open = %v, want a refusal", err)
				}
				return
			}
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Open = %v, want %v", err, tt.err)
			}
			if how != tt.how {
				t.Errorf("verification %q, want %q", how, tt.how)
			}
			if err == nil && !json.Valid(out) {
				t.Errorf("returned %q, not JSON", out)
			}
		})
	}
}

// FuzzOpen fuzzes the receive path (parse, decrypt, verify) and the
// canonicalizer against encoding/json: Open without a secret accepts
// exactly the JSON objects encoding/json reads; Canonical of what it
// accepts is JSON that decodes to the same value and is a fixed point; and
// what is sealed under a secret opens again, while nothing else panics.
func FuzzOpen(f *testing.F) {
	secret := eventhive.NewCodec(vectorSecret)
	sealed, _ := secret.Seal([]byte(vectorMessage))
	for _, s := range []string{vectorMessage, string(sealed), `{"iv":"AAECAwQFBgcICQoLDA0ODw==","ciphertext":"` + vectorCT + `"}`,
		`{"a":"\ud83d\ude00\udc00\u007f","b":[1e400,-0,-0.0,1.5e-7],"a":null}`, `[]`, `{"__sign__":"x"}`, "{\"\xff\":1}"} {
		f.Add([]byte(s))
	}
	plain := eventhive.NewCodec("")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, serr := secret.Open(b) // must not panic
		out, _, err := plain.Open(b)
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		isObject := utf8.Valid(b) && json.Valid(b) && len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != isObject {
			t.Fatalf("Open(%q) = %v; encoding/json says object: %v", b, err, isObject)
		}
		if err != nil {
			if serr == nil {
				t.Fatalf("secret Open(%q) accepted what is not an object", b)
			}
			return
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("Open without a secret changed the message")
		}
		canon, err := eventhive.Canonical(b)
		if err != nil {
			t.Fatalf("Canonical(%q): %v", b, err)
		}
		if bytes.Contains(canon, []byte("Infinity")) {
			return // Python's output for 1e400, which neither encoding/json nor Open reads
		}
		again, err := eventhive.Canonical(canon)
		if err != nil || !bytes.Equal(again, canon) {
			t.Fatalf("Canonical not a fixed point: %q then %q, %v", canon, again, err)
		}
		{
			var x, y any
			if err := json.Unmarshal(b, &x); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(canon, &y); err != nil {
				t.Fatalf("Canonical(%q) = %q, not JSON: %v", b, canon, err)
			}
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("Canonical(%q) = %q decodes to %v, want %v", b, canon, y, x)
			}
		}
		wire, err := secret.Seal(b)
		if err != nil {
			t.Fatalf("Seal(%q): %v", b, err)
		}
		if _, how, err := secret.Open(wire); err != nil || how != eventhive.Encrypted {
			t.Fatalf("Open(Seal(%q)) = %q, %v", b, how, err)
		}
	})
}
