package fakegithub

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// answer is a response being built under the lock.
type answer struct {
	status       int
	body         []byte
	etag         string
	lastModified time.Time
	headers      http.Header
	// after runs once the lock is released (a redelivery's POST).
	after func()
}

func jsonAnswer(status int, v any) *answer {
	b, _ := json.Marshal(v)
	return &answer{status: status, body: b, headers: http.Header{}}
}

func errAnswer(status int, msg string) *answer {
	return jsonAnswer(status, obj{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || tok == "" {
		return "", false
	}
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		return strings.TrimSpace(tok), true
	}
	return "", false
}

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	entry := Request{
		Method: req.Method, URI: req.URL.RequestURI(),
		IfNoneMatch: req.Header.Get("If-None-Match"), IfModifiedSince: req.Header.Get("If-Modified-Since"),
	}
	a, token := s.handle(req, &entry)
	entry.Status = a.status
	s.log = append(s.log, entry)
	due := s.dueHooks(entry.URI)
	h := w.Header()
	for k, vs := range a.headers {
		h[k] = vs
	}
	if token != "" {
		q := s.quota(token)
		h.Set("X-Ratelimit-Limit", strconv.Itoa(s.opts.Limit))
		h.Set("X-Ratelimit-Remaining", strconv.Itoa(max(0, s.opts.Limit-q.used)))
		h.Set("X-Ratelimit-Used", strconv.Itoa(q.used))
		h.Set("X-Ratelimit-Reset", strconv.FormatInt(q.reset.Unix(), 10))
		h.Set("X-Ratelimit-Resource", "core")
	}
	s.mu.Unlock()
	if a.after != nil {
		a.after()
	}
	// A test's hooks run before the answer is written: the client cannot
	// send its next request before they are done.
	for _, f := range due {
		f()
	}
	if a.etag != "" {
		h.Set("ETag", a.etag)
	}
	if !a.lastModified.IsZero() {
		h.Set("Last-Modified", a.lastModified.UTC().Format(http.TimeFormat))
	}
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	if a.status == http.StatusNotModified {
		w.WriteHeader(a.status)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(a.status)
	w.Write(a.body)
}

// handle answers req under the lock and returns the token to report the
// quota of ("" when none was accepted).
func (s *Server) handle(req *http.Request, entry *Request) (*answer, string) {
	token, ok := bearer(req.Header.Get("Authorization"))
	entry.Token = token
	if !ok {
		return errAnswer(http.StatusUnauthorized, "Requires authentication"), ""
	}
	if len(s.opts.Tokens) > 0 && !containsString(s.opts.Tokens, token) {
		return errAnswer(http.StatusUnauthorized, "Bad credentials"), ""
	}
	for i, f := range s.faults {
		if f.Times <= 0 || (f.Method != "" && f.Method != req.Method) ||
			(f.PathContains != "" && !strings.Contains(req.URL.RequestURI(), f.PathContains)) ||
			(f.Token != "" && f.Token != token) {
			continue
		}
		f.Times--
		if f.Times == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		a := &answer{status: f.Status, body: []byte(f.Body), headers: http.Header{}}
		for k, v := range f.Headers {
			a.headers.Set(k, v)
		}
		return a, token
	}
	q := s.quota(token)
	if q.used >= s.opts.Limit {
		return jsonAnswer(s.opts.PrimaryStatus, obj{
			"message":           "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID 0000:0000.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
		}), token
	}
	a := s.route(req)
	if a.status == http.StatusOK && notModified(req, a) {
		// Free when authorized, as GitHub documents: no quota spent.
		return &answer{status: http.StatusNotModified, etag: a.etag, lastModified: a.lastModified, headers: a.headers}, token
	}
	q.used++
	return a, token
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// notModified applies If-None-Match (byte-for-byte comparison with each
// listed tag, as the client must echo the tag exactly) and, when absent,
// If-Modified-Since.
func notModified(req *http.Request, a *answer) bool {
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			if t = strings.TrimSpace(t); t == "*" || (a.etag != "" && t == a.etag) {
				return true
			}
		}
		return false
	}
	if ims := req.Header.Get("If-Modified-Since"); ims != "" && !a.lastModified.IsZero() {
		t, err := http.ParseTime(ims)
		return err == nil && !a.lastModified.Truncate(time.Second).After(t)
	}
	return false
}

func etagOf(body []byte, weak bool) string {
	h := sha256.Sum256(body)
	t := `"` + hex.EncodeToString(h[:16]) + `"`
	if weak {
		return "W/" + t
	}
	return t
}

// route finds the repository and the resource of req's path:
// /repos/{o}/{r}/... or /repositories/{id}/....
func (s *Server) route(req *http.Request) *answer {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	var r *repo
	var rest []string
	switch {
	case len(parts) >= 3 && parts[0] == "repos":
		r, rest = s.repos[strings.ToLower(parts[1]+"/"+parts[2])], parts[3:]
	case len(parts) >= 2 && parts[0] == "repositories":
		id, _ := strconv.ParseInt(parts[1], 10, 64)
		r, rest = s.byID[id], parts[2:]
	}
	if r == nil {
		return errAnswer(http.StatusNotFound, "Not Found")
	}
	get := req.Method == http.MethodGet || req.Method == http.MethodHead
	q := req.URL.Query()
	switch {
	case len(rest) == 0 && get:
		return s.single(s.repoJSON(r), r.updated)
	case len(rest) == 1 && rest[0] == "issues" && get:
		return s.listIssues(req, r, q)
	case len(rest) == 2 && rest[0] == "issues" && get:
		if is := r.issue(rest[1]); is != nil {
			return s.single(s.issueJSON(r, is), is.updated)
		}
	case len(rest) == 1 && rest[0] == "pulls" && get:
		return s.listPulls(req, r, q)
	case len(rest) == 2 && rest[0] == "pulls" && get:
		if is := r.issue(rest[1]); is != nil && is.pr {
			return s.single(s.pullJSON(r, is, true), is.updated)
		}
	case len(rest) == 1 && rest[0] == "commits" && get:
		return s.listCommits(req, r, q)
	case len(rest) == 2 && rest[0] == "commits" && get:
		for _, c := range r.commits {
			if c.sha == rest[1] || (len(rest[1]) >= 7 && strings.HasPrefix(c.sha, rest[1])) {
				return s.single(s.commitJSON(r, c, true), c.date)
			}
		}
		return errAnswer(http.StatusUnprocessableEntity, "No commit found for SHA: "+rest[1])
	case len(rest) == 1 && rest[0] == "events" && get:
		return s.listEvents(req, r, q)
	case len(rest) == 1 && rest[0] == "hooks" && get:
		return s.page(req, r, "hooks", q, len(r.hooks), func(i int) any { return s.hookJSON(r, r.hooks[i]) }, time.Time{})
	case len(rest) == 3 && rest[0] == "hooks" && rest[2] == "deliveries" && get:
		return s.listDeliveries(req, r, rest[1], q)
	case len(rest) == 4 && rest[0] == "hooks" && rest[2] == "deliveries" && get:
		hookID, _ := strconv.ParseInt(rest[1], 10, 64)
		did, _ := strconv.ParseInt(rest[3], 10, 64)
		for _, d := range r.deliveries {
			if d.id == did && d.hookID == hookID {
				o := s.deliveryJSON(r, d)
				o["request"] = obj{"headers": obj{"X-GitHub-Event": d.event, "X-GitHub-Delivery": d.guid}, "payload": json.RawMessage(orEmpty(d.body))}
				o["response"] = obj{"headers": obj{}, "payload": nil}
				return jsonAnswer(http.StatusOK, o)
			}
		}
	case len(rest) == 5 && rest[0] == "hooks" && rest[2] == "deliveries" && rest[4] == "attempts" && req.Method == http.MethodPost:
		return s.redeliver(r, rest[1], rest[3])
	}
	return errAnswer(http.StatusNotFound, "Not Found")
}

func (r *repo) issue(num string) *issue {
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > len(r.issues) {
		return nil
	}
	return r.issues[n-1]
}

func (s *Server) single(v obj, modified time.Time) *answer {
	a := jsonAnswer(http.StatusOK, v)
	a.etag = etagOf(a.body, false)
	a.lastModified = modified
	return a
}

func invalid(field, value string) *answer {
	return errAnswer(http.StatusUnprocessableEntity, fmt.Sprintf("Validation Failed: %s %q", field, value))
}

func parseSince(q url.Values, key string) (time.Time, bool, *answer) {
	v := q.Get(key)
	if v == "" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false, invalid(key, v)
	}
	return t, true, nil
}

func stateMatches(state string, is *issue) bool {
	return state == "all" || state == is.state
}

func (s *Server) listIssues(req *http.Request, r *repo, q url.Values) *answer {
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		return invalid("state", state)
	}
	since, hasSince, bad := parseSince(q, "since")
	if bad != nil {
		return bad
	}
	sel := []*issue{}
	for _, is := range r.issues {
		if stateMatches(state, is) && (!hasSince || !is.updated.Before(since)) {
			sel = append(sel, is)
		}
	}
	if a := sortIssues(sel, q, "desc"); a != nil {
		return a
	}
	return s.page(req, r, "issues", q, len(sel), func(i int) any { return s.issueJSON(r, sel[i]) }, newest(sel))
}

func newest(sel []*issue) time.Time {
	var t time.Time
	for _, is := range sel {
		if is.updated.After(t) {
			t = is.updated
		}
	}
	return t
}

// sortIssues orders by sort (created, the default, or updated) and
// direction; defDir is the direction when none is given.
func sortIssues(sel []*issue, q url.Values, defDir string) *answer {
	key := q.Get("sort")
	if key == "" {
		key = "created"
	}
	if key != "created" && key != "updated" {
		return invalid("sort", key)
	}
	dir := q.Get("direction")
	if dir == "" {
		dir = defDir
	}
	if dir != "asc" && dir != "desc" {
		return invalid("direction", dir)
	}
	at := func(is *issue) time.Time {
		if key == "updated" {
			return is.updated
		}
		return is.created
	}
	sort.SliceStable(sel, func(i, j int) bool {
		a, b := at(sel[i]), at(sel[j])
		if a.Equal(b) {
			a, b = time.Unix(int64(sel[i].number), 0), time.Unix(int64(sel[j].number), 0)
		}
		if dir == "asc" {
			return a.Before(b)
		}
		return b.Before(a)
	})
	return nil
}

func (s *Server) listPulls(req *http.Request, r *repo, q url.Values) *answer {
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		return invalid("state", state)
	}
	sel := []*issue{}
	for _, is := range r.issues {
		if is.pr && stateMatches(state, is) {
			sel = append(sel, is)
		}
	}
	// "Default: desc when sort is created or not specified, otherwise asc."
	def := "desc"
	if k := q.Get("sort"); k != "" && k != "created" {
		def = "asc"
	}
	if a := sortIssues(sel, q, def); a != nil {
		return a
	}
	return s.page(req, r, "pulls", q, len(sel), func(i int) any { return s.pullJSON(r, sel[i], false) }, newest(sel))
}

func (s *Server) listCommits(req *http.Request, r *repo, q url.Values) *answer {
	if ref := q.Get("sha"); ref != "" && ref != r.defaultBranch {
		found := false
		for _, c := range r.commits {
			found = found || c.sha == ref
		}
		if !found {
			return errAnswer(http.StatusNotFound, "Not Found")
		}
	}
	since, hasSince, bad := parseSince(q, "since")
	if bad != nil {
		return bad
	}
	until, hasUntil, bad := parseSince(q, "until")
	if bad != nil {
		return bad
	}
	if len(r.commits) == 0 {
		return errAnswer(http.StatusConflict, "Git Repository is empty.")
	}
	var sel []*commit
	latest := time.Time{}
	for i := len(r.commits) - 1; i >= 0; i-- { // newest first
		c := r.commits[i]
		if (hasSince && c.date.Before(since)) || (hasUntil && c.date.After(until)) {
			continue
		}
		sel = append(sel, c)
		if c.date.After(latest) {
			latest = c.date
		}
	}
	return s.page(req, r, "commits", q, len(sel), func(i int) any { return s.commitJSON(r, sel[i], false) }, latest)
}

func (s *Server) listEvents(req *http.Request, r *repo, q url.Values) *answer {
	window := s.clock.Now().Add(-30 * 24 * time.Hour)
	var sel []*event
	for i := len(r.events) - 1; i >= 0 && len(sel) < 300; i-- { // newest first
		if e := r.events[i]; !e.created.Before(window) {
			sel = append(sel, e)
		}
	}
	pp, page := perPage(q), pageNum(q)
	if (page-1)*pp >= 300 {
		return errAnswer(http.StatusUnprocessableEntity, "In order to keep the API fast for everyone, pagination is limited for this resource.")
	}
	a := s.page(req, r, "events", q, len(sel), func(i int) any { return s.eventJSON(r, sel[i]) }, time.Time{})
	a.headers.Set("X-Poll-Interval", strconv.Itoa(s.opts.PollInterval))
	return a
}

func perPage(q url.Values) int {
	pp, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || pp < 1 {
		return 30
	}
	return min(pp, 100)
}

func pageNum(q url.Values) int {
	p, err := strconv.Atoi(q.Get("page"))
	if err != nil || p < 1 {
		return 1
	}
	return p
}

// page answers one page of items with a Link header whose URLs name the
// repository by id (/repositories/{id}/...), as GitHub's do, and a weak
// ETag over the page's body.
func (s *Server) page(req *http.Request, r *repo, resource string, q url.Values, n int, render func(i int) any, latest time.Time) *answer {
	pp, page := perPage(q), pageNum(q)
	last := max(1, (n+pp-1)/pp)
	lo, hi := min((page-1)*pp, n), min(page*pp, n)
	// Render only the page: benchmarks list large repositories.
	items := make([]any, 0, hi-lo)
	for i := lo; i < hi; i++ {
		items = append(items, render(i))
	}
	a := jsonAnswer(http.StatusOK, items)
	a.etag = etagOf(a.body, true)
	a.lastModified = latest
	link := func(p int, rel string) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<%s/repositories/%d/%s?%s>; rel="%s"`, s.URL, r.id, resource, v.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		a.headers.Set("Link", strings.Join(links, ", "))
	}
	return a
}

func (s *Server) listDeliveries(req *http.Request, r *repo, hook string, q url.Values) *answer {
	hookID, _ := strconv.ParseInt(hook, 10, 64)
	if !containsID(r.hooks, hookID) {
		return errAnswer(http.StatusNotFound, "Not Found")
	}
	status := q.Get("status")
	if status != "" && status != "success" && status != "failure" {
		return invalid("status", status)
	}
	after := int64(1 << 62)
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(c, "v1_"), 10, 64)
		if err != nil {
			return invalid("cursor", c)
		}
		after = n
	}
	pp := perPage(q)
	items := []any{}
	var lastID int64
	more := false
	for i := len(r.deliveries) - 1; i >= 0; i-- { // newest first
		d := r.deliveries[i]
		failed := d.statusCode == 0 || d.statusCode >= 400
		if d.hookID != hookID || d.id >= after || (status == "failure" && !failed) || (status == "success" && failed) {
			continue
		}
		if len(items) == pp {
			more = true
			break
		}
		items = append(items, s.deliveryJSON(r, d))
		lastID = d.id
	}
	a := jsonAnswer(http.StatusOK, items)
	a.etag = etagOf(a.body, true)
	if more {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("cursor", "v1_"+strconv.FormatInt(lastID, 10))
		a.headers.Set("Link", fmt.Sprintf(`<%s/repos/%s/hooks/%d/deliveries?%s>; rel="next"`, s.URL, r.fullName(), hookID, v.Encode()))
	}
	return a
}

// redeliver answers POST .../deliveries/{id}/attempts with 202, records a
// new attempt of the same GUID and, when a webhook URL is configured,
// re-POSTs the stored body there (after the lock is released).
func (s *Server) redeliver(r *repo, hook, id string) *answer {
	hookID, _ := strconv.ParseInt(hook, 10, 64)
	did, _ := strconv.ParseInt(id, 10, 64)
	var d *delivery
	for _, x := range r.deliveries {
		if x.id == did && x.hookID == hookID {
			d = x
		}
	}
	if d == nil {
		return errAnswer(http.StatusNotFound, "Not Found")
	}
	s.redelivered = append(s.redelivered, d.guid)
	nd := &delivery{
		id: s.nextDelID, guid: d.guid, event: d.event, action: d.action, statusCode: 200,
		deliveredAt: s.now(), redelivery: true, body: d.body, hookID: hookID,
	}
	s.nextDelID++
	r.deliveries = append(r.deliveries, nd)
	a := jsonAnswer(http.StatusAccepted, obj{})
	if target := s.opts.WebhookURL; target != "" {
		secret := s.opts.WebhookSecret
		a.after = func() {
			code := post(target, secret, hookID, nd)
			s.mu.Lock()
			nd.statusCode = code
			s.mu.Unlock()
		}
	}
	return a
}

func orEmpty(b []byte) []byte {
	if !json.Valid(b) {
		return []byte("null")
	}
	return b
}

// Sign returns the X-Hub-Signature-256 value of body under secret:
// "sha256=" and the hex HMAC-SHA256 of the raw bytes.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func post(target, secret string, hookID int64, d *delivery) int {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(d.body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/fake")
	req.Header.Set("X-GitHub-Event", d.event)
	req.Header.Set("X-GitHub-Delivery", d.guid)
	req.Header.Set("X-GitHub-Hook-ID", strconv.FormatInt(hookID, 10))
	req.Header.Set("X-Hub-Signature-256", Sign(secret, d.body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
