package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/koistream/koistream/pipeline/httpjson"
	"github.com/koistream/koistream/pipeline/koiapi"
)

// Bounds of the HTTP listener.
const (
	// readHeaderTimeout bounds the request line and headers.
	readHeaderTimeout = 10 * time.Second
	// bodyTimeout bounds a whole request body (and the request): GitHub
	// gives up after 10 s, but a slow 25 MiB upload still fits.
	bodyTimeout = 60 * time.Second
	// idleTimeout closes keep-alive connections left unused.
	idleTimeout = 120 * time.Second
	// maxHeaderBytes bounds the request line and headers. GitHub's come to
	// about 2 KB; net/http's default, 1 MiB, let one request hold a
	// megabyte before any check ran (a 500 KB delivery id reached the log).
	maxHeaderBytes = 64 << 10
	// shutdownGrace is how long bodies still arriving get once the node
	// shuts down: a stalled upload must not hold SIGTERM up until the
	// shutdown timeout, which then fails the exit.
	shutdownGrace = time.Second
)

// serveHTTP mounts the sources, the KOI-net API, health and metrics on one
// mux and serves it on the configured address until Shutdown.
func (n *Node) serveHTTP(runCtx context.Context) error {
	mux := http.NewServeMux()
	deps := func(kind, name string) SourceDeps {
		return SourceDeps{
			Config:    n.cfg,
			Publisher: progressPublisher{Publisher: n.pub, p: n.ready.part("intake")},
			RawTopic:  n.names.Raw,
			DeadTopic: n.names.Dead,
			Getenv:    n.cfg.Getenv,
			Mux:       mux,
			Tracer:    n.tel.Tracer("koistream/source/" + kind),
			Logger:    n.log.With("source", name),
			Background: func(task string, fn func(ctx context.Context) error) {
				n.background("source "+name+" "+task, func() error { return fn(runCtx) })
			},
			Meter: n.tel.Meter("koistream/source/" + kind),
			Cached: func(rid string) (bool, error) {
				_, found, err := n.cache.Manifest(rid)
				return found, err
			},
			Dereference: func(d koiapi.Dereferencer) { n.deref = d },
		}
	}
	for _, src := range builtinSources() {
		if err := src.Start(deps(src.Kind, src.Kind)); err != nil {
			return fmt.Errorf("source %s: %w", src.Kind, err)
		}
	}
	types := map[string]ConfigSource{}
	for _, cs := range configSources() {
		types[cs.Type] = cs
	}
	for _, spec := range n.cfg.Sources {
		cs, ok := types[spec.Type]
		if !ok {
			return spec.Config.Errorf("source type %q is not one of the configurable sources", spec.Type)
		}
		if err := cs.Start(deps(cs.Kind, spec.Name), spec); err != nil {
			return fmt.Errorf("source %s: %w", spec.Name, err)
		}
	}
	// Listening before the KOI-net API is built gives the default base_url
	// the real port; nothing is served before Serve below.
	var err error
	if n.httpLn, err = net.Listen("tcp", n.cfg.Listen); err != nil {
		return fmt.Errorf("http listen on %s: %w", n.cfg.Listen, err)
	}
	api, err := n.koiServer(runCtx, mux)
	if err != nil {
		return err // Shutdown closes the listener
	}
	api.Register(mux, n.cfg.KOIPath)
	mux.HandleFunc("GET /healthz", n.healthz)
	mux.HandleFunc("GET /readyz", n.readyz)
	mux.Handle("GET /metrics", n.tel.Metrics)
	n.httpSrv = newHTTPServer(mux, n.cfg)
	ln := httpjson.Listener(n.httpLn, maxHeaderBytes)
	n.background("http", func() error {
		if err := n.httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return nil
}

// koiServer builds the KOI-net API answering as the node's identity, with
// its profile bundle (base_url from the configuration, else the listening
// address) served beside the cache, and with the intake of the koi-net
// source (/events/broadcast, see source_koinet.go) appending to the raw
// topic through the same publisher as the other intakes.
func (n *Node) koiServer(runCtx context.Context, mux *http.ServeMux) (*koiapi.Server, error) {
	n.profile = ProfileOf(n.cfg, n.id, n.Addr())
	manifest, bundle, err := n.id.StableBundleOf(n.cfg.DataDir, n.profile, time.Now())
	if err != nil {
		return nil, err
	}
	n.profileManifest, n.profileBundle = manifest, bundle
	self := &koiapi.Self{RID: n.id.RID, Key: n.id.Key, PublicKey: n.id.PublicKey, Manifest: manifest, Bundle: bundle}
	cfg := koiapi.Config{
		Cache:              n.cache,
		Queues:             n.Queues(),
		Logger:             n.log,
		Self:               self,
		RequireSignatures:  n.cfg.RequireSignatures,
		Publisher:          progressPublisher{Publisher: n.pub, p: n.ready.part("intake")},
		RawTopic:           n.names.Raw,
		Dereferencer:       n.deref,
		DereferenceTimeout: n.cfg.Backfill.DereferenceTimeout,
		BodyBudget:         n.cfg.KOI.BodyBudget,
	}
	if err := n.startNetwork(runCtx, mux, self, &cfg); err != nil {
		return nil, err
	}
	return koiapi.NewServer(cfg)
}

// newHTTPServer returns the node's HTTP server for mux. Every error it
// answers is JSON: routes no pattern takes get httpjson.Routes' 404 and
// 405, and the malformed requests net/http refuses before any handler runs
// get httpjson.Listener's answers once it serves on that listener. Request
// bodies are read under an httpjson.BodyGuard: each read waits at most
// cfg.HTTPBodyIdleTimeout, a body takes at most bodyTimeout, and when the
// server shuts down, bodies still arriving get shutdownGrace more before
// they are answered 503, so Shutdown drains in seconds.
func newHTTPServer(mux *http.ServeMux, cfg Config) *http.Server {
	guard := &httpjson.BodyGuard{Idle: cfg.HTTPBodyIdleTimeout, Total: bodyTimeout, Grace: shutdownGrace}
	srv := &http.Server{
		Handler:           guard.Handler(httpjson.Routes(mux)),
		ReadHeaderTimeout: readHeaderTimeout,
		// The guard bounds bodies more closely; this bounds a request
		// whose handler does not read its body.
		ReadTimeout:    bodyTimeout,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
	}
	// Shutdown waits for requests in flight; the guard stops them waiting
	// for stalled bodies.
	srv.RegisterOnShutdown(guard.Stop)
	return srv
}
