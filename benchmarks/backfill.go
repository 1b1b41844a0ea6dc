package benchmarks

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	"github.com/koistream/koistream/stages/github"
)

// The backfill measurements (issue 13) run the GitHub backfill against
// fakegithub, the fake GitHub REST API on loopback, which answers at once:
// what they measure is the backfill's own cost (requests per item, items
// per second through the pipeline), not GitHub's latency or quota.

const (
	// backfillOwner and backfillName spell the measured repository.
	backfillOwner, backfillName = "bench", "backfill"
	// backfillRepo is its full name.
	backfillRepo = backfillOwner + "/" + backfillName
	// backfillToken is the only token the fake accepts.
	backfillToken = "bench-token"
	// backfillPoll is how often the cache is counted while the pipeline
	// measurement waits: a count scans the cache's manifests, so it is
	// polled less often than Drained.
	backfillPoll = 20 * time.Millisecond
	// backfillStall is how long the pipeline measurement waits for the
	// next item to reach the cache before it gives up.
	backfillStall = 30 * time.Second
)

// backfillSize is the generated repository: how many issues, pull
// requests, commits and feed events it has.
type backfillSize struct {
	Issues, Pulls, Commits, Events int
}

// spec is the fake repository of s.
func (s backfillSize) spec() fakegithub.RepoSpec {
	return fakegithub.RepoSpec{
		Owner: backfillOwner, Name: backfillName,
		Issues: s.Issues, Pulls: s.Pulls, Commits: s.Commits, Events: s.Events,
	}
}

// items is how many entities the repository holds: the repository object,
// its issues, pull requests and commits. Each is one RID in the cache once
// backfilled. The events feed's events are not among them: the backfill
// reads the feed as a change signal and the parser makes nothing of it
// (stages/github.ParseAPI), so they cost requests but are not items.
func (s backfillSize) items() int { return 1 + s.Issues + s.Pulls + s.Commits }

// String reads like "1000 issues, 300 pulls, 2000 commits, 300 events".
func (s backfillSize) String() string {
	return fmt.Sprintf("%d issues, %d pulls, %d commits, %d events", s.Issues, s.Pulls, s.Commits, s.Events)
}

// passRequests are the requests one backfill pass made, from the fake's
// request log.
type passRequests struct {
	requests    int // every request
	conditional int // with If-None-Match or If-Modified-Since
	notModified int // answered 304
	log         []fakegithub.Request
}

// countRequests summarizes a request log.
func countRequests(log []fakegithub.Request) passRequests {
	p := passRequests{requests: len(log), log: log}
	for _, r := range log {
		if r.Conditional() {
			p.conditional++
		}
		if r.Status == http.StatusNotModified {
			p.notModified++
		}
	}
	return p
}

// String lists the requests, one "METHOD URI -> status" per line, for the
// benchmark's log.
func (p passRequests) String() string {
	var b strings.Builder
	for _, r := range p.log {
		cond := ""
		if r.Conditional() {
			cond = " (conditional)"
		}
		fmt.Fprintf(&b, "%s %s -> %d%s\n", r.Method, r.URI, r.Status, cond)
	}
	return b.String()
}

// byList counts the requests per list (the path without the query), in
// the order first asked, like "/repos/o/r/issues 13".
func (p passRequests) byList() string {
	var order []string
	count := map[string]int{}
	for _, r := range p.log {
		path, _, _ := strings.Cut(r.URI, "?")
		if count[path] == 0 {
			order = append(order, path)
		}
		count[path]++
	}
	parts := make([]string, 0, len(order))
	for _, path := range order {
		parts = append(parts, fmt.Sprintf("%s %d", path, count[path]))
	}
	return strings.Join(parts, ", ")
}

// backfillRequestsResult is what measureBackfillRequests measured.
type backfillRequestsResult struct {
	first, second passRequests
	firstElapsed  time.Duration // the first pass, broker start included
}

// measureBackfillRequests generates a repository of size s in a fresh
// fake GitHub and makes two backfill passes over it with
// pipeline.BackfillOnce (the fetcher appending every page to an embedded
// broker on dir, fsync on, as "koistream backfill" does), the second one
// over the unchanged repository. Between them the shared fake clock moves
// on by pipeline.DefaultBackfillInterval, as between a node's passes, so
// the events feed's X-Poll-Interval (60 s) has run out and the feed is
// asked again. It returns each pass's requests, from the fake's log.
func measureBackfillRequests(ctx context.Context, dir string, s backfillSize) (backfillRequestsResult, error) {
	var res backfillRequestsResult
	clock := fakegithub.NewClock(time.Now().UTC().Truncate(time.Second))
	gh := fakegithub.New(fakegithub.Options{Clock: clock, Tokens: []string{backfillToken}})
	defer gh.Close()
	gh.AddRepo(s.spec())
	cfg := pipeline.Config{
		DataDir: dir,
		Backfill: pipeline.BackfillConfig{
			APIURL: gh.URL, Repos: []string{backfillRepo}, Tokens: []string{backfillToken}, Clock: clock,
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	start := time.Now()
	if _, err := pipeline.BackfillOnce(ctx, cfg, pipeline.BackfillOptions{}); err != nil {
		return res, fmt.Errorf("backfill requests: first pass: %w", err)
	}
	res.firstElapsed = time.Since(start)
	res.first = countRequests(gh.Requests())
	gh.ResetRequests()
	clock.Advance(pipeline.DefaultBackfillInterval)
	if _, err := pipeline.BackfillOnce(ctx, cfg, pipeline.BackfillOptions{}); err != nil {
		return res, fmt.Errorf("backfill requests: second pass: %w", err)
	}
	res.second = countRequests(gh.Requests())
	return res, nil
}

// firstRequest is an http.RoundTripper that records when its first request
// was sent: when a node's backfill pass started.
type firstRequest struct {
	next http.RoundTripper
	once sync.Once
	at   chan time.Time // receives the time once
}

func (f *firstRequest) RoundTrip(req *http.Request) (*http.Response, error) {
	f.once.Do(func() { f.at <- time.Now() })
	return f.next.RoundTrip(req)
}

// backfillPipelineResult is what measureBackfillPipeline measured.
type backfillPipelineResult struct {
	elapsed  time.Duration // the pass's first request until every item was in the cache
	drained  time.Duration // the same until Node.Drained also reported true
	items    int           // RIDs of the repository in the cache
	requests int           // requests the node made to the fake
}

// measureBackfillPipeline starts a node on dir with the same settings as
// startNode (embedded broker with fsync on, the default stages and the
// cache projection) plus the GitHub backfill of the repository of size s
// from a fresh fake GitHub on loopback. The node starts its first pass
// while it starts; the clock runs from that pass's first request until
// every item of the repository (see backfillSize.items) is a RID in the
// cache, counted every backfillPoll, and Node.Drained reports that the
// stages and the projection caught up.
func measureBackfillPipeline(ctx context.Context, dir string, s backfillSize, log *slog.Logger) (backfillPipelineResult, error) {
	var res backfillPipelineResult
	gh := fakegithub.New(fakegithub.Options{Tokens: []string{backfillToken}})
	defer gh.Close()
	gh.AddRepo(s.spec())
	first := &firstRequest{next: http.DefaultTransport, at: make(chan time.Time, 1)}
	node, err := pipeline.Start(ctx, pipeline.Config{
		DataDir:        dir,
		Listen:         "127.0.0.1:0",
		KafkaListen:    "127.0.0.1:0",
		Streams:        pipeline.StreamsConfig{Listen: "127.0.0.1:0"},
		WebhookSecrets: [][]byte{[]byte(BenchSecret)},
		Logger:         slog.New(slog.DiscardHandler),
		Backfill: pipeline.BackfillConfig{
			APIURL: gh.URL, Repos: []string{backfillRepo}, Tokens: []string{backfillToken},
			// One pass in the measurement: the next would only cost 304s.
			Interval:   time.Hour,
			HTTPClient: &http.Client{Transport: first, Timeout: time.Minute},
		},
	})
	if err != nil {
		return res, fmt.Errorf("backfill pipeline: %w", err)
	}
	defer node.Shutdown(context.Background())

	var start time.Time
	select {
	case start = <-first.at:
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(time.Minute):
		return res, fmt.Errorf("backfill pipeline: the node made no request to the API within a minute")
	}
	want := s.items()
	lastLog, last, lastChange := time.Now(), -1, time.Now()
	for {
		byType, err := repoRIDs(node)
		if err != nil {
			return res, fmt.Errorf("backfill pipeline: count RIDs: %w", err)
		}
		n := byType.total()
		if n >= want {
			res.elapsed, res.items = time.Since(start), n
			break
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) >= backfillStall {
			return res, fmt.Errorf("backfill pipeline: %d of %d items in the cache and none for %s (%v)", n, want, backfillStall, byType)
		}
		if time.Since(lastLog) >= 5*time.Second {
			log.Info("backfill: waiting for the items in the cache", "have", n, "want", want)
			lastLog = time.Now()
		}
		time.Sleep(backfillPoll)
	}
	drained, err := waitDrained(ctx, node, drainPoll, log, "backfill")
	if err != nil {
		return res, err
	}
	res.drained = drained.Sub(start)
	byType, err := repoRIDs(node)
	if err != nil {
		return res, fmt.Errorf("backfill pipeline: count RIDs: %w", err)
	}
	res.items = byType.total()
	res.requests = len(gh.Requests())
	return res, nil
}

// ridCounts counts RIDs by type.
type ridCounts map[string]int

func (c ridCounts) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// repoRIDs counts the RIDs of the measured repository in node's cache, by
// type.
func repoRIDs(node *pipeline.Node) (ridCounts, error) {
	out := ridCounts{}
	for _, typ := range []string{github.TypeRepo, github.TypeIssue, github.TypePR, github.TypeCommit} {
		rids, err := node.Cache().RIDs([]string{typ})
		if err != nil {
			return nil, err
		}
		for _, rid := range rids {
			if rid == github.RepoRID(backfillRepo) || strings.HasPrefix(rid, typ+":"+backfillRepo+":") {
				out[typ]++
			}
		}
	}
	return out, nil
}
