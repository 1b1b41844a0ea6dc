package topics

import (
	"context"
	"slices"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
)

// RecordKey is the watermill metadata entry that holds the Kafka record
// key: watermill messages have no key of their own, so it travels in the
// metadata under this name. It is never written as a header. On publish, a
// message whose metadata has RecordKey is produced with that value as the
// record key (an empty value gives an empty, non-nil key); a message without
// it is produced with a nil key. On receive, a record with a non-nil key gets
// its key under RecordKey.
const RecordKey = "kafka_key"

// UUIDHeader is the Kafka header that carries the watermill message UUID, so
// a message keeps its UUID across the log. The name is the one
// watermill-kafka uses, so its consumers and ours agree. A record without
// the header is given a freshly generated UUID on receive.
const UUIDHeader = "_watermill_message_uuid"

// recordFromMessage turns msg into a record for topic. The record's key is
// metadata[RecordKey]; its headers are UUIDHeader, then every other
// metadata entry sorted by key, then whatever prop injects from
// msg.Context() (W3C traceparent and friends), which replaces any metadata
// entry of the same name so the current trace context wins over a stale one
// carried along in metadata.
func recordFromMessage(topic string, msg *message.Message, prop propagation.TextMapPropagator) *kgo.Record {
	rec := &kgo.Record{Topic: topic, Value: msg.Payload}

	keys := make([]string, 0, len(msg.Metadata))
	for k := range msg.Metadata {
		if k == RecordKey {
			rec.Key = []byte(msg.Metadata[k])
			continue
		}
		if k == UUIDHeader {
			continue // the message's own UUID is authoritative
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)

	headers := make([]kgo.RecordHeader, 0, len(keys)+3)
	headers = append(headers, kgo.RecordHeader{Key: UUIDHeader, Value: []byte(msg.UUID)})
	for _, k := range keys {
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(msg.Metadata[k])})
	}
	if prop != nil {
		prop.Inject(msg.Context(), headerCarrier{&headers})
	}
	rec.Headers = headers
	return rec
}

// messageFromRecord turns rec into a watermill message: the UUID from
// UUIDHeader (generated if absent), every other header as metadata (the last
// one wins if a name repeats), and the key under RecordKey if the record
// has one. The payload shares rec.Value's memory. The context is left
// unset; see messageContext.
func messageFromRecord(rec *kgo.Record) *message.Message {
	var uuid string
	md := make(message.Metadata, len(rec.Headers)+1)
	for _, h := range rec.Headers {
		if h.Key == UUIDHeader {
			uuid = string(h.Value)
			continue
		}
		md[h.Key] = string(h.Value)
	}
	if rec.Key != nil {
		md[RecordKey] = string(rec.Key)
	}
	if uuid == "" {
		uuid = watermill.NewUUID()
	}
	msg := message.NewMessage(uuid, rec.Value)
	msg.Metadata = md
	return msg
}

// MessageFromRecord is the watermill message of a record read with
// franz-go directly, as every koistream reader sees it: the UUID from
// UUIDHeader, every other header as metadata, the key under RecordKey. It
// lets tools and tests that read a topic with their own client use the
// topic schemas' parsers (raw.Parse, events.Parse). The payload shares
// rec.Value.
func MessageFromRecord(rec *kgo.Record) *message.Message { return messageFromRecord(rec) }

// RecordFromMessage is the record the Publisher produces for msg on topic
// (key from RecordKey, UUIDHeader, the other metadata as headers sorted by
// name), without trace context: for tools and tests that produce with
// franz-go directly, choosing the partition or the timestamp themselves.
func RecordFromMessage(topic string, msg *message.Message) *kgo.Record {
	return recordFromMessage(topic, msg, nil)
}

// RecordContext derives a context for handling rec from parent: it carries
// rec's Position and the trace context prop extracts from rec's headers, so
// spans started from it continue the producer's trace. Consumers that read
// records with franz-go directly (the projections) use it too.
func RecordContext(parent context.Context, rec *kgo.Record, prop propagation.TextMapPropagator) context.Context {
	return messageContext(parent, rec, prop)
}

// messageContext implements RecordContext.
func messageContext(parent context.Context, rec *kgo.Record, prop propagation.TextMapPropagator) context.Context {
	ctx := ContextWithPosition(parent, Position{
		Topic:     rec.Topic,
		Partition: rec.Partition,
		Offset:    rec.Offset,
		Timestamp: rec.Timestamp,
	})
	if prop != nil {
		headers := rec.Headers
		ctx = prop.Extract(ctx, headerCarrier{&headers})
	}
	return ctx
}

// headerCarrier adapts Kafka record headers to OpenTelemetry's
// TextMapCarrier. Get returns the first header with the key; Set replaces
// the first header with the key or appends one. Kafka header names are
// case-sensitive, and so is the carrier; the W3C propagators use lower-case
// names.
type headerCarrier struct{ headers *[]kgo.RecordHeader }

var _ propagation.TextMapCarrier = headerCarrier{}

func (c headerCarrier) Get(key string) string {
	for _, h := range *c.headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) {
	for i, h := range *c.headers {
		if h.Key == key {
			(*c.headers)[i].Value = []byte(value)
			return
		}
	}
	*c.headers = append(*c.headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(*c.headers))
	for _, h := range *c.headers {
		keys = append(keys, h.Key)
	}
	return keys
}
