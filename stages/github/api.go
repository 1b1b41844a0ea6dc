package github

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/koistream/koistream/topics/githubapi"
	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

// ErrBadAPIResponse is wrapped by every error ParseAPI returns: the record
// is not a github-api record (then the error also wraps
// topics/githubapi.ErrInvalid) or its body is not the JSON GitHub's REST API
// returns for its resource. Such errors are permanent: the same record
// always fails the same way, and the normalize stage sends it to the dead
// topic.
var ErrBadAPIResponse = errors.New("github: bad API response")

// MaxPageItems is the most items ParseAPI accepts in one page of a list
// (issues, pulls, commits, events): GitHub's largest per_page. A longer
// array is not a GitHub page, and refusing it before decoding bounds the
// work and memory one record can cost.
const MaxPageItems = 100

// maxAPIDepth bounds the nesting of a response's objects and arrays, checked
// before decoding so that no input can exhaust the decoder's stack. GitHub's
// deepest objects (a pull request's head.repo.owner, a commit's
// verification) nest less than ten deep.
const maxAPIDepth = 64

// ParseAPI is the normalize stage's parser of raw records of source kind
// topics/githubapi.SourceKind: one GitHub REST API response as the backfill
// fetched it (topics/githubapi.Parse reads its headers). It returns the
// same entity observations the webhook path (Normalize) makes for the same
// entities: the same RIDs, routing, paths and Ops, and contents built by the
// same writer (contents.go) from the REST representation, so that the same
// state seen both ways is byte-identical and hashes the same, and
// backfilling what webhooks already delivered emits nothing new. Per
// resource (topics/githubapi.Resource*), in body order:
//
//   - repo: one orn:github.repo observation;
//   - issue, issues: one orn:github.issue observation per issue. Items
//     with a pull_request member are pull requests seen through the issues
//     endpoint, which lacks a pull request's head, base, merged and
//     merge_commit_sha: they produce nothing (the pulls resource brings
//     them), as issue_comment deliveries on pull requests do on the webhook
//     path, so they can never mint an issue or pull request observation that
//     hashes differently from the webhook and pulls views;
//   - pull, pulls: one orn:github.pr observation per pull request. The list
//     endpoint omits merged; it is then derived from merged_at (true when
//     merged_at is a timestamp, false when null), which is what GitHub's
//     merged always equals, so a page and a delivery agree;
//   - commit, commits: one orn:github.commit observation per commit, with
//     sha, commit.message, commit.author and commit.committer (name and
//     email), html_url, and commit.author.date as the canonical timestamp
//     (the author date: what a push delivery's commits[].timestamp carries,
//     with the author's offset, and what GitHub shows as the commit's date);
//   - events: nothing. The feed is the backfill's change signal; its ids
//     are Events-API ids, not webhook delivery GUIDs, so event RIDs made
//     from them would duplicate the events webhooks deliver under other
//     ids, and its payloads are abridged (GITHUB-API.md 0.2), so entities
//     taken from them would hash differently. The page is still checked:
//     an array of at most MaxPageItems objects, each with a non-empty
//     string id and type.
//
// Entity observations are upserts, not immutable, routed ent.repo,
// ent.issue, ent.pr and ent.commit, with the webhook path's stream paths.
// The <owner>/<repo> of an RID is the repository as GitHub spells it in the
// object itself: the repository's full_name, or the /repos/<owner>/<repo>/
// part of an issue's, pull request's or commit's API url (whose last two
// segments must be the endpoint and the object's number or sha). Only an
// object without url falls back to the record's repository header, which
// is the name as configured and may differ in case, or be an old name
// after a rename, from what webhooks carry.
//
// Where it came from (source kind, source key, receive time, raw position)
// is the normalize stage's to fill in. The Contents of one call's
// observations share one backing array, each capped at its own length;
// treat them as read-only. No Contents aliases rec.Body, which ParseAPI
// neither modifies nor retains.
//
// A body that is not one JSON value of the resource's shape (an object for
// repo, issue, pull and commit; an array of objects for the lists), a list
// of more than MaxPageItems items, nesting deeper than GitHub's objects, a
// repository without a usable full_name, an issue or pull request without
// a positive number, a commit without a full hex sha, an API url naming
// another object, or a member of the wrong JSON type is an error wrapping
// ErrBadAPIResponse, never a panic, and nothing is returned with it. The
// same record always yields byte-identical observations. The context is not
// used: parsing does no I/O. Safe for concurrent use.
func ParseAPI(_ context.Context, rec raw.Record) ([]observed.Observation, error) {
	in, err := githubapi.Parse(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAPIResponse, err)
	}
	n := apiNormalizer{in: &in, w: writer{bad: &badResponse{resource: in.Resource, url: in.URL}}}
	if err := n.run(); err != nil {
		return nil, err
	}
	return n.finish(), nil
}

// The REST representations ParseAPI reads, as far as the canonical field
// sets need them. Issues and pull requests are the webhook wire structs
// (the webhook objects are the REST representations) plus their API url.

type apiIssue struct {
	issueWire
	URL json.RawMessage `json:"url"`
}

type apiPull struct {
	pullRequestWire
	URL json.RawMessage `json:"url"`
}

type apiCommit struct {
	SHA     string          `json:"sha"`
	URL     json.RawMessage `json:"url"`
	HTMLURL json.RawMessage `json:"html_url"`
	Commit  *struct {
		Message   json.RawMessage `json:"message"`
		Author    *apiPerson      `json:"author"`
		Committer *apiPerson      `json:"committer"`
	} `json:"commit"`
}

// apiPerson is a git author or committer of the REST commit object.
type apiPerson struct {
	Name  json.RawMessage `json:"name"`
	Email json.RawMessage `json:"email"`
	Date  json.RawMessage `json:"date"`
}

type apiEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// apiEntity records where one entity observation's contents lie in the
// shared buffer, and its repository.
type apiEntity struct {
	entity
	fullName string
}

// apiNormalizer carries the state of one ParseAPI call.
type apiNormalizer struct {
	in   *githubapi.Input
	ents []apiEntity
	w    writer
}

// run parses the body according to the record's resource.
func (n *apiNormalizer) run() error {
	res := n.in.Resource
	switch res {
	case githubapi.ResourceRepo:
		var r repoWire
		if err := n.decode(&r, false); err != nil {
			return err
		}
		if !isFullName(r.FullName) {
			return n.errorf("repository full_name %q is not <owner>/<repo>", truncate(r.FullName, 100))
		}
		n.w.b = make([]byte, 0, 512)
		n.w.at(res, -1)
		start := len(n.w.b)
		n.w.repoContents(&r)
		n.add(r.FullName, RepoRID(r.FullName), routingRepo, start)
	case githubapi.ResourceIssue, githubapi.ResourceIssues:
		items, err := decodeItems[apiIssue](n, res == githubapi.ResourceIssues)
		if err != nil {
			return err
		}
		n.w.b = make([]byte, 0, 768*len(items))
		for i := range items {
			n.issue(&items[i], n.index(i))
		}
	case githubapi.ResourcePull, githubapi.ResourcePulls:
		items, err := decodeItems[apiPull](n, res == githubapi.ResourcePulls)
		if err != nil {
			return err
		}
		n.w.b = make([]byte, 0, 1024*len(items))
		for i := range items {
			n.pull(&items[i], n.index(i))
		}
	case githubapi.ResourceCommit, githubapi.ResourceCommits:
		items, err := decodeItems[apiCommit](n, res == githubapi.ResourceCommits)
		if err != nil {
			return err
		}
		n.w.b = make([]byte, 0, 512*len(items))
		for i := range items {
			n.commit(&items[i], n.index(i))
		}
	case githubapi.ResourceEvents:
		var items []apiEvent
		if err := n.decode(&items, true); err != nil {
			return err
		}
		for i := range items {
			if items[i].ID == "" || items[i].Type == "" {
				return n.errorf("%s.%d: an event needs a non-empty string id and type", res, i)
			}
		}
	default: // githubapi.Parse accepts only the resources above
		return n.errorf("resource %q has no parser", truncate(res, 80))
	}
	return n.w.err
}

// index is the index error paths name for item i: -1 for a resource that
// is one object rather than a page.
func (n *apiNormalizer) index(i int) int {
	switch n.in.Resource {
	case githubapi.ResourceIssues, githubapi.ResourcePulls, githubapi.ResourceCommits:
		return i
	}
	return -1
}

// badResponse is the error every error about one response wraps: it is
// ErrBadAPIResponse, and says which response it is about.
type badResponse struct{ resource, url string }

func (e *badResponse) Error() string {
	return ErrBadAPIResponse.Error() + " (" + e.resource + " " + truncate(e.url, 200) + ")"
}

func (e *badResponse) Unwrap() error { return ErrBadAPIResponse }

func (n *apiNormalizer) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", n.w.bad, fmt.Sprintf(format, args...))
}

// decodeItems decodes a page into its items, or one object (page false)
// as the only item.
func decodeItems[T any](n *apiNormalizer, page bool) ([]T, error) {
	if page {
		var items []T
		err := n.decode(&items, true)
		return items, err
	}
	items := make([]T, 1)
	return items, n.decode(&items[0], false)
}

// decode checks the body's shape (one object, or an array of at most
// MaxPageItems objects; nesting; nothing after the value) with a scan that
// allocates nothing, then decodes it into v in the one parse of the record.
func (n *apiNormalizer) decode(v any, page bool) error {
	body := n.in.Body
	i := jsonscan.SkipSpace(body, 0)
	if i >= len(body) {
		return n.errorf("body is only whitespace")
	}
	var end int
	if page {
		if body[i] != '[' {
			return n.errorf("want a JSON array (a page), got %s", startKind(body[i:]))
		}
		items := 0
		i = jsonscan.SkipSpace(body, i+1)
		for i < len(body) && body[i] != ']' {
			if items == MaxPageItems {
				return n.errorf("more than %d items: not a GitHub page", MaxPageItems)
			}
			if body[i] != '{' {
				return n.errorf("%s.%d: want an object, got %s", n.in.Resource, items, startKind(body[i:]))
			}
			e, err := jsonscan.ValueEnd(body, i, maxAPIDepth)
			if err != nil {
				return n.errorf("%s.%d: %v", n.in.Resource, items, depthError(err))
			}
			items++
			i = jsonscan.SkipSpace(body, e)
			if i < len(body) && body[i] == ',' {
				i = jsonscan.SkipSpace(body, i+1)
				if i < len(body) && body[i] == ']' {
					return n.errorf("%s.%d: trailing comma", n.in.Resource, items)
				}
			} else if i >= len(body) || body[i] != ']' {
				return n.errorf("%s.%d: want ',' or ']' after the item", n.in.Resource, items-1)
			}
		}
		if i >= len(body) {
			return n.errorf("unterminated array")
		}
		end = i + 1
	} else {
		if body[i] != '{' {
			return n.errorf("want a JSON object, got %s", startKind(body[i:]))
		}
		e, err := jsonscan.ValueEnd(body, i, maxAPIDepth)
		if err != nil {
			return n.errorf("%v", depthError(err))
		}
		end = e
	}
	if jsonscan.SkipSpace(body, end) != len(body) {
		return n.errorf("data after the JSON value")
	}
	if _, err := json.Parse(body[:end], v, parseFlags); err != nil {
		return decodeErrorAs(n.w.bad, n.in.Resource, err)
	}
	return nil
}

// depthError says how deep is too deep when err is the scanner's.
func depthError(err error) error {
	if errors.Is(err, jsonscan.ErrTooDeep) {
		return fmt.Errorf("nested more than %d deep", maxAPIDepth)
	}
	return err
}

// startKind names what a body or item starts with, for errors about a
// wrong shape; bytes that cannot start JSON are quoted (an HTML error page
// gives `not JSON (starts with "<")`).
func startKind(b []byte) string {
	switch b[0] {
	case '"', 't', 'f', 'n', '{', '[', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return kindOf(b[:min(len(b), 40)])
	}
	return fmt.Sprintf("not JSON (starts with %q)", truncate(string(b[:min(len(b), 8)]), 8))
}

// objectRepo returns the <owner>/<repo> of an issue, pull request or
// commit: the /repos/<owner>/<repo>/<endpoint>/<id> tail of its API url,
// whose <id> must be id, or the record's repository when the object has no
// url.
func (n *apiNormalizer) objectRepo(rawURL []byte, endpoint, id string) (string, error) {
	if isNull(rawURL) {
		if !isFullName(n.in.Repo) {
			return "", n.w.apiErr("url", fmt.Sprintf("absent, and the record's repository %q is not usable in an RID", truncate(n.in.Repo, 100)))
		}
		return n.in.Repo, nil
	}
	s, ok := rawString(rawURL)
	if !ok {
		return "", n.w.apiErr("url", "want string or null, got "+kindOf(rawURL))
	}
	p := s
	if k := strings.Index(p, "://"); k >= 0 {
		p = p[k+3:]
	}
	if k := strings.IndexAny(p, "?#"); k >= 0 {
		p = p[:k]
	}
	// From the end: <id>, <endpoint>, <repo>, <owner>, "repos".
	var seg [5]string
	for k := range seg {
		j := strings.LastIndexByte(p, '/')
		if j < 0 {
			return "", n.w.apiErr("url", fmt.Sprintf("%q does not end in /repos/<owner>/<repo>/%s/%s", truncate(s, 200), endpoint, id))
		}
		seg[k], p = p[j+1:], p[:j]
	}
	fullName := seg[3] + "/" + seg[2]
	if seg[4] != "repos" || seg[1] != endpoint || seg[0] != id || !isFullName(fullName) {
		return "", n.w.apiErr("url", fmt.Sprintf("%q does not end in /repos/<owner>/<repo>/%s/%s", truncate(s, 200), endpoint, id))
	}
	return fullName, nil
}

// apiErr returns the error for member name of the current object.
func (w *writer) apiErr(name, msg string) error {
	return fmt.Errorf("%w: %s: %s", w.sentinel(), w.path(name), msg)
}

// issue adds the observation of one REST issue, none for a pull request.
func (n *apiNormalizer) issue(is *apiIssue, idx int) {
	w := &n.w
	if w.err != nil || !isNull(is.PullRequest) {
		return
	}
	w.at(n.in.Resource, idx)
	if is.Number <= 0 {
		w.err = w.apiErr("number", fmt.Sprintf("%d is not positive", is.Number))
		return
	}
	fullName, err := n.objectRepo(is.URL, "issues", strconv.FormatInt(is.Number, 10))
	if err != nil {
		w.err = err
		return
	}
	start := len(w.b)
	w.issueContents(&is.issueWire)
	n.add(fullName, IssueRID(fullName, is.Number), routingIssue, start)
}

// Literal JSON booleans for a derived merged.
var (
	jsonTrue  = json.RawMessage("true")
	jsonFalse = json.RawMessage("false")
)

// pull adds the observation of one REST pull request.
func (n *apiNormalizer) pull(pr *apiPull, idx int) {
	w := &n.w
	if w.err != nil {
		return
	}
	w.at(n.in.Resource, idx)
	if pr.Number <= 0 {
		w.err = w.apiErr("number", fmt.Sprintf("%d is not positive", pr.Number))
		return
	}
	fullName, err := n.objectRepo(pr.URL, "pulls", strconv.FormatInt(pr.Number, 10))
	if err != nil {
		w.err = err
		return
	}
	// The list endpoint omits merged (absent, not null): derive it from
	// merged_at as GitHub sets it. Without merged_at either it stays
	// absent and is written as null, as the webhook path would.
	if len(pr.Merged) == 0 && len(pr.MergedAt) != 0 {
		pr.Merged = jsonTrue // a merged_at that is no timestamp fails in the writer
		if isNull(pr.MergedAt) {
			pr.Merged = jsonFalse
		}
	}
	start := len(w.b)
	w.pullRequestContents(&pr.pullRequestWire)
	n.add(fullName, PRRID(fullName, pr.Number), routingPR, start)
}

// commit adds the observation of one REST commit, mapped to the push
// payload's commit shape.
func (n *apiNormalizer) commit(c *apiCommit, idx int) {
	w := &n.w
	if w.err != nil {
		return
	}
	w.at(n.in.Resource, idx)
	if !isSHA(c.SHA) {
		w.err = w.apiErr("sha", fmt.Sprintf("%q is not a full lowercase hex commit sha", truncate(c.SHA, 80)))
		return
	}
	fullName, err := n.objectRepo(c.URL, "commits", c.SHA)
	if err != nil {
		w.err = err
		return
	}
	cw := commitWire{ID: c.SHA, URL: c.HTMLURL}
	if c.Commit != nil {
		cw.Message = c.Commit.Message
		if a := c.Commit.Author; a != nil {
			cw.Author = &personWire{Name: a.Name, Email: a.Email}
			cw.Timestamp = a.Date
		}
		if cm := c.Commit.Committer; cm != nil {
			cw.Committer = &personWire{Name: cm.Name, Email: cm.Email}
		}
	}
	start := len(w.b)
	w.commitContents(&cw)
	n.add(fullName, CommitRID(fullName, c.SHA), routingCommit, start)
}

// add records the entity whose contents were written from start on.
func (n *apiNormalizer) add(fullName, rid, routing string, start int) {
	n.ents = append(n.ents, apiEntity{
		entity:   entity{rid: rid, routing: routing, op: observed.OpUpsert, start: start, end: len(n.w.b)},
		fullName: fullName,
	})
}

// finish slices the entity buffer into the observations.
func (n *apiNormalizer) finish() []observed.Observation {
	if len(n.ents) == 0 {
		return nil
	}
	b := n.w.b
	obs := make([]observed.Observation, len(n.ents))
	for i, e := range n.ents {
		obs[i] = observed.Observation{
			RID: e.rid, Op: e.op, Routing: e.routing, Path: entityPath(e.fullName, e.routing),
			Contents: b[e.start:e.end:e.end],
		}
	}
	return obs
}
