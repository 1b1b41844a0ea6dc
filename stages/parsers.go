package stages

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/koistream/koistream/stages/eventhive"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/stages/koinet"
	"github.com/koistream/koistream/stages/publish"
	eventhivewire "github.com/koistream/koistream/topics/eventhive"
	ghwire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/githubapi"
	koinetwire "github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/observed"
	publishwire "github.com/koistream/koistream/topics/publish"
	"github.com/koistream/koistream/topics/raw"
)

// Parser turns the raw records of one source kind into observations: it is
// how a source plugs into the normalize stage. Parse returns the
// observations of rec with their RID, Op, Contents, Routing and Immutable
// set; the normalize stage fills in where each came from (the record's
// source kind, key, receive time and log position), so a parser cannot get
// those wrong. An error means rec cannot be parsed, ever: the stage sends
// it to the dead topic without retrying. Parse is called concurrently and
// must be safe for it.
type Parser interface {
	Parse(ctx context.Context, rec raw.Record) ([]observed.Observation, error)
}

// ParserFunc adapts a function to [Parser].
type ParserFunc func(ctx context.Context, rec raw.Record) ([]observed.Observation, error)

// Parse calls f.
func (f ParserFunc) Parse(ctx context.Context, rec raw.Record) ([]observed.Observation, error) {
	return f(ctx, rec)
}

// UniqueKeyParser is a [Parser] of a source whose raw-record keys the node
// mints itself, unique by construction (the publish source's ULIDs): no
// record of it is ever a redelivery of another, so the dedupe stage passes
// its records without keeping state for them. Without this, every such
// record added a dedupe entry that could never match (a changelog record
// and a Pebble key per published message, forever).
type UniqueKeyParser interface {
	Parser
	// UniqueKeys reports whether the source's keys are unique by
	// construction.
	UniqueKeys() bool
}

// UniqueKeys wraps p as the parser of a source with unique keys
// ([UniqueKeyParser]).
func UniqueKeys(p Parser) Parser { return uniqueKeys{p} }

type uniqueKeys struct{ Parser }

func (uniqueKeys) UniqueKeys() bool { return true }

// Parsers maps source kinds (raw.HeaderSource) to parsers. It is the one
// place sources are made known to the normalize stage: a new source is a
// package that writes raw records of its own kind plus one registration in
// [BuiltinParsers]. A Parsers is safe for concurrent use.
type Parsers struct {
	mu      sync.RWMutex
	parsers map[string]Parser
}

// NewParsers returns an empty set. Most callers want [BuiltinParsers].
func NewParsers() *Parsers {
	return &Parsers{parsers: make(map[string]Parser)}
}

// BuiltinParsers returns the parsers of every source koistream ships:
// "github-webhook" (the webhook source, pipeline/webhook) parsed by
// stages/github's ParseWebhook, "github-api" (the backfill's REST
// responses, topics/githubapi) parsed by stages/github's ParseAPI,
// "koi-net" (KOI-net input: pipeline/koiapi's /events/broadcast, polls,
// fetches, the node's own knowledge) parsed by stages/koinet, and
// "publish" (objects published to the stream listener, pipeline/streams)
// parsed by stages/publish, and "eventhive" (messages EventHive processes
// publish over Redis, topics/eventhive) parsed by stages/eventhive.
func BuiltinParsers() *Parsers {
	p := NewParsers()
	p.mustRegister(ghwire.SourceKind, ParserFunc(github.ParseWebhook))
	p.mustRegister(githubapi.SourceKind, ParserFunc(github.ParseAPI))
	p.mustRegister(koinetwire.SourceKind, ParserFunc(koinet.Parse))
	p.mustRegister(publishwire.SourceKind, UniqueKeys(ParserFunc(publish.Parse)))
	p.mustRegister(eventhivewire.SourceKind, ParserFunc(eventhive.Parse))
	return p
}

// Register adds the parser of source kind kind. It fails if kind is empty,
// p is nil, or kind already has a parser.
func (ps *Parsers) Register(kind string, p Parser) error {
	if kind == "" || p == nil {
		return fmt.Errorf("register parser: source kind and parser are required")
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.parsers[kind]; ok {
		return fmt.Errorf("register parser for source kind %q: already registered", kind)
	}
	ps.parsers[kind] = p
	return nil
}

func (ps *Parsers) mustRegister(kind string, p Parser) {
	if err := ps.Register(kind, p); err != nil {
		panic(err)
	}
}

// Lookup returns the parser of source kind kind, and false if there is none.
func (ps *Parsers) Lookup(kind string) (Parser, bool) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	p, ok := ps.parsers[kind]
	return p, ok
}

// UniqueKeys reports whether source kind kind has a parser registered as a
// [UniqueKeyParser] whose keys are unique.
func (ps *Parsers) UniqueKeys(kind string) bool {
	p, ok := ps.Lookup(kind)
	if !ok {
		return false
	}
	u, ok := p.(UniqueKeyParser)
	return ok && u.UniqueKeys()
}

// Kinds returns the source kinds that have a parser, sorted.
func (ps *Parsers) Kinds() []string {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	kinds := make([]string, 0, len(ps.parsers))
	for k := range ps.parsers {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}
