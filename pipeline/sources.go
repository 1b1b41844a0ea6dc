package pipeline

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/koistream/koistream/pipeline/koiapi"
)

// A source takes input in and appends it to the raw topic, one record per
// input exactly as received, with its kind in the raw.HeaderSource header.
// It has two halves that never import each other: the intake, registered
// here, and the parser that turns its raw records into observations,
// registered in stages.BuiltinParsers under the same kind. What both halves
// must agree on (header names, checks of the input) lives in a package both
// import, as topics/github does for the GitHub webhook.

// SourceDeps is what an intake may use. Every field is set by the node
// before any intake starts.
type SourceDeps struct {
	// Config is the node's configuration, after defaults. Read only.
	Config Config
	// Publisher appends to RawTopic. A nil error from Publish means the
	// records are durably in the log; only then may the intake acknowledge
	// its input. Safe for concurrent use.
	Publisher message.Publisher
	// RawTopic is the full name of the raw topic.
	RawTopic string
	// DeadTopic is the full name of the dead-letter topic, where an
	// intake keeps input it cannot take in (topics/dead's headers and the
	// reason), through Publisher.
	DeadTopic string
	// Getenv reads the environment (secrets named by *_env keys).
	Getenv func(string) string
	// Mux is the node's HTTP listener; an intake that takes input over HTTP
	// mounts its handlers here. Paths must not collide with other intakes,
	// the KOI-net API, /healthz, /readyz or /metrics.
	Mux *http.ServeMux
	// Tracer and Logger are the intake's own.
	Tracer trace.Tracer
	Logger *slog.Logger
	// Background runs fn for the node's lifetime, for intakes that poll or
	// listen on their own (backfill, a git hook socket). ctx ends when the
	// node shuts down; fn then returns nil. Any other error is fatal to the
	// node.
	Background func(name string, fn func(ctx context.Context) error)
	// Meter is the intake's own, for its metrics on /metrics.
	Meter metric.Meter
	// Cached reports whether the node's cache holds rid: what the node
	// already knows, for an intake that asks others to resend what it
	// missed (the backfill's delivery recovery).
	Cached func(rid string) (bool, error)
	// Dereference registers the intake as the fetcher of RIDs the KOI-net
	// fetch endpoints are asked for and the cache lacks (koiapi.Config.
	// Dereferencer). One intake at most may call it.
	Dereference func(koiapi.Dereferencer)
}

// Source is one registered intake: its kind (the raw.HeaderSource value of
// the records it writes) and how to start it.
type Source struct {
	// Kind is the source kind, the key its parser is registered under.
	Kind string
	// Start mounts the intake's handlers or starts its loops. It returns
	// once the intake accepts input, or an error that stops the node from
	// starting.
	Start func(deps SourceDeps) error
}

// builtinSources lists the intakes every node starts, each in its own file:
// a new source is a new file here plus its parser's registration in
// stages.BuiltinParsers.
func builtinSources() []Source {
	return []Source{
		githubWebhookSource(),
		koiNetSource(),
		publishSource(),
		githubAPISource(),
	}
}
