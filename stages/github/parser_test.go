package github_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages/github"
	wire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/raw"
)

// TestParseWebhook: the parser reads the event name and delivery id from
// the raw record's GitHub headers and returns Normalize's observations.
func TestParseWebhook(t *testing.T) {
	body := readFile(t, "issues.opened.json")
	in := jsonInput("issues", body)
	rec := raw.Record{
		Key: delivery, Source: wire.SourceKind, ReceivedAt: in.ReceivedAt, ContentType: in.ContentType, Body: body,
		Metadata: message.Metadata{wire.HeaderEvent: "issues", wire.HeaderDelivery: delivery},
	}
	got, err := github.ParseWebhook(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	want, err := github.Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseWebhook = %v, want Normalize's %v", ridOps(got), ridOps(want))
	}
	delete(rec.Metadata, wire.HeaderEvent)
	if _, err := github.ParseWebhook(context.Background(), rec); !errors.Is(err, github.ErrBadPayload) {
		t.Errorf("without %s: error %v, want ErrBadPayload", wire.HeaderEvent, err)
	}
}
