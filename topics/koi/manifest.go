package koi

import (
	"fmt"
	"time"
)

// Manifest is a portable descriptor of the data object an RID refers to: the
// RID, when this version of the object was produced, and the hash of its
// contents. Fields are in the order Python KOI nodes serialize them.
//
// Timestamp is kept as the string received or produced (normally the output
// of FormatTimestamp); parse it with ParseTimestamp to compare instants.
type Manifest struct {
	// RID is the canonical string form of the object's RID.
	RID string `json:"rid"`
	// Timestamp is "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" as FormatTimestamp prints it.
	Timestamp string `json:"timestamp"`
	// SHA256Hash is Hash of the contents: 64 lowercase hex digits.
	SHA256Hash string `json:"sha256_hash"`
}

// NewManifest returns the manifest of contents (a JSON text, normally an
// object) for rid at time ts, the equivalent of rid-lib's Manifest.generate:
// the timestamp is FormatTimestamp(ts) and the hash is Hash(contents). It
// returns an error wrapping ErrInvalidRID if rid does not parse, or the error
// of Hash if contents cannot be canonicalized. contents is not retained.
func NewManifest(rid string, contents []byte, ts time.Time) (Manifest, error) {
	if _, err := ParseRID(rid); err != nil {
		return Manifest{}, err
	}
	h, err := Hash(contents)
	if err != nil {
		return Manifest{}, fmt.Errorf("contents of %s: %w", rid, err)
	}
	return Manifest{RID: rid, Timestamp: FormatTimestamp(ts), SHA256Hash: h}, nil
}
