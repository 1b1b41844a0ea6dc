package eventhive_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/eventhive"
	stage "github.com/koistream/koistream/stages/eventhive"
	wire "github.com/koistream/koistream/topics/eventhive"
	"github.com/koistream/koistream/topics/raw"
)

// FuzzReceive fuzzes the whole receive path, payload and channel: what the
// subscriber's codec accepts (as sent, and sealed under a secret) becomes
// a raw record that the eventhive parser turns into exactly one
// observation, so nothing the intake took in ends in the dead topic; and
// the parser's contents never keep __sign__.
func FuzzReceive(f *testing.F) {
	for _, s := range []struct{ payload, event string }{
		{vectorMessage, "action"},
		{`{"a":"\ud83d\ude00","__sign__":"x"}`, "a/b"},
		{`[1]`, "x"},
		{`{"__eventhive__":{"id":"d891d47f-64a4-4ecc-88ab-69249da31154"}}`, "do"},
		{`{"n":1e400}`, "big"},
		{`{}`, ".."},
	} {
		f.Add([]byte(s.payload), s.event)
	}
	plain := eventhive.NewCodec("")
	secret := eventhive.NewCodec(vectorSecret)
	f.Fuzz(func(t *testing.T, payload []byte, event string) {
		if _, _, err := secret.Open(payload); err == nil {
			check(t, payload, event, secret)
		}
		body, _, err := plain.Open(payload)
		if err != nil {
			return
		}
		check(t, body, event, plain)
		sealed, err := secret.Seal(payload)
		if err != nil {
			t.Fatalf("Seal of an accepted object: %v", err)
		}
		if _, _, err := secret.Open(sealed); err == nil {
			check(t, sealed, event, secret)
		}
	})
}

// check runs one message the codec accepts through the raw format and the
// parser.
func check(t *testing.T, payload []byte, event string, codec *eventhive.Codec) {
	t.Helper()
	body, how, err := codec.Open(payload)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	m, err := wire.NewMessage(wire.Input{Network: "n", Channel: "c", Event: event, Verification: how, Body: body, ReceivedAt: time.Unix(1, 0)})
	if err != nil {
		if wire.CheckEvent(event) == nil {
			t.Fatalf("NewMessage refused a valid event %q: %v", event, err)
		}
		return // the subscriber dead-letters a bad channel name
	}
	rec, err := raw.Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := stage.Parse(context.Background(), rec)
	if err != nil || len(obs) != 1 {
		t.Fatalf("the parser refused what the intake accepted (%q on %q): %v", body, event, err)
	}
	// Source, key and receive time are the normalize stage's to fill.
	o := obs[0]
	o.Source, o.SourceKey, o.ReceivedAt = wire.SourceKind, rec.Key, rec.ReceivedAt
	if err := o.Validate(); err != nil {
		t.Fatalf("observation invalid: %v", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(o.Contents, &top); err != nil {
		t.Fatalf("contents %q: %v", o.Contents, err)
	}
	if _, ok := top[wire.SignKey]; ok {
		t.Fatalf("contents %q keep %s", o.Contents, wire.SignKey)
	}
}
