// Package fakegithub is an honest fake of the GitHub REST API for tests and
// benchmarks: a real HTTP server on 127.0.0.1:0 that serves generated
// repositories (repository, issues and pull requests, commits, events, hook
// deliveries) with the behaviour GitHub documents and a backfill must cope
// with (../shared/github/GITHUB-API.md): strong and weak ETags that change
// with the contents and are compared byte for byte, Last-Modified and
// If-Modified-Since, free 304s, Link pagination whose later pages use
// /repositories/{id}/... URLs, per-token x-ratelimit-* headers with a
// primary limit, secondary limits with and without Retry-After, injected
// 5xx, the Events API's 300-event / 30-day window and X-Poll-Interval, and
// webhook redelivery that re-POSTs the stored body signed like GitHub does.
// Every request is logged with its conditional headers and token so tests
// can assert what a client spent.
package fakegithub

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"
)

// NowFunc is the time source of a Server: *Clock satisfies it.
type NowFunc interface{ Now() time.Time }

// Options configure a Server. The zero value is usable.
type Options struct {
	// Clock is the server's time: rate-limit windows, mutation times and
	// the Events window read it. Default: the system clock.
	Clock NowFunc
	// Tokens, when set, are the only credentials accepted (others get 401
	// "Bad credentials"); when empty any non-empty token is accepted.
	Tokens []string
	// Limit is each token's primary budget per hour. Default 5000.
	Limit int
	// PrimaryStatus is the status of a primary-limit answer, 403 (the
	// default) or 429: GitHub uses both.
	PrimaryStatus int
	// PollInterval is the Events API's X-Poll-Interval in seconds.
	// Default 60.
	PollInterval int
	// WebhookURL, when set, is where a redelivery re-POSTs the stored
	// delivery body (with X-GitHub-Event, the same X-GitHub-Delivery and
	// X-Hub-Signature-256 over WebhookSecret).
	WebhookURL string
	// WebhookSecret is the HMAC secret of redeliveries.
	WebhookSecret string
}

// Request is one logged request.
type Request struct {
	// Method and URI (path and query as sent) of the request.
	Method, URI string
	// Token is the credential sent, without its scheme; empty when none.
	Token string
	// IfNoneMatch and IfModifiedSince are the conditional headers as sent.
	IfNoneMatch, IfModifiedSince string
	// Status is the status answered.
	Status int
}

// Conditional reports whether the request carried a conditional header.
func (r Request) Conditional() bool { return r.IfNoneMatch != "" || r.IfModifiedSince != "" }

// Fault is an injected answer: the next Times requests matching Method (any
// when empty), a path containing PathContains (any when empty) and Token
// (any when empty) get Status with Headers and Body instead of their real
// answer, in the order faults were added. Faults cost no quota.
type Fault struct {
	Method, PathContains, Token string
	Times                       int
	Status                      int
	Headers                     map[string]string
	Body                        string
}

type quota struct {
	used  int
	reset time.Time
}

// Server is a running fake GitHub API. Its methods are safe for concurrent
// use with the requests it serves.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port (no trailing
	// slash): a client's API URL.
	URL string

	opts  Options
	srv   *httptest.Server
	clock NowFunc

	mu          sync.Mutex
	repos       map[string]*repo // by lower-cased full name
	byID        map[int64]*repo
	quotas      map[string]*quota
	faults      []*Fault
	log         []Request
	redelivered []string
	nextDelID   int64
	hooks       []*hook
}

// hook is a test's action to run after a number of matching requests
// (see AfterRequests).
type hook struct {
	pathContains string
	left         int
	run          func()
}

// New starts a Server on 127.0.0.1:0. Close it when done.
func New(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Limit == 0 {
		opts.Limit = 5000
	}
	if opts.PrimaryStatus == 0 {
		opts.PrimaryStatus = http.StatusForbidden
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 60
	}
	s := &Server{
		opts: opts, clock: opts.Clock, repos: map[string]*repo{}, byID: map[int64]*repo{},
		quotas: map[string]*quota{}, nextDelID: 1,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddRepo adds a generated repository (see RepoSpec) and returns its id.
func (s *Server) AddRepo(spec RepoSpec) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if spec.ID == 0 {
		spec.ID = 1000 + int64(len(s.repos))
	}
	r := newRepo(spec, s.clock.Now())
	s.repos[strings.ToLower(r.fullName())] = r
	s.byID[r.id] = r
	return r.id
}

func (s *Server) repo(full string) *repo {
	r := s.repos[strings.ToLower(full)]
	if r == nil {
		panic("fakegithub: no repository " + full)
	}
	return r
}

func (s *Server) now() time.Time { return s.clock.Now().UTC().Truncate(time.Second) }

// EditIssue changes the title of issue or pull request number n of
// repository full: its updated_at becomes the clock's time, so its ETags,
// its place in updated-sorted lists and the lists' ETags change. It panics
// when the repository or issue does not exist.
func (s *Server) EditIssue(full string, n int, title string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.repo(full).issues[n-1]
	is.title = title
	is.updated = s.now()
}

// AddIssue adds an issue (or a pull request when pr) created and updated
// at the clock's time, and returns its number.
func (s *Server) AddIssue(full, title string, pr bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(full)
	n := len(r.issues) + 1
	now := s.now()
	r.open++
	r.issues = append(r.issues, &issue{
		number: n, title: title, body: "", state: "open", created: now, updated: now, pr: pr,
		user: "user0", labels: []string{}, headSHA: sha(r.fullName(), "head", n),
	})
	return n
}

// AddCommit pushes a commit dated at the clock's time onto the default
// branch and returns its SHA.
func (s *Server) AddCommit(full, message string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(full)
	c := &commit{sha: sha(r.fullName(), "commit", len(r.commits)+1, message), message: message, date: s.now()}
	if len(r.commits) > 0 {
		c.parent = r.commits[len(r.commits)-1].sha
	}
	r.commits = append(r.commits, c)
	r.pushed = c.date
	return c.sha
}

// AddEvent appends an event of type typ created at the clock's time.
func (s *Server) AddEvent(full, typ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(full)
	r.events = append(r.events, &event{id: r.id*1_000_000 + int64(len(r.events)+1), typ: typ, created: s.now()})
}

// EditRepo changes the repository's description; its updated_at becomes
// the clock's time.
func (s *Server) EditRepo(full, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(full)
	r.description = description
	r.updated = s.now()
}

// CommitSHAs returns the default branch's commit SHAs, oldest first.
func (s *Server) CommitSHAs(full string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.repo(full).commits {
		out = append(out, c.sha)
	}
	return out
}

// AfterRequests runs f once, when the n-th request from now whose path
// and query contain pathContains (any request when empty) has been
// answered: the answer is decided and logged but not yet sent, so the
// client has not seen it and whatever it asks next is answered after f's
// changes. That is how a test acts between two requests of one client (an
// edit between two pages of a walk, say). f runs without the server's lock
// held and may call the Server's methods; the answer it follows is not
// changed by it. Hooks match in the order they were added, each request
// counting for every hook it matches. n < 1 counts as 1.
func (s *Server) AfterRequests(pathContains string, n int, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, &hook{pathContains: pathContains, left: max(n, 1), run: f})
}

// dueHooks counts uri against every hook and returns, in order, those now
// due (removing them). It is called under the lock.
func (s *Server) dueHooks(uri string) []func() {
	var due []func()
	kept := s.hooks[:0]
	for _, h := range s.hooks {
		if strings.Contains(uri, h.pathContains) {
			if h.left--; h.left == 0 {
				due = append(due, h.run)
				continue
			}
		}
		kept = append(kept, h)
	}
	clear(s.hooks[len(kept):])
	s.hooks = kept
	return due
}

// Inject adds a fault (see Fault).
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := f
	s.faults = append(s.faults, &c)
}

// FailNext answers the next times requests with status (a 5xx, say) and a
// GitHub-shaped error body.
func (s *Server) FailNext(times, status int) {
	s.Inject(Fault{Times: times, Status: status, Body: `{"message":"Server Error"}`})
}

// SecondaryBody is the body of a secondary-rate-limit answer, as GitHub
// sends it.
const SecondaryBody = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`

// SecondaryLimit answers the next times requests with a secondary limit:
// status (403 or 429), the secondary-limit body, and Retry-After:
// retryAfter when it is not empty (when it is, the body is the only sign,
// which GitHub's docs answer with "wait at least one minute").
func (s *Server) SecondaryLimit(times, status int, retryAfter string) {
	h := map[string]string{}
	if retryAfter != "" {
		h["Retry-After"] = retryAfter
	}
	s.Inject(Fault{Times: times, Status: status, Headers: h, Body: SecondaryBody})
}

// SetRemaining sets token's remaining primary quota in the current window
// (0 makes its next requests hit the primary limit until the reset).
func (s *Server) SetRemaining(token string, remaining int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.quota(token)
	q.used = s.opts.Limit - remaining
}

// Remaining returns token's remaining primary quota.
func (s *Server) Remaining(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Limit - s.quota(token).used
}

// ResetAt returns when token's current rate-limit window ends.
func (s *Server) ResetAt(token string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quota(token).reset
}

func (s *Server) quota(token string) *quota {
	now := s.clock.Now()
	q := s.quotas[token]
	if q == nil || !now.Before(q.reset) {
		q = &quota{reset: now.Add(time.Hour).Truncate(time.Second)}
		s.quotas[token] = q
	}
	return q
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// CountByToken returns how many requests each token made since the log was
// last reset.
func (s *Server) CountByToken() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, r := range s.log {
		out[r.Token]++
	}
	return out
}

// Redelivered returns the GUIDs redelivered so far, in order.
func (s *Server) Redelivered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.redelivered...)
}

// Delivery is a stored webhook delivery.
type Delivery struct {
	// GUID is the X-GitHub-Delivery value. Required.
	GUID string
	// Event and Action name the webhook event.
	Event, Action string
	// StatusCode is the status the receiver answered; 400-599 (or 0, no
	// answer) is a failure.
	StatusCode int
	// DeliveredAt is when it was delivered. Default: the clock's time.
	DeliveredAt time.Time
	// Body is the payload, re-POSTed on redelivery.
	Body []byte
}

// AddDelivery stores a delivery of hook hookID of repository full (adding
// the hook when new) and returns the delivery's id.
func (s *Server) AddDelivery(full string, hookID int64, d Delivery) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(full)
	if !containsID(r.hooks, hookID) {
		r.hooks = append(r.hooks, hookID)
		sort.Slice(r.hooks, func(i, j int) bool { return r.hooks[i] < r.hooks[j] })
	}
	at := d.DeliveredAt
	if at.IsZero() {
		at = s.now()
	}
	id := s.nextDelID
	s.nextDelID++
	r.deliveries = append(r.deliveries, &delivery{
		id: id, guid: d.GUID, event: d.Event, action: d.Action, statusCode: d.StatusCode,
		deliveredAt: at.UTC(), body: d.Body, hookID: hookID,
	})
	return id
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// RepoJSON returns repository full as GET /repos/{o}/{r} serves it, for
// tests that build a webhook payload showing the same state.
func (s *Server) RepoJSON(full string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return mustJSON(s.repoJSON(s.repo(full)))
}

// IssueJSON returns issue (or pull request) n of repository full as GET
// .../issues/{n} serves it: the "issue" of an issues webhook payload.
func (s *Server) IssueJSON(full string, n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(full)
	return mustJSON(s.issueJSON(r, r.issues[n-1]))
}

// PullJSON returns pull request n of repository full as GET .../pulls/{n}
// serves it: the "pull_request" of a pull_request webhook payload.
func (s *Server) PullJSON(full string, n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(full)
	return mustJSON(s.pullJSON(r, r.issues[n-1], true))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
