package raw_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/raw"
)

// FuzzParse: Parse never panics, refuses only with ErrInvalid, and what it
// accepts NewMessage writes back to a message that parses the same.
func FuzzParse(f *testing.F) {
	f.Add("72d3162e", "github-webhook", "2025-01-02T03:04:05.123456789Z", "application/json", "GitHub-Hookshot/1", []byte(`{}`))
	f.Add("k", "s", "2025-01-02T04:04:05+01:00", "", "", []byte{})
	f.Add("", "", "", "", "", []byte("hello"))
	f.Add("k", "s", "2025-13-02T03:04:05Z", "x", "y", []byte{0xff})
	f.Fuzz(func(t *testing.T, key, source, receivedAt, contentType, userAgent string, body []byte) {
		msg := message.NewMessage("u", body)
		for k, v := range map[string]string{
			topics.RecordKey: key, raw.HeaderSource: source, raw.HeaderReceivedAt: receivedAt,
			raw.HeaderContentType: contentType, raw.HeaderUserAgent: userAgent,
		} {
			if v != "" {
				msg.Metadata[k] = v
			}
		}
		rec, err := raw.Parse(msg)
		if err != nil {
			if !errors.Is(err, raw.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if rec.Key != key || rec.Source != source || rec.ContentType != contentType || rec.UserAgent != userAgent {
			t.Fatalf("Parse = %+v, not the headers it was given", rec)
		}
		again, err := raw.NewMessage(rec)
		if err != nil {
			t.Fatalf("NewMessage of a parsed record: %v", err)
		}
		back, err := raw.Parse(again)
		if err != nil {
			t.Fatalf("Parse(NewMessage(Parse(m))): %v", err)
		}
		if !back.ReceivedAt.Equal(rec.ReceivedAt) {
			t.Fatalf("receive time %v after a round trip, want %v", back.ReceivedAt, rec.ReceivedAt)
		}
		back.ReceivedAt = rec.ReceivedAt // equal instants; the location may differ
		back.Metadata, rec.Metadata = nil, nil
		if !reflect.DeepEqual(back, rec) {
			t.Fatalf("round trip\n got %+v\nwant %+v", back, rec)
		}
	})
}
