// Package koinet is the node's KOI-net control plane: the client that
// talks to peers (signed 1.1+ envelopes or bare 1.0 payloads), the
// handshake with the first contact, the resolution of unknown senders, edge
// negotiation (proposals, approvals, rejections) and catch-up, the PARTIAL
// node's poller, and the assembly of all of it, [Network].
package koinet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/koistream/koistream/topics/koi"
)

// DefaultHTTPTimeout bounds each request a Client makes when it is given no
// http.Client: the Python reference's httpx default, 5 s.
const DefaultHTTPTimeout = 5 * time.Second

// maxResponseBody bounds a peer's answer. A poll with limit 0 of a long
// queue can be large; 64 MiB is two maximal records.
const maxResponseBody = 64 << 20

// The paths of the KOI-net API, appended to a peer's base URL.
const (
	// PathBroadcast takes an events_payload; the answer is null.
	PathBroadcast = "/events/broadcast"
	// PathPoll takes a poll_events and answers an events_payload.
	PathPoll = "/events/poll"
	// PathRids takes a fetch_rids and answers a rids_payload.
	PathRids = "/rids/fetch"
	// PathManifests takes a fetch_manifests and answers a manifests_payload.
	PathManifests = "/manifests/fetch"
	// PathBundles takes a fetch_bundles and answers a bundles_payload.
	PathBundles = "/bundles/fetch"
)

// ErrUnknownNode is matched (errors.Is) by a *PeerError whose body is the
// reference's {"type":"error_response","error":"unknown_node"}: the peer
// does not know our key.
var ErrUnknownNode = errors.New("koinet: peer does not know us (unknown_node)")

// ErrBadResponse is wrapped by the errors of answers that are not what the
// protocol says a peer answers: not JSON, another payload, a signature that
// does not verify.
var ErrBadResponse = errors.New("koinet: bad answer from peer")

// Peer is a KOI-net node we talk to.
type Peer struct {
	// RID is the peer's node RID, the target_node of signed requests. It may
	// be empty for a koi-net 1.0 peer known only by its URL.
	RID string
	// URL is the peer's KOI-net base URL (http://127.0.0.1:8080/koi-net);
	// paths are appended by concatenation, as the reference does.
	URL string
	// V1 speaks unsigned koi-net 1.0 to the peer: bare payloads without
	// "type", and PollEvents naming us in "rid".
	V1 bool
}

// PeerError is a peer's non-2xx answer.
type PeerError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the error_response's "error" (unknown_node, invalid_key,
	// invalid_signature, invalid_target), empty when the body is not one.
	Code string
	// Body is the body as received.
	Body []byte
}

// Error says what the peer answered.
func (e *PeerError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("koinet: peer answered %d %s", e.Status, e.Code)
	}
	return fmt.Sprintf("koinet: peer answered %d: %.200s", e.Status, e.Body)
}

// Is reports whether target is ErrUnknownNode and the peer said unknown_node.
func (e *PeerError) Is(target error) bool {
	return target == ErrUnknownNode && e.Code == koi.ErrorUnknownNode
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// Self is our node RID, the source_node of signed requests (and the
	// "rid" of 1.0 polls). Required.
	Self string
	// Key signs our requests; required unless every peer is V1.
	Key *ecdsa.PrivateKey
	// Profile is our own profile bundle. With it, a peer that answers
	// unknown_node is sent our handshake and the request is retried once
	// (PROTOCOL.md 7.4, KOI-2.1.md 1a); without it the error is returned.
	Profile *koi.Bundle
	// HTTP sends the requests; nil means a client with DefaultHTTPTimeout.
	HTTP *http.Client
	// Lookup finds the public key of the node that signed an answer. An
	// answer whose signer it knows must verify; an answer from a signer it
	// does not know is accepted unverified, as the reference accepts every
	// answer (it never checks a response's signature or source): we reach
	// peers we do not know yet (a first contact, a provider of node state
	// asked about an unknown sender), and their answers are trusted as far
	// as the URL we chose to ask is.
	Lookup koi.KeyLookup
}

// Client makes KOI-net requests to peers: signed envelopes (koi-net 1.1+)
// or bare 1.0 payloads, as each Peer says. A Client is safe for concurrent
// use.
type Client struct {
	cfg  ClientConfig
	http *http.Client
}

// NewClient returns a client as cfg says. It fails without cfg.Self, or
// when cfg.Self is not a node RID.
func NewClient(cfg ClientConfig) (*Client, error) {
	if _, err := koi.ParseNodeRID(cfg.Self); err != nil {
		return nil, fmt.Errorf("koinet: client: %w", err)
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	return &Client{cfg: cfg, http: hc}, nil
}

// Broadcast POSTs events (event JSON objects, sent verbatim apart from
// pydantic's re-printing of signed payloads) to the peer's
// /events/broadcast. A peer that answers unknown_node gets our handshake
// and the batch once more.
func (c *Client) Broadcast(ctx context.Context, p Peer, events [][]byte) error {
	payload := appendEvents(nil, !p.V1, events)
	_, err := c.call(ctx, p, PathBroadcast, payload, true)
	return err
}

// appendEvents appends an events_payload of events; withType adds the
// "type" member 1.1+ peers sign over.
func appendEvents(dst []byte, withType bool, events [][]byte) []byte {
	if withType {
		dst = append(dst, `{"type":"events_payload","events":[`...)
	} else {
		dst = append(dst, `{"events":[`...)
	}
	for i, ev := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, ev...)
	}
	return append(dst, "]}"...)
}

// Poll asks the peer for the events it queued for us, at most limit (0:
// all). It returns the body as received (what the poller appends to the
// log) and the events of its payload, each verbatim. The peer drops what it
// answered only when we poll again, so a caller that loses the answer loses
// nothing if it polls again only after keeping it.
func (c *Client) Poll(ctx context.Context, p Peer, limit int) (body []byte, events [][]byte, err error) {
	var payload []byte
	if p.V1 {
		payload = append([]byte(`{"rid":`), koi.AppendString(nil, c.cfg.Self)...)
		payload = append(payload, `,"limit":`...)
		payload = fmt.Appendf(payload, "%d}", limit)
	} else {
		payload = fmt.Appendf(nil, `{"type":"poll_events","limit":%d}`, limit)
	}
	body, answer, err := c.request(ctx, p, PathPoll, payload)
	if err != nil {
		return nil, nil, err
	}
	if events, err = decodeEvents(answer); err != nil {
		return nil, nil, fmt.Errorf("%w: poll of %s: %w", ErrBadResponse, p.URL, err)
	}
	return body, events, nil
}

// decodeEvents returns the events of an events_payload, each verbatim.
func decodeEvents(payload []byte) ([][]byte, error) {
	if _, err := koi.DecodeEventsPayload(payload); err != nil {
		return nil, err
	}
	var w struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(payload, &w); err != nil {
		return nil, err
	}
	return rawList(w.Events), nil
}

// FetchRids asks the peer for the RIDs it holds of types (all when empty).
func (c *Client) FetchRids(ctx context.Context, p Peer, types []string) ([]string, error) {
	payload := c.typed(p, "fetch_rids")
	payload = append(payload, `"rid_types":`...)
	payload = appendStringList(payload, types)
	payload = append(payload, '}')
	_, answer, err := c.request(ctx, p, PathRids, payload)
	if err != nil {
		return nil, err
	}
	rp, err := koi.DecodeRidsPayload(answer)
	if err != nil {
		return nil, fmt.Errorf("%w: rids of %s: %w", ErrBadResponse, p.URL, err)
	}
	return rp.Rids, nil
}

// FetchManifests asks the peer for the manifests of rids, or, when rids is
// empty, of every RID of types (all when empty). It returns them verbatim
// and the RIDs the peer does not hold.
func (c *Client) FetchManifests(ctx context.Context, p Peer, types, rids []string) (manifests [][]byte, notFound []string, err error) {
	payload := c.typed(p, "fetch_manifests")
	payload = append(payload, `"rid_types":`...)
	payload = appendStringList(payload, types)
	payload = append(payload, `,"rids":`...)
	payload = appendStringList(payload, rids)
	payload = append(payload, '}')
	_, answer, err := c.request(ctx, p, PathManifests, payload)
	if err != nil {
		return nil, nil, err
	}
	if _, err := koi.DecodeManifestsPayload(answer); err != nil {
		return nil, nil, fmt.Errorf("%w: manifests of %s: %w", ErrBadResponse, p.URL, err)
	}
	var w struct {
		Manifests []json.RawMessage `json:"manifests"`
		NotFound  []string          `json:"not_found"`
	}
	if err := json.Unmarshal(answer, &w); err != nil {
		return nil, nil, fmt.Errorf("%w: manifests of %s: %w", ErrBadResponse, p.URL, err)
	}
	return rawList(w.Manifests), w.NotFound, nil
}

// FetchBundles asks the peer for the bundles of rids. It returns the body as
// received (what is appended to the log), the bundles verbatim and the RIDs
// the peer does not hold.
func (c *Client) FetchBundles(ctx context.Context, p Peer, rids []string) (body []byte, bundles [][]byte, notFound []string, err error) {
	payload := c.typed(p, "fetch_bundles")
	payload = append(payload, `"rids":`...)
	payload = appendStringList(payload, rids)
	payload = append(payload, '}')
	body, answer, err := c.request(ctx, p, PathBundles, payload)
	if err != nil {
		return nil, nil, nil, err
	}
	if bundles, notFound, err = decodeBundles(answer); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: bundles of %s: %w", ErrBadResponse, p.URL, err)
	}
	return body, bundles, notFound, nil
}

// decodeBundles returns the bundles of a bundles_payload, each verbatim,
// and its not_found.
func decodeBundles(payload []byte) (bundles [][]byte, notFound []string, err error) {
	if _, err := koi.DecodeBundlesPayload(payload); err != nil {
		return nil, nil, err
	}
	var w struct {
		Bundles  []json.RawMessage `json:"bundles"`
		NotFound []string          `json:"not_found"`
	}
	if err := json.Unmarshal(payload, &w); err != nil {
		return nil, nil, err
	}
	return rawList(w.Bundles), w.NotFound, nil
}

// Handshake introduces us to the peer as the reference does (KOI-2.1.md
// 2.4): one /events/broadcast of exactly [FORGET self, NEW self with our
// profile]. It needs ClientConfig.Profile. It is not retried on
// unknown_node: the handshake is the one request an unknown sender may
// make.
func (c *Client) Handshake(ctx context.Context, p Peer) error {
	events, err := c.handshakeEvents()
	if err != nil {
		return err
	}
	_, err = c.call(ctx, p, PathBroadcast, appendEvents(nil, !p.V1, events), false)
	return err
}

// handshakeEvents returns [FORGET self, NEW self] as event JSON.
func (c *Client) handshakeEvents() ([][]byte, error) {
	if c.cfg.Profile == nil {
		return nil, errors.New("koinet: no profile to handshake with")
	}
	forget := koi.NewForgetEvent(c.cfg.Self).AppendJSON(nil)
	newEv := koi.NewBundleEvent(koi.EventNew, *c.cfg.Profile).AppendJSON(nil)
	return [][]byte{forget, newEv}, nil
}

// typed opens a request payload: with its "type" for 1.1+ peers, bare for
// 1.0 ones. The caller appends the members and the closing brace.
func (c *Client) typed(p Peer, typ string) []byte {
	if p.V1 {
		return []byte{'{'}
	}
	b := append([]byte(`{"type":`), koi.AppendString(nil, typ)...)
	return append(b, ',')
}

// request is call for the fetch and poll paths: it returns the body and the
// answer's payload, which must be there.
func (c *Client) request(ctx context.Context, p Peer, path string, payload []byte) (body, answer []byte, err error) {
	body, err = c.call(ctx, p, path, payload, true)
	if err != nil {
		return nil, nil, err
	}
	answer, err = c.open(p, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s%s: %w", p.URL, path, err)
	}
	return body, answer, nil
}

// call POSTs payload to p's path, sealed for 1.1+ peers, and returns the 2xx
// body. With retry, an unknown_node answer is followed by our handshake and
// the request once more.
func (c *Client) call(ctx context.Context, p Peer, path string, payload []byte, retry bool) ([]byte, error) {
	body, err := c.post(ctx, p, path, payload)
	if retry && !p.V1 && c.cfg.Profile != nil && errors.Is(err, ErrUnknownNode) {
		if herr := c.Handshake(ctx, p); herr != nil {
			return nil, fmt.Errorf("%w; handshake: %w", err, herr)
		}
		body, err = c.post(ctx, p, path, payload)
	}
	return body, err
}

// post sends one request.
func (c *Client) post(ctx context.Context, p Peer, path string, payload []byte) ([]byte, error) {
	reqBody := payload
	if !p.V1 {
		if c.cfg.Key == nil {
			return nil, errors.New("koinet: no key to sign with")
		}
		if p.RID == "" {
			return nil, fmt.Errorf("koinet: %s has no node RID to address a signed request to", p.URL)
		}
		sealed, err := koi.Seal(c.cfg.Key, payload, c.cfg.Self, p.RID)
		if err != nil {
			return nil, fmt.Errorf("koinet: sign request to %s: %w", p.RID, err)
		}
		reqBody = sealed
	}
	url := strings.TrimRight(p.URL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(reqBody))
	if err != nil {
		return nil, fmt.Errorf("koinet: %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("koinet: %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, fmt.Errorf("koinet: %s: read answer: %w", url, err)
	}
	if len(body) > maxResponseBody {
		return nil, fmt.Errorf("%w: %s answered more than %d bytes", ErrBadResponse, url, maxResponseBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		pe := &PeerError{Status: resp.StatusCode, Body: body}
		if er, err := koi.DecodeErrorResponse(body); err == nil {
			pe.Code = er.Error
		}
		return nil, pe
	}
	return body, nil
}

// open returns the payload of an answer: the envelope's payload from a
// 1.1+ peer, checked with the signer's key when Lookup knows it, or the
// bare body from a 1.0 peer.
func (c *Client) open(p Peer, body []byte) ([]byte, error) {
	if p.V1 {
		return body, nil
	}
	env, err := koi.ParseEnvelope(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if c.cfg.Lookup != nil {
		if pub, ok := c.cfg.Lookup(env.SourceNode); ok {
			if err := koi.CheckNodeKey(env.SourceNode, pub); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
			}
			if err := env.Verify(pub); err != nil {
				return nil, fmt.Errorf("%w: answer signed by %s: %w", ErrBadResponse, env.SourceNode, err)
			}
		}
	}
	return env.Payload, nil
}

// rawList copies raw JSON values out of the decoder's buffers.
func rawList(in []json.RawMessage) [][]byte {
	out := make([][]byte, len(in))
	for i, r := range in {
		out[i] = []byte(r)
	}
	return out
}

// appendStringList appends ss as a JSON list of strings, [] for none.
func appendStringList(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = koi.AppendString(dst, s)
	}
	return append(dst, ']')
}
