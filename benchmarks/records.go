package benchmarks

import (
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
)

// userAgent is the User-Agent GitHub sends webhooks with.
const userAgent = "GitHub-Hookshot/5e4cbd2"

// rawMessage builds the raw record of d exactly as the webhook source
// (pipeline/webhook) appends it: keyed by the delivery id, the body byte for
// byte as the value, and the same metadata (Kafka headers) the handler
// writes for a signed JSON delivery from GitHub.
func rawMessage(d Delivery, receivedAt time.Time) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), d.Body)
	m.Metadata = message.Metadata{
		topics.MetadataKey:            d.ID,
		topics.HeaderSourceKind:       topics.SourceGitHubWebhook,
		topics.HeaderReceivedAt:       receivedAt.UTC().Format(time.RFC3339Nano),
		topics.HeaderContentType:      "application/json",
		topics.HeaderGitHubEvent:      d.Event,
		topics.HeaderGitHubDelivery:   d.ID,
		topics.HeaderUserAgent:        userAgent,
		topics.HeaderGitHubHookID:     d.HookID,
		topics.HeaderGitHubTargetType: "repository",
		topics.HeaderGitHubTargetID:   d.TargetID,
		"X-Hub-Signature-256":         d.Signature,
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
	h.Set(topics.HeaderGitHubEvent, d.Event)
	h.Set(topics.HeaderGitHubDelivery, d.ID)
	h.Set(topics.HeaderGitHubHookID, d.HookID)
	h.Set(topics.HeaderGitHubTargetType, "repository")
	h.Set(topics.HeaderGitHubTargetID, d.TargetID)
	h.Set("X-Hub-Signature-256", d.Signature)
}
