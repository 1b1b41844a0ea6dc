package koi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"unicode/utf8"

	"github.com/koistream/koistream/topics/jsonscan"
)

// This file is KOI-net's signed envelope (PROTOCOL.md 3, KOI-2.1.md 1a and
// 1d): {"payload":…,"source_node":…,"target_node":…,"signature":…}, where the
// signature is ECDSA P-256 with SHA-256 over the compact JSON of the same
// object without "signature", raw r||s (32 bytes each, big-endian) in
// standard padded base64. Every request and every non-empty successful
// response of koi-net 1.1+ is one; error bodies are not.

// SignatureLen is the length of a signature string: 64 raw bytes in padded
// standard base64.
const SignatureLen = 88

// ErrInvalidEnvelope is wrapped by ParseEnvelope's errors: a body that is not
// a signed envelope at all, which the reference (FastAPI) refuses with 422
// before any signature check.
var ErrInvalidEnvelope = errors.New("koi: invalid signed envelope")

// ErrBadSignature is wrapped by VerifySignature's errors.
var ErrBadSignature = errors.New("koi: signature does not verify")

// SignedEnvelope is a signed envelope as received or sent. Payload is the
// payload object's raw JSON exactly as it appeared in the body: signatures
// are checked over these bytes, never over a re-encoding of them.
type SignedEnvelope struct {
	// Payload is the raw JSON object of the payload, with its "type".
	Payload json.RawMessage
	// SourceNode is the sender's node RID.
	SourceNode string
	// TargetNode is the receiver's node RID.
	TargetNode string
	// Signature is the base64 of the raw r||s signature.
	Signature string
}

// ParseEnvelope takes apart a signed envelope body. The body must be valid
// UTF-8 JSON, one object with the members payload (an object), source_node
// and target_node (node RIDs, see ParseNodeRID) and signature (a string);
// other members are ignored, and of repeated members the last counts, as
// with encoding/json. Member names match exactly.
// The payload is returned as the bytes of the body it occupied (aliasing
// body). Errors wrap ErrInvalidEnvelope; the reference answers them with 422.
func ParseEnvelope(body []byte) (SignedEnvelope, error) {
	// Validation first, so that the scan below can trust the grammar and
	// its answer is encoding/json's (the fuzz test holds it to that).
	if !json.Valid(body) {
		return SignedEnvelope{}, fmt.Errorf("%w: not JSON", ErrInvalidEnvelope)
	}
	if !utf8.Valid(body) {
		return SignedEnvelope{}, fmt.Errorf("%w: not UTF-8", ErrInvalidEnvelope)
	}
	i := jsonscan.SkipSpace(body, 0)
	if body[i] != '{' {
		return SignedEnvelope{}, fmt.Errorf("%w: not an object", ErrInvalidEnvelope)
	}
	var (
		env                  SignedEnvelope
		source, target, sig  []byte
		hasSource, hasTarget bool
		hasSig               bool
		key                  []byte
	)
	i = jsonscan.SkipSpace(body, i+1)
	for body[i] != '}' {
		// body[i] is the opening quote of a key (the body is valid JSON).
		end := jsonscan.StringEnd(body, i+1)
		key = jsonscan.AppendUnescaped(key[:0], body[i+1:end-1])
		i = jsonscan.SkipSpace(body, end)
		i = jsonscan.SkipSpace(body, i+1) // past ':'
		vend, err := jsonscan.ValueEnd(body, i, MaxNestingDepth)
		if err != nil {
			return SignedEnvelope{}, fmt.Errorf("%w: %w", ErrInvalidEnvelope, err)
		}
		val := body[i:vend]
		switch string(key) {
		case "payload":
			env.Payload = val
		case "source_node":
			source, hasSource = val, true
		case "target_node":
			target, hasTarget = val, true
		case "signature":
			sig, hasSig = val, true
		}
		i = jsonscan.SkipSpace(body, vend)
		if body[i] == ',' {
			i = jsonscan.SkipSpace(body, i+1)
		}
	}
	if len(env.Payload) == 0 || env.Payload[0] != '{' {
		return SignedEnvelope{}, fmt.Errorf("%w: payload must be an object", ErrInvalidEnvelope)
	}
	var err error
	if env.SourceNode, err = envelopeString("source_node", source, hasSource); err != nil {
		return SignedEnvelope{}, err
	}
	if env.TargetNode, err = envelopeString("target_node", target, hasTarget); err != nil {
		return SignedEnvelope{}, err
	}
	if env.Signature, err = envelopeString("signature", sig, hasSig); err != nil {
		return SignedEnvelope{}, err
	}
	for _, rid := range []string{env.SourceNode, env.TargetNode} {
		if _, err := ParseNodeRID(rid); err != nil {
			return SignedEnvelope{}, fmt.Errorf("%w: %w", ErrInvalidEnvelope, err)
		}
	}
	return env, nil
}

// envelopeString decodes the required string member name from its raw JSON.
func envelopeString(name string, raw []byte, present bool) (string, error) {
	if !present {
		return "", fmt.Errorf("%w: %s missing", ErrInvalidEnvelope, name)
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%w: %s must be a string", ErrInvalidEnvelope, name)
	}
	return string(jsonscan.AppendUnescaped(nil, raw[1:len(raw)-1])), nil
}

// AppendSignedMessage appends the bytes a signature covers:
// {"payload":<payload>,"source_node":"…","target_node":"…"} with payload
// verbatim and the RIDs escaped as pydantic prints them. It is the unsigned
// envelope as the reference's model_dump_json prints it, provided payload is
// in that form too (see AppendPydanticJSON).
func AppendSignedMessage(dst, payload []byte, source, target string) []byte {
	dst = append(dst, `{"payload":`...)
	dst = append(dst, payload...)
	dst = append(dst, `,"source_node":`...)
	dst = AppendString(dst, source)
	dst = append(dst, `,"target_node":`...)
	dst = AppendString(dst, target)
	return append(dst, '}')
}

// Message returns the bytes e's signature covers, built from the payload
// bytes received: AppendSignedMessage(nil, e.Payload, e.SourceNode,
// e.TargetNode).
func (e SignedEnvelope) Message() []byte {
	return AppendSignedMessage(nil, e.Payload, e.SourceNode, e.TargetNode)
}

// AppendJSON appends the envelope's body: the message's members in the
// reference's order followed by "signature", payload verbatim.
func (e SignedEnvelope) AppendJSON(dst []byte) []byte {
	dst = AppendSignedMessage(dst, e.Payload, e.SourceNode, e.TargetNode)
	dst = dst[:len(dst)-1]
	dst = append(dst, `,"signature":`...)
	dst = AppendString(dst, e.Signature)
	return append(dst, '}')
}

// Sign returns the KOI-net signature of msg by priv: ECDSA over SHA-256(msg),
// r and s each left-padded to 32 bytes, concatenated, in padded standard
// base64 (SignatureLen characters). priv must be a P-256 key.
func Sign(priv *ecdsa.PrivateKey, msg []byte) (string, error) {
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
	if err != nil {
		return "", fmt.Errorf("koi: sign: %w", err)
	}
	var raw [64]byte
	r.FillBytes(raw[:32])
	s.FillBytes(raw[32:])
	return base64.StdEncoding.EncodeToString(raw[:]), nil
}

// VerifySignature checks sig (as Sign makes it) over msg with pub. It
// returns nil when the signature is valid and an error wrapping
// ErrBadSignature otherwise, including for a signature that is not padded
// standard base64 of exactly 64 bytes (the reference splits the decoded bytes
// at 32 and so could only ever accept 64 of them).
func VerifySignature(pub *ecdsa.PublicKey, msg []byte, sig string) error {
	raw, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil || len(raw) != 64 {
		return fmt.Errorf("%w: not base64 of 64 bytes", ErrBadSignature)
	}
	digest := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(raw[:32])
	s := new(big.Int).SetBytes(raw[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return ErrBadSignature
	}
	return nil
}

// Seal signs payload for target as source with priv and returns the envelope
// body. payload is first printed as pydantic re-prints it
// (AppendPydanticJSON), so that the bytes sent are the bytes signed and a
// Python receiver, which re-serializes before verifying, computes the same
// message. The caller supplies canonical RIDs and timestamps (PROTOCOL.md
// 3.1) and no members the reference's models lack. Errors wrap
// ErrNotPydanticJSON or are the signer's.
func Seal(priv *ecdsa.PrivateKey, payload []byte, source, target string) ([]byte, error) {
	p, err := AppendPydanticJSON(nil, payload)
	if err != nil {
		return nil, err
	}
	env := SignedEnvelope{Payload: p, SourceNode: source, TargetNode: target}
	if env.Signature, err = Sign(priv, env.Message()); err != nil {
		return nil, err
	}
	return env.AppendJSON(nil), nil
}

// SealPrinted is Seal for a payload already printed as pydantic prints it,
// which it signs as it is: the payloads our own writers assemble from
// strings and manifests (RidsPayload.AppendJSON,
// RawManifestsPayload.AppendJSON over Manifest.AppendJSON), where
// re-printing would only cost time. Re-printing a 10,000-RID answer took
// most of a /rids/fetch request (benchmarks/RESULTS.md, "KOI-net node").
// Anything holding JSON from elsewhere (bundles, events) must go through
// Seal.
func SealPrinted(priv *ecdsa.PrivateKey, payload []byte, source, target string) ([]byte, error) {
	env := SignedEnvelope{Payload: payload, SourceNode: source, TargetNode: target}
	var err error
	if env.Signature, err = Sign(priv, env.Message()); err != nil {
		return nil, err
	}
	return env.AppendJSON(nil), nil
}

// Verify checks e's signature with the public key string pub (a profile's
// public_key) over the bytes received: the message built from the raw
// payload (KOI-2.1.md 1d). If that fails and the payload holds whitespace
// between tokens, the message built from the compacted payload is tried as
// well, because the reference re-serializes compactly before verifying and
// so accepts a pretty-printed body. Errors wrap ErrBadSignature or
// ErrInvalidKey.
func (e SignedEnvelope) Verify(pub string) error {
	key, err := ParsePublicKey(pub)
	if err != nil {
		return err
	}
	err = VerifySignature(key, e.Message(), e.Signature)
	if err == nil {
		return nil
	}
	var compact bytes.Buffer
	if json.Compact(&compact, e.Payload) == nil && !bytes.Equal(compact.Bytes(), e.Payload) {
		if VerifySignature(key, AppendSignedMessage(nil, compact.Bytes(), e.SourceNode, e.TargetNode), e.Signature) == nil {
			return nil
		}
	}
	return err
}

// EnvelopeError is a refusal of a signed envelope with one of the
// reference's error codes (ErrorUnknownNode, ErrorInvalidKey,
// ErrorInvalidSignature, ErrorInvalidTarget), answered with HTTP 400 and
// Body.
type EnvelopeError struct {
	// Code is the error code of the error_response body.
	Code string
	// Err says why, for logs; it is not sent.
	Err error
}

// Error returns the code and the reason.
func (e *EnvelopeError) Error() string {
	if e.Err == nil {
		return "koi: envelope refused: " + e.Code
	}
	return "koi: envelope refused: " + e.Code + ": " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *EnvelopeError) Unwrap() error { return e.Err }

// Body returns the HTTP 400 body the reference answers with,
// {"type":"error_response","error":"<code>"}, not enveloped.
func (e *EnvelopeError) Body() []byte {
	b := []byte(`{"type":"error_response","error":`)
	b = AppendString(b, e.Code)
	return append(b, '}')
}

// KeyLookup returns the public key string of the node profile of rid, and
// false when the node is unknown. It is where a node resolves an unknown
// sender before refusing it (KOI-2.1.md 1a: cache, then /bundles/fetch from
// a node-state provider, key hash checked); ValidateEnvelope checks the hash
// again whatever the lookup did.
type KeyLookup func(rid string) (publicKey string, ok bool)

// ValidateEnvelope checks a parsed envelope addressed to the node me in the
// reference's order (SecureManager.validate_envelope, PROTOCOL.md 3) and
// returns nil or an *EnvelopeError with the reference's code:
//  1. the sender's profile: lookup(e.SourceNode), else, for an
//     events_payload only, the first event whose rid is the sender, of type
//     NEW, with manifest and contents (the handshake); else unknown_node;
//  2. PublicKeyHash(public key) must equal the sender RID's hash, else
//     invalid_key (also when the handshake profile has no usable key);
//  3. the signature must verify over the bytes received, else
//     invalid_signature;
//  4. e.TargetNode must equal me, else invalid_target.
//
// There are no timestamps or nonces in KOI-net, so replays are not refused
// (the reference does not refuse them either).
func ValidateEnvelope(e SignedEnvelope, me string, lookup KeyLookup) error {
	pub, ok := "", false
	if lookup != nil {
		pub, ok = lookup(e.SourceNode)
	}
	if !ok {
		pub, ok = handshakeKey(e)
	}
	if !ok {
		return &EnvelopeError{Code: ErrorUnknownNode, Err: fmt.Errorf("no profile for %s", e.SourceNode)}
	}
	if err := CheckNodeKey(e.SourceNode, pub); err != nil {
		return &EnvelopeError{Code: ErrorInvalidKey, Err: err}
	}
	if err := e.Verify(pub); err != nil {
		return &EnvelopeError{Code: ErrorInvalidSignature, Err: err}
	}
	if e.TargetNode != me {
		return &EnvelopeError{Code: ErrorInvalidTarget, Err: fmt.Errorf("addressed to %s", e.TargetNode)}
	}
	return nil
}

// handshakeKey finds the public key of the sender's own profile in a
// handshake: an events_payload whose first event about the sender is NEW
// with manifest and contents. ok is true when such an event exists, even if
// its contents have no string public_key (pub is then "", which fails the
// key check as the reference's profile validation would).
func handshakeKey(e SignedEnvelope) (pub string, ok bool) {
	var p struct {
		Type   string `json:"type"`
		Events []struct {
			RID       string          `json:"rid"`
			EventType EventType       `json:"event_type"`
			Manifest  json.RawMessage `json:"manifest"`
			Contents  json.RawMessage `json:"contents"`
		} `json:"events"`
	}
	if unmarshalExact(e.Payload, &p) != nil || p.Type != PayloadTypeEventsPayload {
		return "", false
	}
	for _, ev := range p.Events {
		if ev.RID != e.SourceNode || ev.EventType != EventNew || isNull(ev.Manifest) || isNull(ev.Contents) {
			continue
		}
		var profile struct {
			PublicKey string `json:"public_key"`
		}
		_ = unmarshalExact(ev.Contents, &profile)
		return profile.PublicKey, true
	}
	return "", false
}

// isNull reports whether a member was absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
