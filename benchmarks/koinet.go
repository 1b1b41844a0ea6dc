package benchmarks

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/koi"
)

// koiPeer is a KOI-net node the KOI benchmarks play: its own P-256 key and
// RID, a FULL profile, and a keep-alive HTTP client, as a Python node has
// (httpx keeps connections to a peer open).
type koiPeer struct {
	key     *ecdsa.PrivateKey
	pub     string
	rid     string
	profile []byte
	client  *http.Client
}

// newKOIPeer makes a peer called name.
func newKOIPeer(name string) (*koiPeer, error) {
	key, err := koi.GenerateKey()
	if err != nil {
		return nil, err
	}
	pub, err := koi.PublicKeyString(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	rid, err := koi.NodeRIDForKey(name, pub)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	return &koiPeer{
		key: key, pub: pub, rid: rid,
		profile: pipeline.NodeProfileJSON("http://127.0.0.1:9/koi-net", nil, pub),
		client:  &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}, nil
}

// post seals payload from p to node target and POSTs it to url; it returns
// the answer's body, or an error for a transport failure or a non-200. The
// benchmarks' payloads are compact JSON without floats, already as pydantic
// prints them, so the peer signs them as they are (koi.SealPrinted): a
// Python peer re-prints on its own machine, not on the two cores measured.
func (p *koiPeer) post(url, target string, payload []byte) ([]byte, error) {
	body, err := koi.SealPrinted(p.key, payload, p.rid, target)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %s", url, resp.StatusCode, b)
	}
	return b, nil
}

// postBare POSTs a bare (koi-net 1.0) payload to url and returns the
// answer's body, or an error for a transport failure or a non-200.
func (p *koiPeer) postBare(url string, payload []byte) ([]byte, error) {
	resp, err := p.client.Post(url, "application/json", bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %s", url, resp.StatusCode, b)
	}
	return b, nil
}

// handshake introduces p to the node at base (its KOI-net base URL) as a
// koi-net 2.1 node does: one broadcast with FORGET and NEW of its profile.
func (p *koiPeer) handshake(base, target string) error {
	b, err := koi.NewBundle(p.rid, p.profile, time.Now())
	if err != nil {
		return err
	}
	payload := eventsPayload([][]byte{
		koi.NewForgetEvent(p.rid).AppendJSON(nil),
		koi.NewBundleEvent(koi.EventNew, b).AppendJSON(nil),
	})
	_, err = p.post(base+"/events/broadcast", target, payload)
	return err
}

// eventsPayload returns an events_payload of the event JSON objects.
func eventsPayload(events [][]byte) []byte {
	out := []byte(`{"type":"events_payload","events":[`)
	for i, e := range events {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	return append(out, "]}"...)
}

// issueEvent returns a NEW event of an orn:github.issue RID numbered i in
// repository repo, with contents of about the size of an issue's fields.
func issueEvent(repo string, i int, ts time.Time) ([]byte, error) {
	rid := "orn:github.issue:" + repo + ":" + strconv.Itoa(i)
	contents := []byte(`{"number":` + strconv.Itoa(i) + `,"title":"benchmark issue ` + strconv.Itoa(i) +
		`","state":"open","user":{"login":"bench","id":1},"labels":[],"body":"` +
		string(bytes.Repeat([]byte("x"), 400)) + `","created_at":"2026-11-28T00:00:00Z","closed_at":null}`)
	b, err := koi.NewBundle(rid, contents, ts)
	if err != nil {
		return nil, err
	}
	return koi.NewBundleEvent(koi.EventNew, b).AppendJSON(nil), nil
}

// waitKnown waits until the node's cache holds a bundle of every peer's
// node RID: their handshakes went through the pipeline.
func waitKnown(ctx context.Context, node *pipeline.Node, peers []*koiPeer) error {
	for _, p := range peers {
		for {
			_, found, err := node.Cache().Bundle(p.rid)
			if err != nil {
				return err
			}
			if found {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("peer %s never reached the cache: %w", p.rid, ctx.Err())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// latencies collects request latencies from concurrent workers.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// quantile returns the nearest-rank quantile q of the latencies, in ms.
func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return float64(nearestRank(s, q)) / float64(time.Millisecond)
}
