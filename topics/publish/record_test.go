package publish_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/publish"
	"github.com/koistream/koistream/topics/raw"
)

// TestRoundTrip: what NewMessage writes, Parse reads back unchanged, with a
// new ULID as key and the path as partition key.
func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123, time.UTC)
	in := publish.Input{Path: "/git/demo/commit", Remote: "[::1]:4000", Body: []byte(`{"a":1}`), UserAgent: "svnwcsub/1", ReceivedAt: at}
	m, err := publish.NewMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Metadata.Get(topics.HeaderPartitionKey); got != in.Path {
		t.Errorf("partition key %q, want the path", got)
	}
	rec, err := raw.Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := publish.Parse(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !publish.ValidKey(out.Key) {
		t.Errorf("key %q is not a ULID", out.Key)
	}
	in.Key, in.ContentType = out.Key, "application/json"
	if out.Path != in.Path || out.Remote != in.Remote || string(out.Body) != string(in.Body) || out.UserAgent != in.UserAgent ||
		!out.ReceivedAt.Equal(at) || out.ContentType != in.ContentType || out.Key != in.Key {
		t.Errorf("read back %+v, want %+v", out, in)
	}
}

func TestValidKey(t *testing.T) {
	for _, tt := range []struct {
		key string
		ok  bool
	}{
		{watermill.NewULID(), true},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAV", true},
		{"81ARZ3NDEKTSV4RRFFQ69G5FAV", false}, // more than 128 bits
		{"01arz3ndektsv4rrffq69g5fav", false}, // not canonical
		{"01ARZ3NDEKTSV4RRFFQ69G5FAI", false}, // I is not in the alphabet
		{"01ARZ3NDEKTSV4RRFFQ69G5FA", false},
		{"", false},
	} {
		if got := publish.ValidKey(tt.key); got != tt.ok {
			t.Errorf("ValidKey(%q) = %v, want %v", tt.key, got, tt.ok)
		}
	}
}

func TestRefusals(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name string
		in   publish.Input
	}{
		{"no slash", publish.Input{Path: "a", Body: []byte(`{}`), ReceivedAt: now}},
		{"dot dot", publish.Input{Path: "/a/..", Body: []byte(`{}`), ReceivedAt: now}},
		{"empty body", publish.Input{Path: "/a", ReceivedAt: now}},
		{"no time", publish.Input{Path: "/a", Body: []byte(`{}`)}},
		{"bad key", publish.Input{Path: "/a", Body: []byte(`{}`), ReceivedAt: now, Key: "k"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := publish.NewMessage(tt.in); !errors.Is(err, publish.ErrInvalid) {
				t.Fatalf("NewMessage: %v, want ErrInvalid", err)
			}
		})
	}
	m, err := raw.NewMessage(raw.Record{Key: "k", Source: "github-webhook", ReceivedAt: now, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := raw.Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := publish.Parse(rec); !errors.Is(err, publish.ErrInvalid) {
		t.Fatalf("Parse of another source's record: %v, want ErrInvalid", err)
	}
}
