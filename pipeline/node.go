package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/pipeline/httpjson"
	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/pipeline/koinet"
	"github.com/koistream/koistream/pipeline/telemetry"
	"github.com/koistream/koistream/projections"
	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
)

// Node is a running koistream node. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	tel    *telemetry.Telemetry
	names  topics.Names
	broker *topics.Embedded // nil with external brokers
	kafka  []string
	admin  *kadm.Client // for Drained, which benchmarks poll every few ms

	state    *pebble.DB
	deref    koiapi.Dereferencer // the backfill, when it runs (source_githubapi.go)
	instance string              // the data folder's instance ID
	boot     string              // new at every start: with instance, names the transactional producers
	store    *projections.Store
	cache    *projections.Cache
	graph    *projections.Graph
	network  *koinet.Network // the KOI-net control plane, from serveHTTP
	pub      *topics.Publisher
	segments []*segmentRunner
	runner   *projections.Runner
	httpSrv  *http.Server
	httpLn   net.Listener
	streams  streamsPart // the stream listener and its replay hub

	// lock owns the data folder for the node's lifetime; ready is the
	// progress of every part /readyz reports on.
	lock  *DataLock
	ready readiness
	// id is the node's KOI-net identity, loaded or created at Start.
	id Identity
	// profile is our profile's contents, profileManifest and profileBundle
	// its manifest and bundle as served; set once the listener's address
	// is known.
	profile, profileManifest, profileBundle []byte
	// storageErr is the first fatal storage error a database reported
	// (see fatalStorageError); nil while storage works.
	storageErr atomic.Pointer[error]

	cancel   context.CancelFunc
	errc     chan error // first fatal error of a background part
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// Start brings a node up: stage state and stages, log, topics, projections,
// the segment runners and the projection runner, the replay hub and the
// stream listener, then the sources and the HTTP listener, in that order. It returns once the HTTP listener accepts
// connections; /healthz turns 200 once every segment's consumer and the
// projection runner consume. On error everything already started is stopped again; a mistake in
// a stage's configuration block is returned as the stage reported it (a
// *yamlconf.Error naming file and line when it came from a file).
func Start(ctx context.Context, cfg Config) (n *Node, err error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Before anything opens a file in the data folder: a second node on
	// it must change nothing (see DataLock).
	lock, err := LockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n = &Node{cfg: cfg, log: cfg.Logger, names: topics.NewNames(cfg.TopicPrefix), errc: make(chan error, 4), lock: lock}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	defer func() {
		if err != nil {
			_ = n.Shutdown(context.Background())
			n = nil
		}
	}()

	// The KOI-net identity, before anything else starts: a key that cannot
	// be read (a wrong PRIV_KEY_PASSWORD) stops the node at once, and the
	// node never serves under another RID than the one it signs with.
	if n.id, err = NodeIdentity(cfg); err != nil {
		return n, err
	}

	if n.tel, err = telemetry.Setup(ctx, telemetry.Config{SpanProcessors: cfg.SpanProcessors, OTLP: cfg.OTLP}); err != nil {
		return n, err
	}
	// The stages are built before anything listens, so a mistake in a
	// stage's configuration block stops the node before it does anything.
	stateOpts := projections.StageStateOptions(n.log)
	stateOpts.AddEventListener(storageListener(n.ready.part("stage state"), "stage state", n.log, n.storageFailed))
	if n.state, err = pebble.Open(filepath.Join(cfg.DataDir, "stages"), stateOpts); err != nil {
		return n, fmt.Errorf("open stage state: %w", err)
	}
	if n.instance, err = instanceID(cfg.DataDir); err != nil {
		return n, err
	}
	n.boot = bootID()
	chains, states, err := n.buildChains()
	if err != nil {
		return n, err
	}

	n.kafka = cfg.Brokers
	if len(n.kafka) == 0 {
		n.broker, err = topics.StartEmbedded(topics.EmbeddedConfig{
			DataDir:    filepath.Join(cfg.DataDir, "broker"),
			Listen:     cfg.KafkaListen,
			NoSync:     cfg.KafkaNoSync,
			Partitions: cfg.Partitions,
			Logger:     n.log,
		})
		if err != nil {
			return n, err
		}
		n.kafka = []string{n.broker.Addr()}
	}
	if err = topics.EnsureTopics(ctx, n.kafka, n.names.All(), cfg.Partitions); err != nil {
		return n, err
	}
	// A metadata minimum age of 250 ms, not franz-go's 5 s: the admin
	// client looks up topics right after creating them (the changelogs),
	// and with the default a first "unknown topic" answer was cached for
	// 5 s, which made every first start take 5 s.
	adminCl, err := kgo.NewClient(kgo.SeedBrokers(n.kafka...), kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		return n, fmt.Errorf("admin client: %w", err)
	}
	n.admin = kadm.NewClient(adminCl)
	for i, seg := range n.cfg.Segments {
		if err = ensureChangelogs(ctx, n.admin, n.names.Resolve(seg.From), states[i].spaces); err != nil {
			return n, err
		}
	}
	if err = n.migrateLegacyState(ctx, states); err != nil {
		return n, err
	}

	if err = n.openProjections(); err != nil {
		return n, err
	}

	wmLog := watermill.NewSlogLogger(n.log.With("component", "watermill"))
	if n.pub, err = topics.NewPublisher(topics.PublisherConfig{Brokers: n.kafka, Propagator: n.tel.Propagator}, wmLog); err != nil {
		return n, err
	}
	if err = n.buildSegments(wmLog, chains, states); err != nil {
		return n, err
	}
	if n.runner, err = projections.NewRunner(projections.RunnerConfig{
		Brokers:    n.kafka,
		Topic:      n.names.Events,
		Logger:     n.log,
		Tracer:     n.tel.Tracer("koistream/projections"),
		Meter:      n.tel.Meter("koistream/projections"),
		Propagator: n.tel.Propagator,
	}, n.store); err != nil {
		return n, err
	}

	for _, seg := range n.segments {
		n.background("segment "+seg.name, func() error {
			return seg.consumer.Run(runCtx, trackTxn(n.ready.part("segment "+seg.name), seg))
		})
	}
	n.background("projections", func() error { return n.runner.Run(runCtx) })
	if err = n.startSinks(runCtx); err != nil {
		return n, err
	}
	n.background("projections progress", func() error {
		watchStall(runCtx, n.ready.part("projections"), time.Second, n.projectionPosition)
		return nil
	})
	n.background("data folder watchdog", func() error { return n.lock.Watch(runCtx, WatchdogInterval) })

	if err = n.startStreams(ctx); err != nil {
		return n, err
	}
	if err = n.serveHTTP(runCtx); err != nil {
		return n, err
	}
	segs := make([]string, 0, len(n.segments))
	for _, seg := range n.segments {
		segs = append(segs, seg.name)
	}
	n.log.Info("koistream serving",
		"http", n.Addr(), "pubsub", n.PubsubAddr(), "kafka", n.KafkaAddrs(), "data_dir", cfg.DataDir,
		"webhook", cfg.WebhookPath, "koi_net", cfg.KOIPath, "embedded_broker", n.broker != nil,
		"segments", segs)
	return n, nil
}

// background runs fn until it returns; an error return is fatal to the node
// and reported by Wait.
func (n *Node) background(name string, fn func() error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := fn(); err != nil {
			n.log.Error("node part failed", "part", name, "err", err)
			select {
			case n.errc <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

// segmentState is the stage state of one segment: its store and the
// changelog topics its stages asked for, nil when none did.
type segmentState struct {
	store  *stages.StateStore
	spaces []string
}

// buildChains builds the stage chain of every segment, in order: each stage
// from its registered factory with its own configuration block and, when it
// asks for one, its own state with its own changelog topic.
func (n *Node) buildChains() ([]*stages.Chain, []*segmentState, error) {
	tel := stages.Telemetry{Tracer: n.tel.Tracer("koistream/stages"), Meter: n.tel.Meter("koistream/stages")}
	chains := make([]*stages.Chain, 0, len(n.cfg.Segments))
	states := make([]*segmentState, 0, len(n.cfg.Segments))
	for _, seg := range n.cfg.Segments {
		st := &segmentState{store: stages.NewStateStore(n.state)}
		var sts []stages.Stage
		for i, spec := range seg.Stages {
			deps := stages.Deps{Logger: n.log, Now: time.Now, OpenState: func() (stages.State, error) {
				space := n.changelogTopic(seg.ID(), spec.Name, i)
				st.spaces = append(st.spaces, space)
				return st.store.Space(space), nil
			}}
			stage, err := n.cfg.Registry.New(spec.Name, deps, spec.Config)
			if err != nil {
				return nil, nil, fmt.Errorf("segment %s: %w", seg.ID(), err)
			}
			sts = append(sts, stage)
		}
		chain, err := stages.NewChain(seg.ID(), sts, tel)
		if err != nil {
			return nil, nil, err
		}
		chains = append(chains, chain)
		states = append(states, st)
	}
	return chains, states, nil
}

// buildSegments wires each segment's chain (chains[i] is segment i's)
// between its topics, each in its own transactions.
func (n *Node) buildSegments(wmLog watermill.LoggerAdapter, chains []*stages.Chain, states []*segmentState) error {
	deadCount, err := newDeadCounter(n.tel.Meter("koistream/stages"))
	if err != nil {
		return err
	}
	retry := middleware.Retry{
		MaxRetries:      3,
		InitialInterval: 100 * time.Millisecond,
		MaxInterval:     2 * time.Second,
		Multiplier:      2,
		ShouldRetry:     func(p middleware.RetryParams) bool { return !stages.IsPermanent(p.Err) },
		Logger:          wmLog,
	}.Middleware
	for i, seg := range n.cfg.Segments {
		id, chain, st := seg.ID(), chains[i], states[i]
		changelogs := map[string]bool{}
		for _, sp := range st.spaces {
			changelogs[sp] = true
		}
		group := n.groupOf(id)
		consumer, err := topics.NewTxnConsumer(topics.TxnConsumerConfig{
			Brokers:          n.kafka,
			Group:            group,
			Topic:            n.names.Resolve(seg.From),
			TransactionalID:  group + "." + n.instance + "." + n.boot,
			ManualPartitions: func(topic string) bool { return changelogs[topic] },
			Propagator:       n.tel.Propagator,
			Logger:           n.log.With("segment", id),
		})
		if err != nil {
			return err
		}
		runner := &segmentRunner{
			name:     id,
			to:       n.names.Resolve(seg.To),
			consumer: consumer,
			brokers:  n.kafka,
			admin:    n.admin,
			log:      n.log.With("segment", id),
			restored: map[int32]bool{},
			written:  map[int32][]*kgo.Record{},
		}
		if len(st.spaces) > 0 {
			runner.state, runner.spaces = st.store, st.spaces
		}
		dead := &deadLetterPublisher{next: txnPublisher{runner}, segment: id, dead: deadCount}
		poison, err := middleware.PoisonQueueWithFilter(dead, n.names.Dead, deadLetterable)
		if err != nil {
			return fmt.Errorf("segment %s: poison queue: %w", id, err)
		}
		// Outermost first: a failure that survives the retries, or that is
		// permanent, is published to the dead topic in the poll's
		// transaction and only then counts as handled. If that publish
		// fails the transaction aborts and the poll is retried: nothing is
		// dropped.
		runner.handler = poison(retry(middleware.Recoverer(runner.attempt(chain.Handle))))
		n.segments = append(n.segments, runner)
	}
	return nil
}

// healthz answers 200 {"status":"ok"} once the broker, the stage segments
// and the projections run, else 503 naming what is not running.
func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	checks := map[string]bool{
		"broker":      n.broker != nil || len(n.cfg.Brokers) > 0,
		"stages":      n.segmentsReady(),
		"projections": n.runner != nil && n.runner.Ready(),
	}
	status, code := "ok", http.StatusOK
	for _, ok := range checks {
		if !ok {
			status, code = "starting", http.StatusServiceUnavailable
		}
	}
	httpjson.Write(w, code, map[string]any{"status": status, "checks": checks})
}

// readyz answers 200 {"status":"ok"} while the node is started (see
// healthz) and every part makes progress: each segment's polls, the
// projections, the intake's appends to the log, the stage state's
// background writes, and room on the data folder's disk. Otherwise it
// answers 503 {"status":"not_ready"} with "failing" naming each failing
// part and its latest error. /healthz stays liveness: a node that is
// merely stuck is not restarted for it.
func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	checkDisk(n.ready.part("disk"), n.cfg.DataDir)
	checks := map[string]bool{
		"broker":      n.broker != nil || len(n.cfg.Brokers) > 0,
		"stages":      n.segmentsReady(),
		"projections": n.runner != nil && n.runner.Ready(),
	}
	failing := n.ready.failing()
	for part, ok := range checks {
		if !ok {
			failing[part] = "not started"
		}
	}
	if len(failing) > 0 {
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "failing": failing})
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"status": "ok"})
}

// projectionPosition returns how many records the projections have applied
// (summed over partitions) and how many wait, for watchStall.
func (n *Node) projectionPosition() (done, pending int64) {
	for _, o := range n.runner.Next() {
		done += o
	}
	return done, n.runner.Lag()
}

// Addr returns the HTTP listener's host:port.
func (n *Node) Addr() string { return n.httpLn.Addr().String() }

// Identity returns the node's KOI-net identity: its key, public key and
// node RID, as loaded or created at Start.
func (n *Node) Identity() Identity { return n.id }

// KafkaAddrs returns the seed brokers the node uses: the embedded broker's
// address, or the configured brokers.
func (n *Node) KafkaAddrs() []string { return n.kafka }

// Topics returns the node's topic names.
func (n *Node) Topics() topics.Names { return n.names }

// ProjectionsDir returns the folder of the projection store within a node's
// data folder. It is "cache" because the cache was once its only
// projection; keeping the name keeps existing stores.
func ProjectionsDir(dataDir string) string { return filepath.Join(dataDir, "cache") }

// Cache returns the cache projection.
func (n *Node) Cache() *projections.Cache { return n.cache }

// ProjectionMetrics returns Pebble's metrics of the projection store.
// Safe for concurrent use.
func (n *Node) ProjectionMetrics() *pebble.Metrics { return n.store.Metrics() }

// StateMetrics returns Pebble's metrics of the stage state database.
// Safe for concurrent use.
func (n *Node) StateMetrics() *pebble.Metrics { return n.state.Metrics() }

// ProjectionLag returns how many event records the projections have not
// applied.
func (n *Node) ProjectionLag() int64 { return n.runner.Lag() }

// Wait blocks until ctx ends (returning nil) or a part of the node fails
// (returning its error). Either way the caller should then Shutdown.
func (n *Node) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-n.errc:
		return err
	}
}

// Shutdown stops the node gracefully: every stream ends (with its last
// chunk) and the replay hub stops, the HTTP listener stops accepting and
// drains in-flight requests, each segment finishes its current poll
// (publishing, syncing and committing it), the projection runner stops after
// its current batch, and the broker flushes and
// closes. It is idempotent; later calls return the first call's result.
func (n *Node) Shutdown(ctx context.Context) error {
	n.stopOnce.Do(func() { n.stopErr = n.shutdown(ctx) })
	return n.stopErr
}

func (n *Node) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	// A node whose data folder is gone (or whose disk failed) closes
	// nothing that writes there: Pebble retries a failed flush at once and
	// forever, so closing the projection store (which flushes) spun at
	// full CPU and never returned, and SIGTERM did not stop the node.
	lost := n.storageLost()
	if lost != nil {
		n.log.Error("storage lost; stopping without closing it", "data_dir", n.cfg.DataDir, "err", lost)
		errs = append(errs, lost)
	}
	if err := n.stopStreams(ctx); err != nil {
		errs = append(errs, err)
	}
	if n.httpSrv != nil {
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else if n.httpLn != nil {
		n.httpLn.Close()
	}
	// Segments finish their current poll (publishing and syncing it) and
	// commit before they return; the projection stops after its batch.
	n.cancel()
	if lost == nil {
		n.wg.Wait()
	} else {
		n.waitBackground(lostStorageWait)
	}
	if n.pub != nil {
		if err := n.pub.Close(); err != nil {
			errs = append(errs, fmt.Errorf("publisher close: %w", err))
		}
	}
	if n.store != nil && lost == nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.state != nil && lost == nil {
		if err := n.state.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close stage state: %w", err))
		}
	}
	if n.admin != nil {
		n.admin.Close()
	}
	if n.broker != nil {
		n.broker.Close()
	}
	if n.tel != nil {
		if err := n.tel.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("telemetry shutdown: %w", err))
		}
	}
	if err := n.lock.Release(); err != nil {
		errs = append(errs, fmt.Errorf("release data folder: %w", err))
	}
	return errors.Join(errs...)
}

// storageFailed records err, a fatal storage error, and makes it fatal to
// the node (Wait returns it).
func (n *Node) storageFailed(err error) {
	if n.storageErr.CompareAndSwap(nil, &err) {
		n.log.Error("storage failed", "data_dir", n.cfg.DataDir, "err", err)
		select {
		case n.errc <- err:
		default:
		}
	}
}

// storageLost returns why the node's storage can no longer be written, or
// nil: the data folder is gone or replaced, or a database reported a
// fatal storage error.
func (n *Node) storageLost() error {
	if n.lock != nil {
		if err := n.lock.Check(); err != nil {
			return err
		}
	}
	if err := n.storageErr.Load(); err != nil {
		return *err
	}
	return nil
}

// lostStorageWait bounds how long Shutdown waits for the segments and the
// projections when the data folder is gone: a part blocked on a database
// that can no longer write never returns, and the process is about to
// exit anyway.
const lostStorageWait = 5 * time.Second

// waitBackground waits up to d for every background part to return.
func (n *Node) waitBackground(d time.Duration) {
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		n.log.Warn("background parts still running; stopping without them", "waited", d)
	}
}

// Drained reports whether the node has caught up with its log: every
// segment has processed its input topic up to the current end and the cache
// projection has applied the whole events topic. Benchmarks and tests poll it
// after appending input; it costs a few metadata requests.
func (n *Node) Drained(ctx context.Context) (bool, error) {
	return n.drained(ctx)
}

func (n *Node) segmentsReady() bool {
	// An ingest-only node has none: vacuously ready.
	for _, s := range n.segments {
		if !s.consumer.Ready() {
			return false
		}
	}
	return true
}
