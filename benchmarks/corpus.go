package benchmarks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/koistream/koistream/pipeline/webhook"
)

// DefaultCorpusSize is how many distinct payloads a generated corpus holds;
// longer runs cycle through them (see [Corpus.Delivery]).
const DefaultCorpusSize = 4096

// BenchSecret is the webhook secret the benchmarks sign deliveries with.
const BenchSecret = "koistream-bench-secret"

// Corpus is a pool of webhook payloads that the benchmarks turn into any
// number of deliveries: delivery i is payload i modulo the pool size, with a
// fresh delivery id. It is safe for concurrent use.
//
// A generated corpus (see [GenerateCorpus]) also makes every pass over the
// pool new work for the stages: from the second pass on, every commit sha
// in a payload gets different last digits and every timestamp moves by the
// pass number in seconds (within its hour), so commits are new RIDs and
// repositories, issues and pull requests change contents, as they do in a
// live stream, instead of being unchanged re-observations that ridify
// drops. The bytes change, the size does not. A corpus read from a folder
// (see [LoadCorpus]) is cycled with fresh delivery ids only.
type Corpus struct {
	source  string
	seed    uint64
	entries []entry
	vary    bool
}

// entry is one payload of the pool with what a delivery of it needs.
type entry struct {
	event     string
	body      []byte
	signature string // X-Hub-Signature-256 of body under BenchSecret
	hookID    string
	targetID  string
	patches   []patch // where later passes vary the body
}

// Delivery is one webhook delivery made from a corpus payload.
type Delivery struct {
	// Event is the X-GitHub-Event header.
	Event string
	// ID is the X-GitHub-Delivery header, a GUID unique to this delivery.
	ID string
	// Body is the JSON payload. It may share memory with the corpus: treat
	// it as read-only.
	Body []byte
	// Signature is the X-Hub-Signature-256 header of the pool payload under
	// BenchSecret. Later passes of a generated corpus vary the body without
	// re-signing it, so it verifies only for deliveries from the first pass
	// (see [Corpus.Original]); nothing after the webhook handler checks it.
	Signature string
	// HookID and TargetID are the X-GitHub-Hook-ID and
	// X-GitHub-Hook-Installation-Target-ID headers (a repository hook).
	HookID, TargetID string
}

// GenerateCorpus generates a corpus of size distinct payloads from real
// payload shapes (see [EventWeights] for the mix, [MaxPayloadBytes] for the
// largest). The same seed and size give the same corpus, and a smaller size
// gives a prefix of a larger one.
func GenerateCorpus(seed int64, size int) (*Corpus, error) {
	if size < 1 {
		return nil, fmt.Errorf("corpus: size must be at least 1, got %d", size)
	}
	g, err := newGenerator(seed)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	c := &Corpus{
		source: fmt.Sprintf("generated (seed %d, %d distinct payloads)", seed, size),
		seed:   uint64(seed),
		vary:   true,
	}
	for range size {
		event, body, r, err := g.next()
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		c.entries = append(c.entries, entry{
			event:     event,
			body:      body,
			signature: webhook.Sign([]byte(BenchSecret), body),
			hookID:    strconv.FormatInt(r.hookID, 10),
			targetID:  strconv.FormatInt(r.id, 10),
			patches:   findPatches(body),
		})
	}
	return c, nil
}

// LoadCorpus reads the webhook payloads in dir: every file named
// "<event>.<anything>.json", where <event> is the X-GitHub-Event to send it
// with (the naming of stages/github/testdata). Payloads are compacted, as
// GitHub sends them; files are used in name order. Other files are ignored.
func LoadCorpus(dir string) (*Corpus, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", dir, err)
	}
	slices.Sort(files)
	abs, _ := filepath.Abs(dir)
	c := &Corpus{source: abs}
	for _, f := range files {
		event, rest, ok := strings.Cut(filepath.Base(f), ".")
		if !ok || event == "" || rest == "json" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		var body bytes.Buffer
		if err := json.Compact(&body, raw); err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", f, err)
		}
		b := body.Bytes()
		c.entries = append(c.entries, entry{
			event:     event,
			body:      b,
			signature: webhook.Sign([]byte(BenchSecret), b),
			hookID:    "1",
			targetID:  "1",
		})
	}
	if len(c.entries) == 0 {
		return nil, fmt.Errorf("corpus %s: no <event>.<name>.json files", dir)
	}
	return c, nil
}

// Len returns the number of distinct payloads.
func (c *Corpus) Len() int { return len(c.entries) }

// Source describes where the payloads come from.
func (c *Corpus) Source() string { return c.source }

// Delivery returns delivery i (i ≥ 0): payload i modulo Len, varied for
// passes after the first if the corpus is generated, with a delivery id
// unique to i.
func (c *Corpus) Delivery(i int) Delivery {
	e := &c.entries[i%len(c.entries)]
	d := c.delivery(e, i)
	if pass := i / len(c.entries); pass > 0 && c.vary && len(e.patches) > 0 {
		body := bytes.Clone(e.body)
		for _, p := range e.patches {
			p.apply(body, pass)
		}
		d.Body = body
	}
	return d
}

// Original returns delivery i with the pool payload exactly as generated or
// read (never varied), so that its Signature verifies.
func (c *Corpus) Original(i int) Delivery {
	return c.delivery(&c.entries[i%len(c.entries)], i)
}

func (c *Corpus) delivery(e *entry, i int) Delivery {
	return Delivery{
		Event:     e.event,
		ID:        c.deliveryID(i),
		Body:      e.body,
		Signature: e.signature,
		HookID:    e.hookID,
		TargetID:  e.targetID,
	}
}

// deliveryID is a version 4 GUID derived from the seed and i, so that runs
// are reproducible and ids never repeat within a run.
func (c *Corpus) deliveryID(i int) string {
	return formatUUID(splitmix(c.seed^uint64(i)*0x9e3779b97f4a7c15), splitmix(uint64(i)+c.seed<<1+1))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// partitionOf returns the partition of parts that delivery key id falls in,
// the way the benchmarks split work by delivery key.
func partitionOf(id string, parts int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(parts))
}

// loadOrGenerate returns the corpus opts ask for, sized for n deliveries.
func loadOrGenerate(opts Options, n int) (*Corpus, error) {
	if opts.CorpusDir != "" {
		return LoadCorpus(opts.CorpusDir)
	}
	return GenerateCorpus(opts.Seed, min(n, DefaultCorpusSize))
}
