package eventhive_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/koistream/koistream/pipeline/eventhive"
)

// The test vector of PUBSUB.md 5.3, checked there against EventHive 0.5.0
// and openssl.
const (
	vectorSecret  = "m1s3cr3t"
	vectorKey     = "773c655562a6da83cb83fbc7175cb275"
	vectorMessage = `{"param1":1,"param2":2,"__eventhive__":{"time":1680610165.4884348,"version":"0.5.0","event":"my-hive/worker/action","id":"d891d47f-64a4-4ecc-88ab-69249da31154"}}`
	vectorSign    = "1c5de7db80acf601c209ef1083bbf5ffa3754896"
	vectorIV      = "AAECAwQFBgcICQoLDA0ODw=="
	vectorCT      = "vNCujbxtHPnfz0OFACYvXQ9aQ1ZKh5HEzUBGT7tTimhSCy2i6THibMjvrapk2P3AtGU2cmE4BTT1wjm3NPSCTsAvF3HQgtIjtUF8yyJEPPHINwdfFWzm1A3+4SLcRaBxaSyuh5UZcv/8UKT0+rZpCAruutpgmMJRFiwChjy7jpHwji+GyI+sbq7yhAsiBP8F0KfGamxoDM1ZFmsMaRCLVdXBlVKku6mESOKvtFuotPD2Q42UgVH0Tdyv+EELur7McmDR91rTM67nxlzOoM73ACki2vp80vA93ZNcFrj1lQ+h"
)

func TestVector(t *testing.T) {
	if got := hex.EncodeToString(eventhive.DeriveKey(vectorSecret)); got != vectorKey {
		t.Errorf("key %s, want %s", got, vectorKey)
	}
	c := eventhive.NewCodec(vectorSecret)
	sig, err := c.Signature([]byte(vectorMessage))
	if err != nil {
		t.Fatal(err)
	}
	if sig != vectorSign {
		t.Errorf("__sign__ %s, want %s", sig, vectorSign)
	}
	iv, _ := base64.StdEncoding.DecodeString(vectorIV)
	wire, err := c.SealWithIV([]byte(vectorMessage), iv)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"iv":"` + vectorIV + `","ciphertext":"` + vectorCT + `"}`
	if string(wire) != want {
		t.Errorf("sealed\n%s\nwant\n%s", wire, want)
	}
	plain, how, err := c.Open(wire)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if how != eventhive.Encrypted {
		t.Errorf("verification %q, want %q", how, eventhive.Encrypted)
	}
	if !bytes.Contains(plain, []byte(`"__sign__":"`+vectorSign+`"`)) || !bytes.HasPrefix(plain, []byte("{\n\"__eventhive__\":{\n\"event\":\"my-hive/worker/action\"")) {
		t.Errorf("plaintext %q is not the canonical signed message", plain)
	}
	// The vector's own wire form, as EventHive would send it, opens too.
	if _, _, err := c.Open([]byte(`{"iv": "` + vectorIV + `", "ciphertext": "` + vectorCT + `"}`)); err != nil {
		t.Errorf("Open(EventHive's wire): %v", err)
	}
	// Under another secret it does not.
	if _, _, err := eventhive.NewCodec("other").Open(wire); !errors.Is(err, eventhive.ErrDecrypt) {
		t.Errorf("Open under another secret: %v, want ErrDecrypt", err)
	}
}
