package stages_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
)

func rawMessage(t *testing.T, event, file string) (context.Context, *message.Message) {
	t.Helper()
	body, err := os.ReadFile("github/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	m := message.NewMessage("raw-1", body)
	m.Metadata = message.Metadata{
		topics.MetadataKey:          "delivery-1",
		topics.HeaderSourceKind:     topics.SourceGitHubWebhook,
		topics.HeaderGitHubEvent:    event,
		topics.HeaderGitHubDelivery: "delivery-1",
		topics.HeaderContentType:    "application/json",
		topics.HeaderReceivedAt:     time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC).Format(time.RFC3339Nano),
	}
	return topics.ContextWithPosition(context.Background(), topics.Position{Topic: "koistream.raw", Partition: 2, Offset: 41}), m
}

func TestNormalizeStage(t *testing.T) {
	t.Parallel()
	st := newStage(t, stages.NormalizeName, nil)
	ctx, in := rawMessage(t, "issues", "issues.opened.json")
	out, err := st.Process(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 2 {
		t.Fatalf("%d observations, want the event and its entities", len(out))
	}
	for _, m := range out {
		rid := m.Metadata.Get(topics.HeaderRID)
		for k, want := range map[string]string{
			topics.MetadataKey:        rid,
			topics.HeaderSourceKey:    "delivery-1",
			topics.HeaderRawPartition: "2",
			topics.HeaderRawOffset:    "41",
			topics.HeaderGitHubEvent:  "issues",
			topics.HeaderReceivedAt:   in.Metadata.Get(topics.HeaderReceivedAt),
		} {
			if got := m.Metadata.Get(k); got != want || got == "" {
				t.Errorf("%s: metadata %s = %q, want %q", rid, k, got, want)
			}
		}
	}
}

func TestNormalizeStageRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*message.Message)
	}{
		{"unknown source kind", func(m *message.Message) { m.Metadata.Set(topics.HeaderSourceKind, "carrier-pigeon") }},
		{"no source kind", func(m *message.Message) { delete(m.Metadata, topics.HeaderSourceKind) }},
		{"bad received-at", func(m *message.Message) { m.Metadata.Set(topics.HeaderReceivedAt, "yesterday") }},
		{"not JSON", func(m *message.Message) { m.Payload = []byte("{oops") }},
		{"wrong field types", func(m *message.Message) { m.Payload = []byte(`{"action":"opened","issue":{"number":"seven"}}`) }},
		{"no delivery", func(m *message.Message) { delete(m.Metadata, topics.HeaderGitHubDelivery) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := newStage(t, stages.NormalizeName, nil)
			ctx, in := rawMessage(t, "issues", "issues.opened.json")
			c.mutate(in)
			if _, err := st.Process(ctx, in); !stages.IsPermanent(err) {
				t.Fatalf("error %v, want permanent", err)
			}
		})
	}
}
