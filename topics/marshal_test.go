package topics

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func headerKeys(hs []kgo.RecordHeader) []string {
	keys := make([]string, len(hs))
	for i, h := range hs {
		keys[i] = h.Key
	}
	return keys
}

func TestRecordFromMessage(t *testing.T) {
	tests := []struct {
		name        string
		metadata    message.Metadata
		wantKey     []byte // nil: no key
		wantHeaders []string
	}{
		{
			name:        "no metadata, no key",
			wantHeaders: []string{UUIDHeader},
		},
		{
			name:        "key is not a header",
			metadata:    message.Metadata{RecordKey: "user-1"},
			wantKey:     []byte("user-1"),
			wantHeaders: []string{UUIDHeader},
		},
		{
			name:        "empty key is a key",
			metadata:    message.Metadata{RecordKey: ""},
			wantKey:     []byte{},
			wantHeaders: []string{UUIDHeader},
		},
		{
			name:        "metadata sorted after the uuid",
			metadata:    message.Metadata{"zeta": "z", "alpha": "a", "X-GitHub-Event": "push", RecordKey: "k"},
			wantKey:     []byte("k"),
			wantHeaders: []string{UUIDHeader, "X-GitHub-Event", "alpha", "zeta"},
		},
		{
			name:        "a uuid in metadata does not override the message uuid",
			metadata:    message.Metadata{UUIDHeader: "forged"},
			wantHeaders: []string{UUIDHeader},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := message.NewMessage("uuid-1", []byte("payload"))
			maps.Copy(msg.Metadata, tt.metadata)
			rec := recordFromMessage("t", msg, propagation.TraceContext{})

			if rec.Topic != "t" || string(rec.Value) != "payload" {
				t.Errorf("topic, value = %q, %q; want t, payload", rec.Topic, rec.Value)
			}
			if (rec.Key == nil) != (tt.wantKey == nil) || string(rec.Key) != string(tt.wantKey) {
				t.Errorf("key = %q (nil %t), want %q (nil %t)", rec.Key, rec.Key == nil, tt.wantKey, tt.wantKey == nil)
			}
			if got := headerKeys(rec.Headers); !slices.Equal(got, tt.wantHeaders) {
				t.Errorf("headers = %q, want %q", got, tt.wantHeaders)
			}
			if got := headerValue(rec, UUIDHeader); got != "uuid-1" {
				t.Errorf("uuid header = %q, want uuid-1", got)
			}
			for k, v := range tt.metadata {
				if k == RecordKey || k == UUIDHeader {
					continue
				}
				if got := headerValue(rec, k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestMessageRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		metadata message.Metadata
	}{
		{"empty", nil},
		{"key only", message.Metadata{RecordKey: "orn:github.repo:o/r"}},
		{"empty key", message.Metadata{RecordKey: ""}},
		{"headers and key", message.Metadata{
			RecordKey: "k", "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "empty": "",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := message.NewMessage("uuid-rt", []byte(`{"a":1}`))
			maps.Copy(in.Metadata, tt.metadata)
			rec := recordFromMessage("t", in, propagation.TraceContext{})

			out := messageFromRecord(rec)
			if !out.Equals(in) {
				t.Errorf("round trip changed the message:\n in: %s %q %v\nout: %s %q %v",
					in.UUID, in.Payload, in.Metadata, out.UUID, out.Payload, out.Metadata)
			}
		})
	}
}

func TestMessageFromRecord(t *testing.T) {
	t.Run("no uuid header generates one", func(t *testing.T) {
		a := messageFromRecord(&kgo.Record{Value: []byte("x")})
		b := messageFromRecord(&kgo.Record{Value: []byte("x")})
		if a.UUID == "" || a.UUID == b.UUID {
			t.Errorf("generated uuids %q, %q: want distinct and non-empty", a.UUID, b.UUID)
		}
		if len(a.Metadata) != 0 {
			t.Errorf("metadata = %v, want empty (no key, no headers)", a.Metadata)
		}
	})
	t.Run("repeated header: last wins", func(t *testing.T) {
		m := messageFromRecord(&kgo.Record{Headers: []kgo.RecordHeader{
			{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")},
		}})
		if got := m.Metadata.Get("h"); got != "2" {
			t.Errorf("h = %q, want 2", got)
		}
	})
}

func TestTraceContextInjectExtract(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	const wantParent = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"
	prop := propagation.TraceContext{}

	tests := []struct {
		name     string
		ctx      context.Context
		metadata message.Metadata
		want     string // traceparent header, "" for none
	}{
		{"no span, no header", context.Background(), nil, ""},
		{"span injected", trace.ContextWithSpanContext(context.Background(), sc), nil, wantParent},
		{"stale traceparent in metadata passes through without a span",
			context.Background(), message.Metadata{"traceparent": "stale"}, "stale"},
		{"current span replaces a stale traceparent",
			trace.ContextWithSpanContext(context.Background(), sc), message.Metadata{"traceparent": "stale"}, wantParent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := message.NewMessageWithContext(tt.ctx, "u", nil)
			maps.Copy(msg.Metadata, tt.metadata)
			rec := recordFromMessage("t", msg, prop)
			n := 0
			for _, h := range rec.Headers {
				if h.Key == "traceparent" {
					n++
				}
			}
			if got := headerValue(rec, "traceparent"); got != tt.want || n > 1 {
				t.Fatalf("traceparent = %q (%d headers), want %q (at most one)", got, n, tt.want)
			}
			if tt.want != wantParent {
				return
			}
			rec.Partition, rec.Offset = 3, 42
			got := trace.SpanContextFromContext(messageContext(context.Background(), rec, prop))
			if !got.IsRemote() || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() {
				t.Errorf("extracted %+v, want remote copy of %+v", got, sc)
			}
		})
	}
}

func TestMessageContextPosition(t *testing.T) {
	ts := time.Date(2026, 5, 1, 12, 0, 0, 123000, time.UTC)
	rec := &kgo.Record{Topic: "koistream.raw", Partition: 5, Offset: 1234, Timestamp: ts}
	type key string
	parent := context.WithValue(context.Background(), key("k"), "v")

	ctx := messageContext(parent, rec, nil)
	pos, ok := PositionFromContext(ctx)
	want := Position{Topic: "koistream.raw", Partition: 5, Offset: 1234, Timestamp: ts}
	if !ok || pos != want {
		t.Errorf("position = %+v, %t; want %+v, true", pos, ok, want)
	}
	if ctx.Value(key("k")) != "v" {
		t.Error("message context lost the subscribe context's values")
	}
}
