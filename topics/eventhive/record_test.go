package eventhive_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/eventhive"
	"github.com/koistream/koistream/topics/publish"
	"github.com/koistream/koistream/topics/raw"
)

// TestRoundTrip: what NewMessage writes, Parse reads back unchanged, keyed
// by the message's id when it has a UUID there and by a new ULID when not.
func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 29, 1, 0, 0, 5, time.UTC)
	tests := []struct {
		name, body string
		key        func(string) bool
	}{
		{"id as key", `{"a":1,"__eventhive__":{"id":"d891d47f-64a4-4ecc-88ab-69249da31154"}}`,
			func(k string) bool { return k == "d891d47f-64a4-4ecc-88ab-69249da31154" }},
		{"no metadata", `{"a":1}`, publish.ValidKey},
		{"id not a uuid", `{"__eventhive__":{"id":"../x"}}`, publish.ValidKey},
		{"upper-case uuid", `{"__eventhive__":{"id":"D891D47F-64A4-4ECC-88AB-69249DA31154"}}`, publish.ValidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := eventhive.Input{Network: "hive", Channel: "koistream", Event: "do/it", Verification: eventhive.Signed,
				Body: []byte(tt.body), ReceivedAt: at}
			m, err := eventhive.NewMessage(in)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := m.Metadata.Get(topics.HeaderPartitionKey), "/eventhive/hive/koistream/do/it"; got != want {
				t.Errorf("partition key %q, want %q", got, want)
			}
			rec, err := raw.Parse(m)
			if err != nil {
				t.Fatal(err)
			}
			out, err := eventhive.Parse(rec)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.key(out.Key) {
				t.Errorf("key %q", out.Key)
			}
			in.Key = out.Key
			if out.Network != in.Network || out.Channel != in.Channel || out.Event != in.Event || out.Verification != in.Verification ||
				string(out.Body) != tt.body || !out.ReceivedAt.Equal(at) || out.Key != in.Key {
				t.Errorf("read back %+v, want %+v", out, in)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	now := time.Now()
	ok := eventhive.Input{Network: "n", Channel: "c", Event: "e", Verification: eventhive.Unverified, Body: []byte(`{}`), ReceivedAt: now}
	tests := []struct {
		name string
		edit func(*eventhive.Input)
	}{
		{"glob in network", func(in *eventhive.Input) { in.Network = "n*" }},
		{"slash in channel", func(in *eventhive.Input) { in.Channel = "a/b" }},
		{"empty channel", func(in *eventhive.Input) { in.Channel = "" }},
		{"empty event", func(in *eventhive.Input) { in.Event = "" }},
		{"dot dot event", func(in *eventhive.Input) { in.Event = "a/../b" }},
		{"comma event", func(in *eventhive.Input) { in.Event = "a,b" }},
		{"control in event", func(in *eventhive.Input) { in.Event = "a\nb" }},
		{"invalid utf-8 event", func(in *eventhive.Input) { in.Event = "a\xffb" }},
		{"long event", func(in *eventhive.Input) { in.Event = strings.Repeat("x", 5000) }},
		{"verification", func(in *eventhive.Input) { in.Verification = "maybe" }},
		{"bad key", func(in *eventhive.Input) { in.Key = "k" }},
		{"empty body", func(in *eventhive.Input) { in.Body = nil }},
		{"no time", func(in *eventhive.Input) { in.ReceivedAt = time.Time{} }},
	}
	if _, err := eventhive.NewMessage(ok); err != nil {
		t.Fatalf("the valid input: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.edit(&in)
			if _, err := eventhive.NewMessage(in); !errors.Is(err, eventhive.ErrInvalid) {
				t.Fatalf("NewMessage: %v, want ErrInvalid", err)
			}
		})
	}
	t.Run("other source kind", func(t *testing.T) {
		if _, err := eventhive.Parse(raw.Record{Key: "k", Source: "publish", ReceivedAt: now, Body: []byte(`{}`)}); !errors.Is(err, eventhive.ErrInvalid) {
			t.Fatalf("Parse: %v, want ErrInvalid", err)
		}
	})
}

func TestNames(t *testing.T) {
	if got := eventhive.Channel("hive", "github", "issues.opened"); got != "hive/github/issues.opened" {
		t.Errorf("Channel = %q", got)
	}
	if got := eventhive.Pattern("hive", "koistream"); got != "hive/koistream/*" {
		t.Errorf("Pattern = %q", got)
	}
	for _, s := range []string{"koistream", "my-hive", "a.b_c:d"} {
		if err := eventhive.CheckName(s); err != nil {
			t.Errorf("CheckName(%q): %v", s, err)
		}
	}
	for _, s := range []string{"a?", "[a]", `a\b`, "a b", ".", "..", "é"} {
		if err := eventhive.CheckName(s); !errors.Is(err, eventhive.ErrInvalid) {
			t.Errorf("CheckName(%q) = %v, want ErrInvalid", s, err)
		}
	}
}
