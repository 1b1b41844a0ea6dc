// Package koi is the KOI-net data model shared by koistream's stages,
// projections and HTTP endpoints: resource identifiers (RIDs), RFC 8785 JSON
// canonicalization and content hashing, manifest timestamps, manifests,
// bundles, events, the request and response payloads of the KOI-net
// protocol, node identity (P-256 keys, node and edge RIDs) and signed
// envelopes (signing, verifying over the bytes received, and the
// reference's order of checks with its error codes).
//
// The package follows the wire format spoken by the Python reference
// implementation (koi-net 1.1 to 2.x and rid-lib 3.2.x). Contents of bundles
// and events are always carried as the raw JSON bytes they were created or
// received with; nothing in this package re-marshals them through a Go map
// or struct, because key order and null members matter for hashes and
// signatures.
//
// All functions in this package are safe for concurrent use by multiple
// goroutines. Values of the exported types are plain data: concurrent reads
// are safe, but concurrent mutation of one value needs external
// synchronisation.
package koi
