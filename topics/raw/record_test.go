package raw_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/raw"
)

var at = time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)

func TestNewMessageParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rec      raw.Record
		wantMeta message.Metadata // every metadata entry of the message
	}{
		{
			name: "webhook",
			rec: raw.Record{
				Key: "72d3162e", Source: "github-webhook", ReceivedAt: at, ContentType: "application/json",
				UserAgent: "GitHub-Hookshot/5e4cbd2", Body: []byte(`{"zen":"x"}`),
				Metadata: message.Metadata{"X-GitHub-Event": "ping", "X-GitHub-Delivery": "72d3162e"},
			},
			wantMeta: message.Metadata{
				topics.RecordKey: "72d3162e", raw.HeaderSource: "github-webhook",
				raw.HeaderReceivedAt: "2025-01-02T03:04:05.123456789Z", raw.HeaderContentType: "application/json",
				raw.HeaderUserAgent: "GitHub-Hookshot/5e4cbd2", "X-GitHub-Event": "ping", "X-GitHub-Delivery": "72d3162e",
			},
		},
		{
			name: "no user agent, no content type, empty body, receive time in another zone",
			rec:  raw.Record{Key: "k", Source: "git-hook", ReceivedAt: at.In(time.FixedZone("CET", 3600))},
			wantMeta: message.Metadata{
				topics.RecordKey: "k", raw.HeaderSource: "git-hook",
				raw.HeaderReceivedAt: "2025-01-02T03:04:05.123456789Z", raw.HeaderContentType: "",
			},
		},
		{
			name: "fields win over metadata of the same name",
			rec: raw.Record{Key: "k", Source: "s", ReceivedAt: at, Metadata: message.Metadata{
				topics.RecordKey: "stale", raw.HeaderSource: "stale", raw.HeaderUserAgent: "stale", "x": "kept",
			}},
			wantMeta: message.Metadata{
				topics.RecordKey: "k", raw.HeaderSource: "s", raw.HeaderReceivedAt: "2025-01-02T03:04:05.123456789Z",
				raw.HeaderContentType: "", "x": "kept",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, err := raw.NewMessage(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(msg.Metadata, tt.wantMeta) {
				t.Errorf("metadata\n got %v\nwant %v", msg.Metadata, tt.wantMeta)
			}
			if string(msg.Payload) != string(tt.rec.Body) {
				t.Errorf("payload %q, want the body %q", msg.Payload, tt.rec.Body)
			}
			got, err := raw.Parse(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got.Key != tt.rec.Key || got.Source != tt.rec.Source || !got.ReceivedAt.Equal(tt.rec.ReceivedAt) ||
				got.ReceivedAt.Location() != time.UTC || got.ContentType != tt.rec.ContentType || got.UserAgent != tt.rec.UserAgent ||
				string(got.Body) != string(tt.rec.Body) || !reflect.DeepEqual(got.Metadata, msg.Metadata) {
				t.Errorf("Parse(NewMessage(r)) = %+v, want %+v with the message's metadata", got, tt.rec)
			}
		})
	}
}

func TestNewMessageRefuses(t *testing.T) {
	t.Parallel()
	ok := raw.Record{Key: "k", Source: "s", ReceivedAt: at}
	tests := []struct {
		name string
		edit func(*raw.Record)
	}{
		{"no key", func(r *raw.Record) { r.Key = "" }},
		{"no source", func(r *raw.Record) { r.Source = "" }},
		{"no receive time", func(r *raw.Record) { r.ReceivedAt = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ok
			tt.edit(&r)
			if _, err := raw.NewMessage(r); !errors.Is(err, raw.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	good := func() message.Metadata {
		return message.Metadata{topics.RecordKey: "stray", raw.HeaderSource: "s", raw.HeaderReceivedAt: "2025-01-02T03:04:05Z"}
	}
	tests := []struct {
		name    string
		edit    func(message.Metadata)
		wantErr string
	}{
		{"no source kind", func(md message.Metadata) { delete(md, raw.HeaderSource) }, `"stray": no koistream-source header`},
		{"no key", func(md message.Metadata) { delete(md, topics.RecordKey) }, "without a key"},
		{"no receive time", func(md message.Metadata) { delete(md, raw.HeaderReceivedAt) }, `koistream-received-at "" is not an RFC 3339 time`},
		{"receive time not RFC 3339", func(md message.Metadata) { md[raw.HeaderReceivedAt] = "yesterday" }, `"yesterday" is not an RFC 3339 time`},
		{"long values are cut", func(md message.Metadata) { md[raw.HeaderReceivedAt] = strings.Repeat("x", 1000) }, strings.Repeat("x", 80) + `" is not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := message.NewMessage("u", []byte("hello"))
			msg.Metadata = good()
			tt.edit(msg.Metadata)
			_, err := raw.Parse(msg)
			if !errors.Is(err, raw.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}
