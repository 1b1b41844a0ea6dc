// Package pipeline assembles a koistream node: the log (embedded broker or
// an external cluster), one segment runner per configured stage segment (a
// topics.BatchConsumer feeding the segment's watermill handler, see
// segment.go), the projections, and the HTTP listener serving the webhook
// source, the KOI-net API, health and metrics. cmd/koistream is a thin shell
// around [Start].
package pipeline
