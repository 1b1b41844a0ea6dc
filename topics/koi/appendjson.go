package koi

import "encoding/json"

// This file writes KOI-net JSON by appending to a byte slice, for the hot
// paths that serve or store it (the cache projection writes a bundle per
// event; the fetch endpoints answer with lists of stored manifests and
// bundles). Each shape's bytes are written here and nowhere else; strings
// are escaped by AppendString, as pydantic prints them, so the output is what
// Marshal prints for the same values (payloads_test.go checks it).

// The fixed parts of a bundle: {"manifest":…,"contents":…}.
const (
	bundleManifest = `{"manifest":`
	bundleContents = `,"contents":`
)

// AppendJSON appends m as KOI-net JSON, {"rid":…,"timestamp":…,
// "sha256_hash":…}, with its strings escaped by AppendString. It is the
// encoding MarshalJSON returns.
func (m Manifest) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"rid":`...)
	dst = AppendString(dst, m.RID)
	dst = append(dst, `,"timestamp":`...)
	dst = AppendString(dst, m.Timestamp)
	dst = append(dst, `,"sha256_hash":`...)
	dst = AppendString(dst, m.SHA256Hash)
	return append(dst, '}')
}

// jsonLen is len(m.AppendJSON(nil)) when no string needs escaping, which
// is every manifest ridify makes (RIDs of printable ASCII, RFC 3339
// timestamps, hex digests): what a writer grows its buffer by so that it
// grows once.
func (m Manifest) jsonLen() int {
	return len(`{"rid":"","timestamp":"","sha256_hash":""}`) + len(m.RID) + len(m.Timestamp) + len(m.SHA256Hash)
}

// MarshalJSON returns m.AppendJSON(nil). encoding/json escapes its output
// as it escapes strings (<, > and & as \u003c…), so json.Marshal prints a
// manifest as it always did; Marshal leaves those characters raw.
func (m Manifest) MarshalJSON() ([]byte, error) {
	return m.AppendJSON(nil), nil
}

// AppendJSON appends b as KOI-net JSON, {"manifest":…,"contents":…}, with
// the contents written verbatim: not compacted or re-encoded, because peers
// hash the bytes they receive. Contents must be one valid JSON value; empty
// contents are written as null, as encoding/json writes a nil RawMessage.
func (b Bundle) AppendJSON(dst []byte) []byte {
	dst = append(dst, bundleManifest...)
	dst = b.Manifest.AppendJSON(dst)
	return appendContents(dst, b.Contents)
}

// MarshalJSON returns b.AppendJSON(nil). encoding/json and Marshal compact
// what it returns, so they print a bundle as they always did (contents
// compacted); AppendJSON is the way to write contents byte for byte.
func (b Bundle) MarshalJSON() ([]byte, error) {
	return b.AppendJSON(nil), nil
}

// RawBundle is a bundle whose manifest is already KOI-net JSON (as
// Manifest.AppendJSON writes it, or as carried by an event record), for code
// that stores or forwards bundles without decoding their manifests.
type RawBundle struct {
	// Manifest is the manifest's JSON object, written verbatim.
	Manifest json.RawMessage
	// Contents is the raw JSON contents, written verbatim.
	Contents json.RawMessage
}

// AppendJSON appends b as KOI-net JSON, the bytes Bundle.AppendJSON writes
// for the same manifest and contents. Empty fields are written as null.
func (b RawBundle) AppendJSON(dst []byte) []byte {
	dst = append(dst, bundleManifest...)
	dst = appendRaw(dst, b.Manifest)
	return appendContents(dst, b.Contents)
}

// JSONLen returns len(b.AppendJSON(nil)) without writing anything, to size
// a buffer that must not grow.
func (b RawBundle) JSONLen() int {
	return len(bundleManifest) + rawLen(b.Manifest) + len(bundleContents) + rawLen(b.Contents) + 1
}

// rawLen is how many bytes appendRaw appends for raw.
func rawLen(raw []byte) int {
	if len(raw) == 0 {
		return len("null")
	}
	return len(raw)
}

// RawManifestsPayload is a ManifestsPayload whose manifests are already
// KOI-net JSON objects (as Manifest.AppendJSON writes them), for answers
// assembled from stored manifests without decoding them.
type RawManifestsPayload struct {
	// Manifests are the manifests' JSON objects, written verbatim.
	Manifests []json.RawMessage
	// NotFound lists requested RIDs that are not held; nil is written as [].
	NotFound []string
}

// AppendJSON appends p as a manifests_payload, the bytes Marshal prints for
// a ManifestsPayload of the same manifests and RIDs.
func (p RawManifestsPayload) AppendJSON(dst []byte) []byte {
	dst = appendPayloadType(dst, PayloadTypeManifestsPayload)
	dst = append(dst, `,"manifests":`...)
	dst = appendRawList(dst, p.Manifests)
	dst = append(dst, `,"not_found":`...)
	dst = appendStringList(dst, p.NotFound)
	return append(dst, '}')
}

// MarshalJSON returns p.AppendJSON(nil).
func (p RawManifestsPayload) MarshalJSON() ([]byte, error) {
	return p.AppendJSON(nil), nil
}

// RawBundlesPayload is a BundlesPayload whose bundles are already KOI-net
// JSON objects (as Bundle.AppendJSON or RawBundle.AppendJSON write them),
// for answers assembled from stored bundles without decoding them.
type RawBundlesPayload struct {
	// Bundles are the bundles' JSON objects, written verbatim.
	Bundles []json.RawMessage
	// NotFound lists requested RIDs that are not held; nil is written as [].
	NotFound []string
	// Deferred lists requested RIDs that will be delivered later; nil is
	// written as [].
	Deferred []string
}

// AppendJSON appends p as a bundles_payload, the bytes Marshal prints for a
// BundlesPayload of the same bundles and RIDs when the bundles' contents are
// compact (Marshal compacts them; AppendJSON writes them verbatim).
func (p RawBundlesPayload) AppendJSON(dst []byte) []byte {
	dst = appendPayloadType(dst, PayloadTypeBundlesPayload)
	dst = append(dst, `,"bundles":`...)
	dst = appendRawList(dst, p.Bundles)
	dst = append(dst, `,"not_found":`...)
	dst = appendStringList(dst, p.NotFound)
	dst = append(dst, `,"deferred":`...)
	dst = appendStringList(dst, p.Deferred)
	return append(dst, '}')
}

// MarshalJSON returns p.AppendJSON(nil).
func (p RawBundlesPayload) MarshalJSON() ([]byte, error) {
	return p.AppendJSON(nil), nil
}

// appendPayloadType opens a payload object with its "type" member.
func appendPayloadType(dst []byte, typ string) []byte {
	dst = append(dst, `{"type":`...)
	return AppendString(dst, typ)
}

func appendContents(dst, contents []byte) []byte {
	dst = append(dst, bundleContents...)
	dst = appendRaw(dst, contents)
	return append(dst, '}')
}

func appendRaw(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}

func appendRawList(dst []byte, items []json.RawMessage) []byte {
	dst = append(dst, '[')
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendRaw(dst, it)
	}
	return append(dst, ']')
}

func appendStringList(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s)
	}
	return append(dst, ']')
}

// AppendJSON appends the rids payload as pydantic prints it:
// {"type":"rids_payload","rids":[…]}, strings escaped as AppendString does.
// It is what SealPrinted may sign without re-printing.
func (p RidsPayload) AppendJSON(dst []byte) []byte {
	dst = appendPayloadType(dst, PayloadTypeRidsPayload)
	dst = append(dst, `,"rids":`...)
	dst = appendStringList(dst, p.Rids)
	return append(dst, '}')
}
