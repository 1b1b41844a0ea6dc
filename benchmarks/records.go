package benchmarks

import (
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/raw"
)

// userAgent is the User-Agent GitHub sends webhooks with.
const userAgent = "GitHub-Hookshot/5e4cbd2"

// rawMessage builds the raw record of d exactly as the webhook source
// (pipeline/webhook) appends it: keyed by the delivery id, the body byte for
// byte as the value, and the same metadata (Kafka headers) the handler
// writes for a signed JSON delivery from GitHub.
func rawMessage(d Delivery, receivedAt time.Time) *message.Message {
	m, err := raw.NewMessage(raw.Record{
		Key:         d.ID,
		Source:      github.SourceKind,
		ReceivedAt:  receivedAt,
		ContentType: "application/json",
		UserAgent:   userAgent,
		Body:        d.Body,
		Metadata: message.Metadata{
			github.HeaderEvent:      d.Event,
			github.HeaderDelivery:   d.ID,
			github.HeaderHookID:     d.HookID,
			github.HeaderTargetType: "repository",
			github.HeaderTargetID:   d.TargetID,
			github.HeaderSignature:  d.Signature,
		},
	})
	if err != nil {
		panic(err) // cannot happen: key, source and receive time are set
	}
	return m
}

// rawMessages builds the raw records of deliveries [from, to) of c.
func rawMessages(c *Corpus, from, to int) ([]*message.Message, int64) {
	msgs := make([]*message.Message, 0, to-from)
	var bytes int64
	now := time.Now()
	for i := from; i < to; i++ {
		d := c.Delivery(i)
		msgs = append(msgs, rawMessage(d, now))
		bytes += int64(len(d.Body))
	}
	return msgs, bytes
}

// setWebhookHeaders sets the headers GitHub sends with d.
func setWebhookHeaders(h http.Header, d Delivery) {
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set(github.HeaderEvent, d.Event)
	h.Set(github.HeaderDelivery, d.ID)
	h.Set(github.HeaderHookID, d.HookID)
	h.Set(github.HeaderTargetType, "repository")
	h.Set(github.HeaderTargetID, d.TargetID)
	h.Set(github.HeaderSignature, d.Signature)
}
