// Package pipeline assembles a koistream node: the log (embedded broker or
// an external cluster), the watermill router running the configured stage
// segments, the projections, and the HTTP listener serving the webhook
// source, the KOI-net API, health and metrics. cmd/koistream is a thin shell
// around [Start].
package pipeline
