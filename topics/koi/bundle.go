package koi

import (
	"encoding/json"
	"time"
)

// Bundle pairs a Manifest with the contents it describes. Contents holds the
// JSON bytes exactly as they were given or received (they are never
// re-marshalled through a map or struct, so key order and null members
// survive); when the bundle is marshalled with encoding/json they are only
// compacted.
type Bundle struct {
	// Manifest describes Contents.
	Manifest Manifest `json:"manifest"`
	// Contents is the raw JSON object the manifest's hash was computed over.
	Contents json.RawMessage `json:"contents"`
}

// NewBundle builds the bundle of contents for rid at time ts, computing the
// manifest with NewManifest and returning its errors. The returned bundle
// aliases contents (it is not copied), so the caller must not modify contents
// afterwards.
func NewBundle(rid string, contents []byte, ts time.Time) (Bundle, error) {
	m, err := NewManifest(rid, contents, ts)
	if err != nil {
		return Bundle{}, err
	}
	return Bundle{Manifest: m, Contents: contents}, nil
}
