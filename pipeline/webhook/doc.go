// Package webhook is the GitHub webhook source: an HTTP handler that
// verifies a delivery's signature and appends it, unchanged, to the raw
// topic, answering 202 only once the log has durably acknowledged it.
package webhook
