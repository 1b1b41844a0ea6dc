package dead_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/koistream/koistream/topics/dead"
)

func TestMarkParse(t *testing.T) {
	t.Parallel()
	full := dead.Failure{Reason: "stage normalize: bad", Stage: "normalize", Segment: "ingest",
		Origin: dead.Origin{Topic: "koistream.raw", Partition: 2, Offset: 41}}
	tests := []struct {
		name     string
		marks    []dead.Failure // applied in order
		want     dead.Failure
		wantMeta message.Metadata
	}{
		{"all at once", []dead.Failure{full}, full, message.Metadata{
			"in": "kept", dead.HeaderReason: "stage normalize: bad", dead.HeaderFailedStage: "normalize",
			dead.HeaderFailedSegment: "ingest", dead.HeaderOriginTopic: "koistream.raw",
			dead.HeaderOriginPartition: "2", dead.HeaderOriginOffset: "41",
		}},
		{"as the pipeline learns it", []dead.Failure{{Stage: "normalize"}, {Reason: "stage normalize: bad"}, {Segment: "ingest", Origin: full.Origin}}, full, nil},
		{"no stage, no origin", []dead.Failure{{Reason: "panic"}, {Segment: "ingest"}}, dead.Failure{Reason: "panic", Segment: "ingest"}, message.Metadata{
			"in": "kept", dead.HeaderReason: "panic", dead.HeaderFailedSegment: "ingest",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := message.NewMessage("u", []byte("input"))
			msg.Metadata["in"] = "kept"
			for _, f := range tt.marks {
				dead.Mark(msg, f)
			}
			if tt.wantMeta != nil && !reflect.DeepEqual(msg.Metadata, tt.wantMeta) {
				t.Errorf("metadata\n got %v\nwant %v", msg.Metadata, tt.wantMeta)
			}
			got, err := dead.Parse(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestParseReadsPoisonQueue: the reason watermill's PoisonQueue writes is
// the one Parse reads, so the re-exported names match watermill's.
func TestParseReadsPoisonQueue(t *testing.T) {
	t.Parallel()
	pub := &capture{}
	poison, err := middleware.PoisonQueue(pub, "dead")
	if err != nil {
		t.Fatal(err)
	}
	h := poison(func(*message.Message) ([]*message.Message, error) { return nil, errors.New("no good") })
	if _, err := h(message.NewMessage("u", []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if len(pub.msgs) != 1 {
		t.Fatalf("published %d messages, want 1", len(pub.msgs))
	}
	f, err := dead.Parse(pub.msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if f.Reason != "no good" {
		t.Errorf("reason %q, want the handler's error", f.Reason)
	}
	for _, k := range []string{dead.HeaderPoisonedTopic, dead.HeaderPoisonedHandler, dead.HeaderPoisonedSubscriber} {
		if _, ok := pub.msgs[0].Metadata[k]; !ok {
			t.Errorf("PoisonQueue wrote no %s", k)
		}
	}
}

type capture struct{ msgs []*message.Message }

func (c *capture) Publish(_ string, msgs ...*message.Message) error {
	c.msgs = append(c.msgs, msgs...)
	return nil
}
func (c *capture) Close() error { return nil }

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		md      message.Metadata
		wantErr string
	}{
		{"no reason", message.Metadata{dead.HeaderFailedStage: "normalize"}, "no reason_poisoned header"},
		{"bad partition", message.Metadata{dead.HeaderReason: "r", dead.HeaderOriginTopic: "t", dead.HeaderOriginPartition: "x", dead.HeaderOriginOffset: "1"}, `"x" is not a partition`},
		{"no offset", message.Metadata{dead.HeaderReason: "r", dead.HeaderOriginTopic: "t", dead.HeaderOriginPartition: "1"}, "is not an offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := message.NewMessage("u", nil)
			msg.Metadata = tt.md
			_, err := dead.Parse(msg)
			if !errors.Is(err, dead.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}
