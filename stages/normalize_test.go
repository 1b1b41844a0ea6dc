package stages_test

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
	ghwire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

// rawMessage builds the raw record of a webhook delivery of file as the
// webhook source writes it, at offset 41 of partition 2 of the raw topic.
func rawMessage(t *testing.T, event, file string) (context.Context, *message.Message) {
	t.Helper()
	body, err := os.ReadFile("github/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := raw.NewMessage(raw.Record{
		Key: "delivery-1", Source: ghwire.SourceKind, ContentType: "application/json", Body: body,
		ReceivedAt: time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC),
		Metadata:   message.Metadata{ghwire.HeaderEvent: event, ghwire.HeaderDelivery: "delivery-1"},
	})
	if err != nil {
		t.Fatal(err)
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
	if len(out) != 3 {
		t.Fatalf("%d observations, want the event, the repository and the issue", len(out))
	}
	wantRouting := []string{"evt.issues", "ent.repo", "ent.issue"}
	wantPath := []string{"/github/koi-garden/pond-sensor/issues/opened", "/github/koi-garden/pond-sensor/repo", "/github/koi-garden/pond-sensor/issue"}
	for i, m := range out {
		o, err := observed.Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		want := observed.Observation{
			RID: o.RID, Op: observed.OpUpsert, Contents: o.Contents, Routing: wantRouting[i], Immutable: i == 0,
			Source: ghwire.SourceKind, SourceKey: "delivery-1", ReceivedAt: time.Date(2026, 11, 22, 1, 2, 3, 4, time.UTC),
			RawPartition: 2, RawOffset: 41, Path: wantPath[i],
		}
		if !reflect.DeepEqual(o, want) {
			t.Errorf("observation %d\n got %+v\nwant %+v", i, o, want)
		}
		// The observed topic carries no source-specific headers: the
		// routing stem says what X-GitHub-Event did.
		if v, ok := m.Metadata[ghwire.HeaderEvent]; ok {
			t.Errorf("%s: observation carries %s=%q", o.RID, ghwire.HeaderEvent, v)
		}
	}
}

// TestNormalizeStageParsers: normalize dispatches on the source kind to the
// parser registered for it.
func TestNormalizeStageParsers(t *testing.T) {
	t.Parallel()
	ps := stages.NewParsers()
	var got raw.Record
	err := ps.Register("carrier-pigeon", stages.ParserFunc(func(_ context.Context, rec raw.Record) ([]observed.Observation, error) {
		got = rec
		return []observed.Observation{{RID: "orn:pigeon.note:" + rec.Key, Op: observed.OpUpsert, Contents: rec.Body, Routing: "evt.coo"}}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Register("carrier-pigeon", stages.ParserFunc(nil)); err == nil {
		t.Error("a second parser for one source kind was registered")
	}
	m, err := raw.NewMessage(raw.Record{Key: "n-1", Source: "carrier-pigeon", ReceivedAt: time.Unix(1, 0), Body: []byte(`{"coo":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := topics.ContextWithPosition(context.Background(), topics.Position{Partition: 1, Offset: 5})
	out, err := stages.NewNormalizeWith(ps).Process(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != "n-1" || len(out) != 1 {
		t.Fatalf("parser saw %+v and returned %d messages", got, len(out))
	}
	o, err := observed.Parse(out[0])
	if err != nil {
		t.Fatal(err)
	}
	if o.RID != "orn:pigeon.note:n-1" || o.Source != "carrier-pigeon" || o.SourceKey != "n-1" || o.RawPartition != 1 || o.RawOffset != 5 {
		t.Errorf("observation %+v", o)
	}
	if kinds := stages.BuiltinParsers().Kinds(); !reflect.DeepEqual(kinds, []string{"eventhive", "github-api", ghwire.SourceKind, "koi-net", "publish"}) {
		t.Errorf("builtin parsers %v", kinds)
	}
}

func TestNormalizeStageRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		mutate  func(context.Context, *message.Message) context.Context
		wantErr string
	}{
		{"unknown source kind", func(ctx context.Context, m *message.Message) context.Context {
			m.Metadata.Set(raw.HeaderSource, "carrier-pigeon")
			return ctx
		}, `unknown source kind "carrier-pigeon" (known: [eventhive github-api github-webhook koi-net publish])`},
		{"no source kind", func(ctx context.Context, m *message.Message) context.Context {
			delete(m.Metadata, raw.HeaderSource)
			return ctx
		}, `unknown source kind ""`},
		{"bad received-at", func(ctx context.Context, m *message.Message) context.Context {
			m.Metadata.Set(raw.HeaderReceivedAt, "yesterday")
			return ctx
		}, "not an RFC 3339 time"},
		{"not JSON", func(ctx context.Context, m *message.Message) context.Context {
			m.Payload = []byte("{oops")
			return ctx
		}, "bad webhook payload"},
		{"wrong field types", func(ctx context.Context, m *message.Message) context.Context {
			m.Payload = []byte(`{"action":"opened","issue":{"number":"seven"}}`)
			return ctx
		}, "issue.number"},
		{"no delivery", func(ctx context.Context, m *message.Message) context.Context {
			delete(m.Metadata, ghwire.HeaderDelivery)
			return ctx
		}, "X-GitHub-Delivery is empty"},
		{"no log position", func(context.Context, *message.Message) context.Context {
			return context.Background()
		}, "no log position"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := newStage(t, stages.NormalizeName, nil)
			ctx, in := rawMessage(t, "issues", "issues.opened.json")
			ctx = c.mutate(ctx, in)
			_, err := st.Process(ctx, in)
			if !stages.IsPermanent(err) {
				t.Fatalf("error %v, want permanent", err)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q, want it to say %q", err, c.wantErr)
			}
		})
	}
}
