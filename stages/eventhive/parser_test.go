package eventhive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/koistream/koistream/stages/eventhive"
	wire "github.com/koistream/koistream/topics/eventhive"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

const id = "d891d47f-64a4-4ecc-88ab-69249da31154"

// record builds the raw record the intake writes for body received on
// hive/koistream/<event>.
func record(t testing.TB, event string, body []byte) raw.Record {
	t.Helper()
	m, err := wire.NewMessage(wire.Input{Network: "hive", Channel: "koistream", Event: event, Verification: wire.Encrypted,
		Body: body, ReceivedAt: time.Unix(1795368274, 0)})
	if err != nil {
		t.Fatalf("NewMessage: %v", err)
	}
	rec, err := raw.Parse(m)
	if err != nil {
		t.Fatalf("raw.Parse: %v", err)
	}
	return rec
}

func TestParse(t *testing.T) {
	meta := `"__eventhive__":{"event":"hive/koistream/do","id":"` + id + `","time":1.5,"version":"0.5.0"}`
	tests := []struct {
		name, body, want, rid string
	}{
		{"canonical signed plaintext", "{\n" + `"__sign__":"abc",` + "\n" + `"a":[` + "\n1\n],\n" + meta + "\n}",
			`{"a":[1],` + meta + `}`, "orn:eventhive.message:hive/koistream/do/" + id},
		{"escaped sign name dropped", `{"__sign\u005f_":"x","b":2}`, `{"b":2}`, ""},
		{"nested sign kept", `{"x":{"__sign__":1}}`, `{"x":{"__sign__":1}}`, ""},
		{"no metadata", `{"a":"\u00e9"}`, `{"a":"\u00e9"}`, ""},
		{"empty object", ` {} `, `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record(t, "do", []byte(tt.body))
			obs, err := eventhive.Parse(context.Background(), rec)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(obs) != 1 {
				t.Fatalf("got %d observations, want 1", len(obs))
			}
			o := obs[0]
			if string(o.Contents) != tt.want {
				t.Errorf("contents %s, want %s", o.Contents, tt.want)
			}
			rid := "orn:eventhive.message:hive/koistream/do/" + rec.Key
			if tt.rid != "" && rid != tt.rid {
				t.Errorf("RID %s, want %s", rid, tt.rid)
			}
			want := observed.Observation{
				RID: rid, Op: observed.OpUpsert, Contents: o.Contents, Routing: "evt.eventhive", Immutable: true,
				Path: "/eventhive/hive/koistream/do", PartitionKey: "/eventhive/hive/koistream/do",
			}
			if !reflect.DeepEqual(o, want) {
				t.Errorf("observation %+v, want %+v", o, want)
			}
		})
	}
}

func TestParseEventWithSlashes(t *testing.T) {
	obs, err := eventhive.Parse(context.Background(), record(t, "a/b", []byte(`{"__eventhive__":{"id":"`+id+`"}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := obs[0].RID, "orn:eventhive.message:hive/koistream/a/b/"+id; got != want {
		t.Errorf("RID %s, want %s", got, want)
	}
	if got, want := obs[0].Path, "/eventhive/hive/koistream/a/b"; got != want {
		t.Errorf("path %s, want %s", got, want)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, body := range []string{`[1]`, `"s"`, `1`, `null`, `{`, `{"a":1}x`, "{\"a\":\"\xff\"}", ` `} {
		t.Run(body, func(t *testing.T) {
			_, err := eventhive.Parse(context.Background(), record(t, "e", []byte(body)))
			if !errors.Is(err, eventhive.ErrNotObject) {
				t.Fatalf("Parse(%q) = %v, want ErrNotObject", body, err)
			}
		})
	}
	rec := record(t, "e", []byte(`{}`))
	rec.Metadata[wire.HeaderEvent] = "a/../b"
	if _, err := eventhive.Parse(context.Background(), rec); !errors.Is(err, wire.ErrInvalid) {
		t.Errorf("Parse of a record with a bad event: %v, want ErrInvalid", err)
	}
}

// reference is Contents by encoding/json: ok false where it must refuse;
// otherwise the object's members as decoded, __sign__ removed.
func reference(body []byte) (map[string]any, bool) {
	if !utf8.Valid(body) || !json.Valid(body) {
		return nil, false
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	delete(m, wire.SignKey)
	return m, true
}

// FuzzContents fuzzes the parser's reading of a body against
// encoding/json: it refuses what encoding/json refuses, and what it returns
// is compact JSON decoding to the body's members without __sign__.
func FuzzContents(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":1}`, `{"__sign__":"x","b":[{"__sign__":2}]}`, "{\n\"a\":\"\\u00e9\"\n}",
		`{"a":"\ud800"}`, `nul`, `{"a":1,}`, `{"__sign\u005f_":1,"__sign__":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := eventhive.Contents(body)
		want, ok := reference(body)
		if !ok {
			if err == nil {
				t.Fatalf("Contents(%q) = %s, want a refusal", body, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("Contents(%q): %v, encoding/json accepts it", body, err)
		}
		var buf bytes.Buffer
		if json.Compact(&buf, got) != nil || !bytes.Equal(buf.Bytes(), got) {
			t.Fatalf("Contents(%q) = %s, not compact JSON", body, got)
		}
		gm, ok := reference(got)
		if !ok || !reflect.DeepEqual(gm, want) {
			t.Fatalf("Contents(%q) = %s, decodes to %v, want %v", body, got, gm, want)
		}
		var top map[string]json.RawMessage
		_ = json.Unmarshal(got, &top)
		if _, found := top[wire.SignKey]; found {
			t.Fatalf("Contents(%q) = %s keeps %s", body, got, wire.SignKey)
		}
	})
}
