// Package eventhive speaks EventHive 0.5.0's Redis protocol (PUBSUB.md
// section 5) both ways: [Sink] publishes the events of a node's events
// topic to the Redis channels <network>/<channel>/<event> as EventHive
// messages, and [Subscriber] takes the messages EventHive processes publish
// to <network>/<input_channel>/* into the raw topic (topics/eventhive). On
// a connector with a secret both use EventHive's exact scheme, [Codec]:
// HMAC-SHA1 under a key derived from the secret over Python-compatible
// canonical JSON ([Canonical]), then AES-128-CTR, sent as
// {"iv","ciphertext"}.
//
// Redis pub/sub keeps nothing: a subscriber that is not connected when a
// message is published never sees it. The sink therefore consumes the
// events topic from its own durable position and commits a record only
// after Redis accepted its PUBLISH, so a Redis outage loses nothing on
// koistream's side; what EventHive receivers miss while they are down they
// fetch again from koistream's log (replay), not from Redis.
package eventhive
