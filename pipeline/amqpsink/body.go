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
//     organization, installation, enterprise), except for push, whose
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
// Strings keep their characters but not necessarily their escapes ('<' is
// not escaped as \u003c). Build fails, with an error wrapping ErrBadRecord,
// when the value is not an events value or a GitHub event's contents are
// not such an object. It is safe for concurrent use.
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

// webhookContents is the stored contents of a GitHub webhook event.
type webhookContents struct {
	Type       string          `json:"webhook_event_type"`
	Repository *webhookRepo    `json:"repository"`
	Payload    json.RawMessage `json:"payload"`
}

type webhookRepo struct {
	ID         json.RawMessage `json:"id"`
	FullName   string          `json:"full_name"`
	URL        string          `json:"url"`
	CommitsURL string          `json:"commits_url"`
	Private    bool            `json:"private"`
}

// apiURL is the repository's REST API URL, what the Events API shows as
// repo.url. Push deliveries put the web URL in url (a GitHub quirk), but
// every delivery's commits_url is the API's, with "/commits{/sha}"
// appended; on GitHub Enterprise Server it has the server's host.
func (r *webhookRepo) apiURL() string {
	if u, ok := strings.CutSuffix(r.CommitsURL, "/commits{/sha}"); ok {
		return u
	}
	return r.URL
}

type webhookAccount struct {
	ID         json.RawMessage `json:"id"`
	Login      string          `json:"login"`
	GravatarID string          `json:"gravatar_id"`
	URL        string          `json:"url"`
	AvatarURL  string          `json:"avatar_url"`
}

// webhookEnvelope is what the Events API lifts out of a payload.
type webhookEnvelope struct {
	Sender       *webhookAccount `json:"sender"`
	Organization *webhookAccount `json:"organization"`
}

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

// apiEvent is an Events API event, its members in the API's order.
type apiEvent struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Actor     *apiAccount     `json:"actor"`
	Repo      *apiRepo        `json:"repo"`
	Payload   json.RawMessage `json:"payload"`
	Public    bool            `json:"public"`
	CreatedAt string          `json:"created_at"`
	Org       *apiAccount     `json:"org,omitempty"`
}

type apiAccount struct {
	ID           json.RawMessage `json:"id"`
	Login        string          `json:"login"`
	DisplayLogin string          `json:"display_login,omitempty"`
	GravatarID   string          `json:"gravatar_id"`
	URL          string          `json:"url"`
	AvatarURL    string          `json:"avatar_url"`
}

type apiRepo struct {
	ID   json.RawMessage `json:"id"`
	Name string          `json:"name"`
	URL  string          `json:"url"`
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

// envelopeMembers are the payload members the Events API shows outside
// the payload (or not at all).
var envelopeMembers = []string{"sender", "repository", "organization", "installation", "enterprise"}

func eventBody(rid string, contents []byte, created time.Time) ([]byte, error) {
	var c webhookContents
	if err := json.Unmarshal(contents, &c); err != nil {
		return nil, fmt.Errorf("contents: %w", err)
	}
	if p := bytes.TrimSpace(c.Payload); len(p) == 0 || p[0] != '{' {
		return nil, errors.New("contents without a payload object")
	}
	var env webhookEnvelope
	if err := json.Unmarshal(c.Payload, &env); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	ev := apiEvent{
		ID:        rid[strings.LastIndexByte(rid, ':')+1:],
		Type:      EventsAPIType(c.Type),
		CreatedAt: created.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z"),
	}
	if s := env.Sender; s != nil {
		ev.Actor = &apiAccount{ID: s.ID, Login: s.Login, DisplayLogin: s.Login, GravatarID: s.GravatarID, URL: s.URL, AvatarURL: s.AvatarURL}
	}
	if o := env.Organization; o != nil {
		ev.Org = &apiAccount{ID: o.ID, Login: o.Login, GravatarID: o.GravatarID, URL: o.URL, AvatarURL: o.AvatarURL}
	}
	if r := c.Repository; r != nil {
		ev.Repo = &apiRepo{ID: r.ID, Name: r.FullName, URL: r.apiURL()}
		ev.Public = !r.Private
	}
	var err error
	if c.Type == "push" {
		ev.Payload, err = pushPayload(c.Payload, c.Repository)
	} else {
		ev.Payload, err = strippedPayload(c.Payload)
	}
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return marshal(ev)
}

// pushPayload is the Events API's payload of a push.
func pushPayload(payload []byte, repo *webhookRepo) ([]byte, error) {
	var p webhookPush
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, err
	}
	out := apiPush{Size: len(p.Commits), Ref: p.Ref, Head: p.After, Before: p.Before, Commits: make([]apiCommit, 0, len(p.Commits))}
	for _, c := range p.Commits {
		ac := apiCommit{SHA: c.ID, Message: c.Message, Distinct: c.Distinct == nil || *c.Distinct, URL: c.URL}
		ac.Author.Email, ac.Author.Name = c.Author.Email, c.Author.Name
		if repo != nil && strings.HasSuffix(repo.CommitsURL, "/commits{/sha}") {
			ac.URL = repo.apiURL() + "/commits/" + c.ID // the API URL, as the Events API gives
		}
		if ac.Distinct {
			out.DistinctSize++
		}
		out.Commits = append(out.Commits, ac)
	}
	return marshal(out)
}

// strippedPayload is payload without the envelope members.
func strippedPayload(payload []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, err
	}
	for _, k := range envelopeMembers {
		delete(m, k)
	}
	return marshal(m)
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
