package amqpsink

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/koistream/koistream/topics/events"
	"github.com/koistream/koistream/topics/jsonscan"
	"github.com/koistream/koistream/topics/koi"
)

// ErrBadRecord is wrapped by Build's errors: the events record cannot be
// made a message (its headers or value are malformed, or a GitHub event's
// contents are not the JSON the webhook parser writes). Such a record
// fails the same way every time, so the sink counts it as failed and goes
// on instead of retrying it.
var ErrBadRecord = errors.New("amqpsink: events record cannot be published")

// Message is what one events record becomes on the exchange.
type Message struct {
	// Key is the routing key, in GHTorrent's spelling
	// (events.GHTorrentKey): "evt.push.insert", "ent.issues.update".
	Key string
	// Body is the JSON body; see Build.
	Body []byte
	// RID and EventType are the KOI event's.
	RID       string
	EventType koi.EventType
	// CreatedAt is when the event happened as far as the node knows: the
	// manifest's timestamp, else the time the observation was received.
	CreatedAt time.Time
}

// typeGitHubEvent is the RID type of GitHub webhook deliveries
// (stages/github.TypeEvent), whose contents Build turns into Events API
// objects. It is spelled out to keep the sink free of the parser's package.
const typeGitHubEvent = "orn:github.event"

// Build returns the message of the events record rec: its routing key in
// GHTorrent's form and a body that depends on what the event is about:
//
//   - a GitHub event (orn:github.event, announced NEW): the object GitHub's
//     Events API served and GHTorrent forwarded, built from the stored
//     webhook delivery (its contents are {"webhook_event_type", "action",
//     "repository", "payload"}, see stages/github.Normalize), in this
//     member order:
//     {"id","type","actor","repo","payload","public","created_at","org"?}.
//     id is the delivery GUID (the RID's last part; the Events API's own
//     numeric ids are not in webhooks); type the event name in CamelCase
//     with "Event" ("pull_request" → "PullRequestEvent"); actor the
//     sender's id, login, display_login (the login), gravatar_id, url and
//     avatar_url; repo the repository's id, full name (as name) and API
//     url (from its commits_url), null without a repository; public whether the repository is not
//     private; created_at CreatedAt in seconds, "2006-01-02T15:04:05Z"; org
//     the organization's id, login, gravatar_id, url and avatar_url, left
//     out when the delivery has none. The payload is the webhook payload
//     without the members the envelope lifts out (sender, repository,
//     organization, installation, enterprise), its members in the
//     webhook's order and byte for byte, except for push, whose
//     payload is the Events API's: size, distinct_size, ref, head, before
//     and commits [{sha, author{email,name}, message, distinct, url}] (no
//     push_id: webhooks do not carry it);
//   - a FORGET of anything: a small document naming what was deleted,
//     {"rid", "full_name"?, "number"?, "sha"?, "deleted": true}, with the
//     GitHub natural keys parsed from GitHub RIDs;
//   - anything else (the entities: repos, commits, issues, pull requests,
//     KOI-net nodes; published messages; events of other sources): the
//     contents as stored, the entity document byte for byte.
//
// Values taken from the webhook (the payload's members, the actor's, the
// organization's and the repository's id and name) are its bytes; strings
// Build writes itself keep their characters but not necessarily their
// escapes ('<' is not escaped as \u003c). Build fails, with an error
// wrapping ErrBadRecord, when the value is not an events value or a GitHub
// event's contents are not such an object (or not JSON at all:
// jsonscan.Valid). It is safe for concurrent use.
func Build(rec events.Record) (Message, error) {
	v, err := events.ParseValue(rec.Value)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	rid := rec.Observation.RID
	m := Message{Key: events.GHTorrentKey(rec.RoutingKey), RID: rid, EventType: rec.EventType}
	m.CreatedAt = rec.Observation.ReceivedAt.UTC()
	if t, ok := manifestTime(v.Manifest); ok {
		m.CreatedAt = t
	}
	switch {
	case rec.EventType == koi.EventForget || len(v.Contents) == 0:
		m.Body = forgetBody(rid, rec.EventType == koi.EventForget)
	case RIDType(rid) == typeGitHubEvent:
		m.Body, err = eventBody(rid, v.Contents, m.CreatedAt)
		if err != nil {
			return Message{}, fmt.Errorf("%w %.80q: %w", ErrBadRecord, rid, err)
		}
	default:
		m.Body = v.Contents
	}
	return m, nil
}

// RIDType returns the type of rid: its scheme and namespace,
// "orn:github.issue" of "orn:github.issue:o/r:7"; rid itself when it has
// fewer than two colons.
func RIDType(rid string) string {
	i := strings.IndexByte(rid, ':')
	if i < 0 {
		return rid
	}
	j := strings.IndexByte(rid[i+1:], ':')
	if j < 0 {
		return rid
	}
	return rid[:i+1+j]
}

// manifestTime reads a manifest's timestamp.
func manifestTime(manifest []byte) (time.Time, bool) {
	if len(manifest) == 0 {
		return time.Time{}, false
	}
	var m struct {
		Timestamp string `json:"timestamp"`
	}
	if json.Unmarshal(manifest, &m) != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// forgetDoc is the body of a FORGET (and of an event without contents).
type forgetDoc struct {
	RID      string `json:"rid"`
	FullName string `json:"full_name,omitempty"`
	Number   *int64 `json:"number,omitempty"`
	SHA      string `json:"sha,omitempty"`
	Deleted  bool   `json:"deleted"`
}

func forgetBody(rid string, deleted bool) []byte {
	d := forgetDoc{RID: rid, Deleted: deleted}
	typ := RIDType(rid)
	ref := strings.TrimPrefix(rid, typ+":")
	switch typ {
	case "orn:github.repo":
		d.FullName = ref
	case "orn:github.issue", "orn:github.pr":
		if i := strings.LastIndexByte(ref, ':'); i > 0 {
			if n, err := strconv.ParseInt(ref[i+1:], 10, 64); err == nil {
				d.FullName, d.Number = ref[:i], &n
			}
		}
	case "orn:github.commit":
		if i := strings.LastIndexByte(ref, ':'); i > 0 {
			d.FullName, d.SHA = ref[:i], ref[i+1:]
		}
	}
	b, _ := marshal(d) // plain strings and numbers: cannot fail
	return b
}

// maxDepth bounds the nesting of a GitHub event's contents the sink takes
// apart: the pipeline's own bound (koi.MaxNestingDepth), which every
// stored record met.
const maxDepth = koi.MaxNestingDepth

// webhookPush is what the Events API keeps of a push payload's members.
type webhookPush struct {
	Ref     string `json:"ref"`
	Before  string `json:"before"`
	After   string `json:"after"`
	Commits []struct {
		ID       string `json:"id"`
		Message  string `json:"message"`
		Distinct *bool  `json:"distinct"`
		URL      string `json:"url"`
		Author   struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"author"`
	} `json:"commits"`
}

type apiPush struct {
	Size         int         `json:"size"`
	DistinctSize int         `json:"distinct_size"`
	Ref          string      `json:"ref"`
	Head         string      `json:"head"`
	Before       string      `json:"before"`
	Commits      []apiCommit `json:"commits"`
}

type apiCommit struct {
	SHA    string `json:"sha"`
	Author struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	} `json:"author"`
	Message  string `json:"message"`
	Distinct bool   `json:"distinct"`
	URL      string `json:"url"`
}

// isEnvelopeMember reports whether a payload member is one the Events API
// shows outside the payload (or not at all).
func isEnvelopeMember(name []byte) bool {
	switch string(name) {
	case "sender", "repository", "organization", "installation", "enterprise":
		return true
	}
	return false
}

// eventBody builds the Events API object of a GitHub event's contents.
//
// It takes the contents apart with one pass of jsonscan's scanners and
// copies every value it keeps byte for byte (strings keep their escapes):
// the first version decoded the contents, the payload and the payload
// again into map[string]json.RawMessage and re-encoded it, 340 µs to
// 1.1 ms a record (36-54 MB/s, BenchmarkBuild, 2026-11-29), which made the
// sink's own CPU, not RabbitMQ, the limit of its drain rate. The contents
// are checked whole with jsonscan.Valid first, so what the scanners skip
// unchecked is valid JSON.
func eventBody(rid string, contents []byte, created time.Time) ([]byte, error) {
	if !jsonscan.Valid(contents, maxDepth) {
		return nil, errors.New("contents are not JSON")
	}
	var typ, repo, payload []byte
	err := jsonscan.EachMember(contents, maxDepth, func(m jsonscan.Member) bool {
		switch string(m.Name) {
		case "webhook_event_type":
			typ = m.Value
		case "repository":
			repo = m.Value
		case "payload":
			payload = m.Value
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("contents: %w", err)
	}
	if len(payload) == 0 || payload[0] != '{' {
		return nil, errors.New("contents without a payload object")
	}
	event, err := stringValue(typ, "webhook_event_type")
	if err != nil {
		return nil, err
	}
	r, err := repoOf(repo)
	if err != nil {
		return nil, err
	}
	var sender, org account
	var push webhookPush
	kept := make([][]byte, 0, 32) // the payload's members that stay in it
	var accErr error
	err = jsonscan.EachMember(payload, maxDepth, func(m jsonscan.Member) bool {
		switch string(m.Name) {
		case "sender":
			sender, accErr = accountOf(m.Value, "sender")
		case "organization":
			org, accErr = accountOf(m.Value, "organization")
		}
		if accErr != nil {
			return false
		}
		if !isEnvelopeMember(m.Name) {
			kept = append(kept, m.Raw)
		}
		return true
	})
	if err = errors.Join(err, accErr); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if event == "push" {
		// A push's payload is rebuilt; decoding it whole reads the few
		// members it needs.
		if err := json.Unmarshal(payload, &push); err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
	}

	b := make([]byte, 0, len(payload)+512)
	b = append(b, `{"id":`...)
	b = koi.AppendString(b, rid[strings.LastIndexByte(rid, ':')+1:])
	b = append(b, `,"type":`...)
	b = koi.AppendString(b, EventsAPIType(event))
	b = append(b, `,"actor":`...)
	b = sender.appendJSON(b, true)
	b = append(b, `,"repo":`...)
	if r.present {
		b = append(b, `{"id":`...)
		b = append(b, r.id...)
		b = append(b, `,"name":`...)
		b = append(b, r.fullName...)
		b = append(b, `,"url":`...)
		b = koi.AppendString(b, r.apiURL())
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"payload":`...)
	if event == "push" {
		p, err := pushPayload(&push, r)
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		b = append(b, p...)
	} else {
		b = append(b, '{')
		for i, m := range kept {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, m...)
		}
		b = append(b, '}')
	}
	b = append(b, `,"public":`...)
	b = strconv.AppendBool(b, r.present && !r.private)
	b = append(b, `,"created_at":"`...)
	b = created.UTC().Truncate(time.Second).AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, '"')
	if org.present {
		b = append(b, `,"org":`...)
		b = org.appendJSON(b, false)
	}
	return append(b, '}'), nil
}

// account is a webhook's sender or organization: the raw JSON of the
// members the Events API shows of it.
type account struct {
	present                               bool
	id, login, gravatarID, url, avatarURL []byte
}

// accountOf reads an account object; null is an absent account.
func accountOf(v []byte, what string) (account, error) {
	var a account
	if string(v) == "null" {
		return a, nil
	}
	a.present = true
	var err error
	if e := jsonscan.EachMember(v, maxDepth, func(m jsonscan.Member) bool {
		switch string(m.Name) {
		case "id":
			a.id = m.Value
		case "login":
			a.login, err = stringRaw(m.Value, what+".login")
		case "gravatar_id":
			a.gravatarID, err = stringRaw(m.Value, what+".gravatar_id")
		case "url":
			a.url, err = stringRaw(m.Value, what+".url")
		case "avatar_url":
			a.avatarURL, err = stringRaw(m.Value, what+".avatar_url")
		}
		return err == nil
	}); e != nil {
		return a, fmt.Errorf("%s: %w", what, e)
	}
	return a, err
}

// appendJSON appends the Events API's account object (actor with
// display_login, the login again, when it has one) or null. Members the
// webhook left out are null (id) or "" (the strings), as a decoder into
// the API's types would leave them.
func (a account) appendJSON(b []byte, actor bool) []byte {
	if !a.present {
		return append(b, "null"...)
	}
	orEmpty := func(b, raw []byte) []byte {
		if raw == nil {
			return append(b, `""`...)
		}
		return append(b, raw...)
	}
	b = append(b, `{"id":`...)
	if a.id == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, a.id...)
	}
	b = append(b, `,"login":`...)
	b = orEmpty(b, a.login)
	if actor && len(a.login) > len(`""`) {
		b = append(b, `,"display_login":`...)
		b = append(b, a.login...)
	}
	b = append(b, `,"gravatar_id":`...)
	b = orEmpty(b, a.gravatarID)
	b = append(b, `,"url":`...)
	b = orEmpty(b, a.url)
	b = append(b, `,"avatar_url":`...)
	b = orEmpty(b, a.avatarURL)
	return append(b, '}')
}

// webhookRepo is the members of a delivery's repository the Events API
// shows: id and full_name raw, the URLs decoded.
type webhookRepo struct {
	present         bool
	id, fullName    []byte
	url, commitsURL string
	private         bool
}

// repoOf reads the contents' repository; null or absent is no repository.
func repoOf(v []byte) (webhookRepo, error) {
	var r webhookRepo
	if v == nil || string(v) == "null" {
		return r, nil
	}
	r.present, r.id, r.fullName = true, []byte("null"), []byte(`""`)
	var err error
	if e := jsonscan.EachMember(v, maxDepth, func(m jsonscan.Member) bool {
		switch string(m.Name) {
		case "id":
			r.id = m.Value
		case "full_name":
			r.fullName, err = stringRaw(m.Value, "repository.full_name")
			if r.fullName == nil {
				r.fullName = []byte(`""`)
			}
		case "url":
			r.url, err = stringValue(m.Value, "repository.url")
		case "commits_url":
			r.commitsURL, err = stringValue(m.Value, "repository.commits_url")
		case "private":
			switch string(m.Value) {
			case "true":
				r.private = true
			case "false", "null":
				r.private = false
			default:
				err = errors.New("repository.private is not a boolean")
			}
		}
		return err == nil
	}); e != nil {
		return r, fmt.Errorf("repository: %w", e)
	}
	return r, err
}

// stringRaw checks that v is a JSON string or null and returns it raw, nil
// for null.
func stringRaw(v []byte, what string) ([]byte, error) {
	switch {
	case len(v) > 0 && v[0] == '"':
		return v, nil
	case string(v) == "null":
		return nil, nil
	}
	return nil, fmt.Errorf("%s is not a string", what)
}

// stringValue decodes a JSON string; null and nothing are "".
func stringValue(v []byte, what string) (string, error) {
	if v == nil { // absent: the member was not there
		return "", nil
	}
	raw, err := stringRaw(v, what)
	if err != nil || raw == nil {
		return "", err
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	return string(jsonscan.AppendUnescaped(nil, raw[1:len(raw)-1])), nil
}

// apiURL is the repository's REST API URL, what the Events API shows as
// repo.url. Push deliveries put the web URL in url (a GitHub quirk), but
// every delivery's commits_url is the API's, with "/commits{/sha}"
// appended; on GitHub Enterprise Server it has the server's host.
func (r *webhookRepo) apiURL() string {
	if u, ok := strings.CutSuffix(r.commitsURL, "/commits{/sha}"); ok {
		return u
	}
	return r.url
}

// pushPayload is the Events API's payload of a push.
func pushPayload(p *webhookPush, repo webhookRepo) ([]byte, error) {
	out := apiPush{Size: len(p.Commits), Ref: p.Ref, Head: p.After, Before: p.Before, Commits: make([]apiCommit, 0, len(p.Commits))}
	for _, c := range p.Commits {
		ac := apiCommit{SHA: c.ID, Message: c.Message, Distinct: c.Distinct == nil || *c.Distinct, URL: c.URL}
		ac.Author.Email, ac.Author.Name = c.Author.Email, c.Author.Name
		if repo.present && strings.HasSuffix(repo.commitsURL, "/commits{/sha}") {
			ac.URL = repo.apiURL() + "/commits/" + c.ID // the API URL, as the Events API gives
		}
		if ac.Distinct {
			out.DistinctSize++
		}
		out.Commits = append(out.Commits, ac)
	}
	return marshal(out)
}

// EventsAPIType returns the Events API type of a webhook event name: its
// words capitalized and joined, and "Event" ("push" → "PushEvent",
// "pull_request_review_comment" → "PullRequestReviewCommentEvent"), which
// is how the API names every type it has.
func EventsAPIType(webhookEvent string) string {
	var b strings.Builder
	b.Grow(len(webhookEvent) + len("Event"))
	up := true
	for i := 0; i < len(webhookEvent); i++ {
		c := webhookEvent[i]
		if c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteByte(c)
	}
	b.WriteString("Event")
	return b.String()
}

// marshal encodes v without escaping HTML characters, which GitHub's own
// JSON does not escape, and without the encoder's trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
