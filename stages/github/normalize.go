package github

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"

	wire "github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/observed"
)

// Input is one webhook delivery as stored in the raw topic: the body exactly
// as received plus the request headers Normalize needs.
type Input struct {
	// Event is the X-GitHub-Event header, for example "push" or "issues".
	// It must not be empty. Unknown event types are accepted, and so are
	// names the webhook source now refuses (topics/github.CheckEvent): the
	// raw log is never rewritten, and records from before the check must
	// replay as they did.
	Event string
	// Delivery is the X-GitHub-Delivery header, the delivery GUID. It is
	// the event RID's id and must be non-empty printable ASCII without
	// spaces, ':' or '/'. GitHub keeps it on redelivery.
	Delivery string
	// ContentType is the Content-Type header as received; see
	// topics/github.DecodeBody.
	ContentType string
	// Body is the raw request body as received. Normalize neither modifies
	// nor retains it.
	Body []byte
	// ReceivedAt is when the delivery was received. Normalize does not use
	// it: observations depend only on the delivery itself, so a redelivery
	// normalizes to the same bytes.
	ReceivedAt time.Time
}

// Well-known event types and actions.
const (
	eventPush         = "push"
	eventIssues       = "issues"
	eventIssueComment = "issue_comment"
	eventPullRequest  = "pull_request"
	eventRepository   = "repository"
	actionDeleted     = "deleted"
	actionRenamed     = "renamed"
	actionTransferred = "transferred"
)

// parseFlags: strings and raw members may point into the payload (they are
// copied into the output before Normalize returns), and member names match
// exactly, as JSON consumers in other languages index them.
const parseFlags = json.ZeroCopy | json.DontMatchCaseInsensitiveStructFields

// Normalize turns one webhook delivery into canonical observations. It
// decodes the body with topics/github.DecodeBody's rules, parses the payload
// once, and returns the event observation first, then entity observations
// in payload order: the repository (then the forget of its previous RID),
// then the push's commits, the issue (a transferred issue's forget, then its
// new RID) or the pull request. Every error wraps ErrBadPayload and is permanent.
//
// Normalize sets each observation's RID, Op, Contents, Routing, Immutable
// and Path (see path.go); where it came from (source, source key, receive time, raw
// position) is the caller's to fill in (see ParseWebhook). The Contents of
// the entity observations of one call may share one backing array, each
// capped at its own length so that appending to one cannot overwrite
// another; treat Contents as read-only. No Contents aliases in.Body.
//
// The event observation, orn:github.event:<owner>/<repo>:<Delivery>, is an
// immutable upsert routed as "evt.<Event>", whose contents are, in this key
// order,
//
//	{"webhook_event_type":<Event>,"action":<action>,"repository":<repository>,"payload":<payload>}
//
// where "action" is omitted when the payload has none (or it is null),
// "repository" is the payload's repository object byte for byte and is
// omitted when absent or null, and "payload" is the decoded payload exactly
// as received, including any surrounding whitespace. <owner>/<repo> is the
// repository's full_name; without a repository it is organization.login,
// else installation.account.login, else sender.login, else "_". Every event
// type, including ping and types this package does not know, produces it.
//
// Entity observations are routed as "ent.<kind>" (ent.repo, ent.commit,
// ent.issue, ent.pr) and hold these fields, in this order; a field missing from
// the payload is null, list fields are [] when missing, and every timestamp
// is normalized with koi.FormatTimestamp (UTC, "Z", microseconds only when
// non-zero). Scalars are copied from the payload as raw JSON after their
// JSON kind is checked, so string escapes are kept as GitHub sent them.
//
// Repository, orn:github.repo:<full_name>, emitted whenever the payload has a
// repository object; a forget instead for the repository event with action
// "deleted". The repository event with action "renamed" or "transferred"
// adds, after the upsert, a forget of orn:github.repo:<previous full_name>,
// where the previous full_name is full_name with its name replaced by
// changes.repository.name.from and its owner by
// changes.owner.from.user.login, else changes.owner.from.organization.login,
// whichever of these are present and non-empty; routed ent.repo, its Path
// is under the previous name. It is left out when changes lacks them or
// they give the current name (GitHub's own renamed example does), and the
// upsert is emitted either way:
//
//	full_name, name, owner (login), description, private, fork, archived,
//	html_url, default_branch, language, topics ([string]),
//	stargazers_count, forks_count, open_issues_count,
//	created_at, pushed_at, updated_at
//
// Commit, orn:github.commit:<full_name>:<sha>, one per element of a push's
// commits array and one for head_commit when it is not among them:
//
//	sha, message, author {name, email}, committer {name, email},
//	timestamp, html_url (the commit's url)
//
// Issue, orn:github.issue:<full_name>:<number>, from issues events (a forget
// for action "deleted") and from issue_comment events whose issue is not a
// pull request (issue.pull_request absent). The issues event with action
// "transferred", which GitHub sends to the repository the issue left, is a
// forget of the issue's RID there followed, when changes.new_issue and
// changes.new_repository (with a full_name) are present, by an upsert of
// orn:github.issue:<changes.new_repository.full_name>:<changes.new_issue.number>
// whose contents are written from changes.new_issue with these same fields
// and whose Path is under the new repository; without them the forget is
// emitted alone (and should both RIDs be equal, only the upsert):
//
//	number, title, state, state_reason, body, user (login),
//	labels ([name]), assignees ([login]), milestone (title),
//	locked, comments, html_url, created_at, updated_at, closed_at
//
// Pull request, orn:github.pr:<full_name>:<number>, from pull_request events
// only (review and review comment events carry partial pull request objects
// that would hash differently):
//
//	number, title, state, draft, merged, body, user (login),
//	labels ([name]), assignees ([login]), head {ref, sha}, base {ref, sha},
//	html_url, created_at, updated_at, closed_at, merged_at, merge_commit_sha
//
// Entities observed under a repository's old name (its issues, pull
// requests, commits) keep their RIDs: only the renamed or transferred
// repository or issue itself is forgotten.
//
// The same Input always yields byte-identical observations. Unknown members
// are ignored, and changes is read only for the actions above. A payload
// that is not a JSON object, a repository without a usable full_name, an
// issue or pull request without a positive number, a commit without a hex
// sha, a member of the wrong JSON type (for example a string number,
// commits that is not an array, or the changes of a renamed or transferred
// delivery that is not an object), or a previous or new full name from
// changes that is not <owner>/<repo> is an error, never a panic.
//
// Normalize is safe for concurrent use by multiple goroutines. It does not
// modify or retain in.Body, and no returned slice aliases it.
func Normalize(in Input) ([]observed.Observation, error) {
	if in.Event == "" {
		return nil, fmt.Errorf("%w: empty event type", ErrBadPayload)
	}
	if !utf8.ValidString(in.Event) {
		return nil, fmt.Errorf("%w: event type is not valid UTF-8", ErrBadPayload)
	}
	if err := wire.CheckDelivery(in.Delivery); err != nil {
		return nil, err
	}
	payload, err := wire.ExtractPayload(in.ContentType, in.Body)
	if err != nil {
		return nil, err
	}
	n := normalizer{in: &in, payload: payload}
	switch in.Event {
	case eventPush:
		var p pushPayload
		if err := n.parse(&p); err != nil {
			return nil, err
		}
		if err := n.begin(&p.envelope, 2+len(p.Commits)); err != nil {
			return nil, err
		}
		n.commits(p.Commits, p.HeadCommit)
	case eventIssues, eventIssueComment:
		var p issuesPayload
		if err := n.parse(&p); err != nil {
			return nil, err
		}
		if err := n.begin(&p.envelope, 1); err != nil {
			return nil, err
		}
		n.issue(p.Issue, p.Changes)
	case eventRepository:
		var p repositoryPayload
		if err := n.parse(&p); err != nil {
			return nil, err
		}
		if err := n.begin(&p.envelope, 1); err != nil {
			return nil, err
		}
		if err := n.movedRepo(p.Changes); err != nil {
			return nil, err
		}
	case eventPullRequest:
		var p pullRequestPayload
		if err := n.parse(&p); err != nil {
			return nil, err
		}
		if err := n.begin(&p.envelope, 1); err != nil {
			return nil, err
		}
		n.pullRequest(p.PullRequest)
	default:
		var p envelope
		if err := n.parse(&p); err != nil {
			return nil, err
		}
		if err := n.begin(&p, 0); err != nil {
			return nil, err
		}
	}
	return n.finish()
}

// isRefComponent reports whether s can be one component of an RID
// reference: non-empty printable ASCII without space, ':' or '/'.
func isRefComponent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ':' || c == '/' {
			return false
		}
	}
	return true
}

// isFullName reports whether s is usable as "<owner>/<repo>" in an RID:
// two RID components separated by exactly one '/'.
func isFullName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return isRefComponent(s[:i]) && isRefComponent(s[i+1:])
		}
	}
	return false
}

// entity records where one entity observation's contents lie in the shared
// entity buffer.
type entity struct {
	rid        string
	routing    string
	op         observed.Op
	start, end int
	// fullName is the repository the entity belongs to when it is not the
	// payload's (a renamed repository's old name, a transferred issue's new
	// repository); "" means the payload's, normalizer.fullName.
	fullName string
}

// normalizer carries the state of one Normalize call.
type normalizer struct {
	in       *Input
	payload  []byte
	fullName string // repository.full_name, "" without a repository
	action   string
	obs      []observed.Observation
	ents     []entity
	w        writer // entity contents, one shared buffer
}

// parse decodes the whole payload into v, the one parse per record.
func (n *normalizer) parse(v any) error {
	rest, err := json.Parse(n.payload, v, parseFlags)
	if err != nil {
		return decodeError("", err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: data after the payload object", ErrBadPayload)
	}
	return nil
}

// decodeError wraps a decoder error in ErrBadPayload. The message names the
// member and the JSON kinds involved and stays short: the decoder's own
// messages quote the remaining input, which can be most of the payload.
// prefix is the path of the object that was decoded ("" for the payload).
func decodeError(prefix string, err error) error {
	return decodeErrorAs(ErrBadPayload, prefix, err)
}

// decodeErrorAs is decodeError with the sentinel the error wraps.
func decodeErrorAs(sentinel error, prefix string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		field := te.Field
		if prefix != "" {
			field = prefix + "." + field
		}
		want := kindName(te.Type)
		if strings.HasPrefix(te.Value, "number ") && strings.Contains(te.Value, "overflow") {
			return fmt.Errorf("%w: %s: number out of range for %s", sentinel, field, want)
		}
		got := te.Value // the input at the member, Go-quoted
		if u, err := strconv.Unquote(got); err == nil {
			got = u
		}
		return fmt.Errorf("%w: %s: want %s, got %s", sentinel, field, want, kindOf([]byte(got)))
	}
	return fmt.Errorf("%w: %s", sentinel, truncate(err.Error(), 160))
}

// kindName names the JSON a Go type of the wire structs accepts.
func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Struct:
		return "object or null"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "JSON value" // json.RawMessage
		}
		return "array or null"
	case reflect.String:
		return "string"
	case reflect.Int64:
		return "integer"
	}
	return t.String()
}

// begin interprets the members common to all events and emits the event
// observation and, when there is a repository, the repository observation.
// more is the expected number of further observations.
func (n *normalizer) begin(env *envelope, more int) error {
	if !isNull(env.Action) {
		a, ok := rawString(env.Action)
		if !ok {
			return fmt.Errorf("%w: action: want string or null, got %s", ErrBadPayload, kindOf(env.Action))
		}
		n.action = a
	}
	var repo repoWire
	hasRepo := !isNull(env.Repository)
	if hasRepo {
		if env.Repository[0] != '{' {
			return fmt.Errorf("%w: repository: want object or null, got %s", ErrBadPayload, kindOf(env.Repository))
		}
		if _, err := json.Parse(env.Repository, &repo, parseFlags); err != nil {
			return decodeError("repository", err)
		}
		if !isFullName(repo.FullName) {
			return fmt.Errorf("%w: repository.full_name %q is not <owner>/<repo>", ErrBadPayload, truncate(repo.FullName, 100))
		}
		n.fullName = repo.FullName
	}
	ownerRepo, err := n.eventOwner(env)
	if err != nil {
		return err
	}

	n.obs = make([]observed.Observation, 1, 2+more)
	n.obs[0] = observed.Observation{
		RID:       EventRID(ownerRepo, n.in.Delivery),
		Op:        observed.OpUpsert,
		Contents:  n.eventContents(env),
		Routing:   eventRouting(n.in.Event),
		Immutable: true,
		Path:      eventPath(ownerRepo, n.in.Event, n.action),
	}
	if !hasRepo {
		return nil
	}
	rid := RepoRID(n.fullName)
	if n.in.Event == eventRepository && n.action == actionDeleted {
		n.ents = append(n.ents, entity{rid: rid, routing: routingRepo, op: observed.OpForget})
		return nil
	}
	n.w.b = make([]byte, 0, 512+more*512)
	start := len(n.w.b)
	n.w.at("repository", -1)
	n.w.repoContents(&repo)
	n.ents = append(n.ents, entity{rid: rid, routing: routingRepo, op: observed.OpUpsert, start: start, end: len(n.w.b)})
	return n.w.err
}

// eventOwner returns the <owner>/<repo> part of the event RID.
func (n *normalizer) eventOwner(env *envelope) (string, error) {
	if n.fullName != "" {
		return n.fullName, nil
	}
	candidates := [...]struct {
		path string
		u    *loginWire
	}{
		{"organization.login", env.Organization},
		{"installation.account.login", nil},
		{"sender.login", env.Sender},
	}
	if env.Installation != nil {
		candidates[1].u = env.Installation.Account
	}
	for _, c := range candidates {
		if c.u == nil || isNull(c.u.Login) {
			continue
		}
		login, ok := rawString(c.u.Login)
		if !ok {
			return "", fmt.Errorf("%w: %s: want string, got %s", ErrBadPayload, c.path, kindOf(c.u.Login))
		}
		if login == "" {
			continue
		}
		if !isRefComponent(login) {
			return "", fmt.Errorf("%w: %s %q is not usable in an RID", ErrBadPayload, c.path, truncate(login, 100))
		}
		return login, nil
	}
	return "_", nil
}

// eventContents assembles the event observation's contents in one exactly
// sized allocation.
func (n *normalizer) eventContents(env *envelope) []byte {
	const (
		k1 = `{"webhook_event_type":`
		k2 = `,"action":`
		k3 = `,"repository":`
		k4 = `,"payload":`
	)
	size := len(k1) + quotedLen(n.in.Event) + len(k4) + len(n.payload) + 1
	hasAction := !isNull(env.Action)
	hasRepo := !isNull(env.Repository)
	if hasAction {
		size += len(k2) + len(env.Action)
	}
	if hasRepo {
		size += len(k3) + len(env.Repository)
	}
	b := make([]byte, 0, size)
	b = append(b, k1...)
	b = appendString(b, n.in.Event)
	if hasAction {
		b = append(b, k2...)
		b = append(b, env.Action...)
	}
	if hasRepo {
		b = append(b, k3...)
		b = append(b, env.Repository...)
	}
	b = append(b, k4...)
	b = append(b, n.payload...)
	return append(b, '}')
}

// commits emits one commit observation per distinct commit of a push, in
// payload order, with head_commit last unless it is among the commits.
func (n *normalizer) commits(cs []commitWire, head *commitWire) {
	if n.w.err != nil || (len(cs) == 0 && head == nil) {
		return
	}
	if n.fullName == "" {
		n.w.err = fmt.Errorf("%w: push without repository", ErrBadPayload)
		return
	}
	// Pushes carry up to 2048 commits; a map only pays off for many.
	var seen map[string]struct{}
	if len(cs) > 16 {
		seen = make(map[string]struct{}, len(cs))
	}
	first := len(n.ents)
	emitted := func(sha string) bool {
		if seen != nil {
			_, ok := seen[sha]
			return ok
		}
		for _, e := range n.ents[first:] { // commit RIDs end in ":<sha>"
			if k := len(e.rid) - len(sha); e.rid[k:] == sha && e.rid[k-1] == ':' {
				return true
			}
		}
		return false
	}
	emit := func(c *commitWire) {
		if !isSHA(c.ID) {
			n.w.err = fmt.Errorf("%w: %s %q is not a hex commit sha", ErrBadPayload, n.w.path("id"), truncate(c.ID, 80))
			return
		}
		if emitted(c.ID) {
			return
		}
		if seen != nil {
			seen[c.ID] = struct{}{}
		}
		start := len(n.w.b)
		n.w.commitContents(c)
		n.ents = append(n.ents, entity{
			rid:     CommitRID(n.fullName, c.ID),
			routing: routingCommit,
			op:      observed.OpUpsert,
			start:   start,
			end:     len(n.w.b),
		})
	}
	for i := range cs {
		if n.w.err != nil {
			return
		}
		n.w.at("commits", i)
		emit(&cs[i])
	}
	if head != nil && n.w.err == nil {
		n.w.at("head_commit", -1)
		emit(head)
	}
}

// isSHA reports whether s is a full lowercase hex object id (SHA-1 or
// SHA-256), the only form rid-lib consumers can compare.
func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// issue emits the issue observation of an issues or issue_comment event;
// changes is the payload's raw changes member, read only for the issues
// event's transferred action (see transferredIssue).
// Its contents are
//
//	{"number","title","state","state_reason","body","user","labels",
//	 "assignees","milestone","locked","comments","html_url","created_at",
//	 "updated_at","closed_at"}
//
// with user the user's login, labels the label names, assignees the
// assignees' logins and milestone the milestone title (null without one).
// The REST issue object (GET /repos/{owner}/{repo}/issues/{number}) has
// the same members and maps the same way. Issues that are pull requests are
// left to pullRequest, whose field set differs.
func (n *normalizer) issue(is *issueWire, changes json.RawMessage) {
	if n.w.err != nil {
		return
	}
	if is == nil {
		n.w.err = fmt.Errorf("%w: %s event without issue", ErrBadPayload, n.in.Event)
		return
	}
	if n.in.Event == eventIssueComment && !isNull(is.PullRequest) {
		return // a comment on a pull request: its issue object is the PR's
	}
	if n.fullName == "" {
		n.w.err = fmt.Errorf("%w: %s event without repository", ErrBadPayload, n.in.Event)
		return
	}
	if is.Number <= 0 {
		n.w.err = fmt.Errorf("%w: issue.number %d is not positive", ErrBadPayload, is.Number)
		return
	}
	rid := IssueRID(n.fullName, is.Number)
	if n.in.Event == eventIssues && n.action == actionDeleted {
		n.ents = append(n.ents, entity{rid: rid, routing: routingIssue, op: observed.OpForget})
		return
	}
	if n.in.Event == eventIssues && n.action == actionTransferred {
		n.transferredIssue(rid, changes)
		return
	}
	w := &n.w
	w.at("issue", -1)
	start := len(w.b)
	w.issueContents(is)
	n.ents = append(n.ents, entity{rid: rid, routing: routingIssue, op: observed.OpUpsert, start: start, end: len(w.b)})
}

// transferredIssue emits the observations of an issues event with action
// "transferred", which GitHub sends to the repository the issue left: a
// forget of the issue's RID there, oldRID, and, when changes holds both
// new_issue and new_repository (with a non-empty full_name), an upsert of
// the issue under its RID in the repository it moved to, its contents
// written from new_issue like any issue's. Without them (changes absent or
// null, or either member absent or null) the forget is emitted alone: the
// action by itself says the issue is no longer in this repository, and the
// delivery is not lost for want of optional data. A changes member of the
// wrong JSON type, a new_repository.full_name that is not <owner>/<repo>
// or a new_issue.number that is not positive is an ErrBadPayload error, as
// the same faults are anywhere else in a payload. Should both RIDs be the
// same (GitHub never sends that: an issue cannot move to its own
// repository), only the upsert is emitted, so the issue is not dropped.
func (n *normalizer) transferredIssue(oldRID string, changes json.RawMessage) {
	var (
		next    *issueWire
		newFull string
		newRID  string
	)
	if !isNull(changes) {
		if changes[0] != '{' {
			n.w.err = fmt.Errorf("%w: changes: want object or null, got %s", ErrBadPayload, kindOf(changes))
			return
		}
		var c issueChangesWire
		if _, err := json.Parse(changes, &c, parseFlags); err != nil {
			n.w.err = decodeError("changes", err)
			return
		}
		if c.NewIssue != nil && c.NewRepository != nil && c.NewRepository.FullName != "" {
			if !isFullName(c.NewRepository.FullName) {
				n.w.err = fmt.Errorf("%w: changes.new_repository.full_name %q is not <owner>/<repo>",
					ErrBadPayload, truncate(c.NewRepository.FullName, 100))
				return
			}
			if c.NewIssue.Number <= 0 {
				n.w.err = fmt.Errorf("%w: changes.new_issue.number %d is not positive", ErrBadPayload, c.NewIssue.Number)
				return
			}
			next, newFull = c.NewIssue, c.NewRepository.FullName
			newRID = IssueRID(newFull, next.Number)
		}
	}
	if newRID != oldRID {
		n.ents = append(n.ents, entity{rid: oldRID, routing: routingIssue, op: observed.OpForget})
	}
	if next == nil {
		return
	}
	w := &n.w
	w.at("changes.new_issue", -1)
	start := len(w.b)
	w.issueContents(next)
	n.ents = append(n.ents, entity{rid: newRID, routing: routingIssue, op: observed.OpUpsert,
		start: start, end: len(w.b), fullName: newFull})
}

// movedRepo emits, for a repository event with action "renamed" or
// "transferred", a forget of the RID the repository had before; begin has
// already emitted the upsert under its new RID. The previous full name is
// the payload's repository.full_name with its name part replaced by
// changes.repository.name.from (a rename) and its owner part by
// changes.owner.from.user.login or, when that is absent,
// changes.owner.from.organization.login (a transfer). The parts are taken
// from full_name rather than from repository.name and owner.login because
// full_name is what every RID of the repository was built from. Either
// change is applied whatever the action says, as a transfer may also
// rename. Nothing is emitted for other actions, without a repository, when
// changes or the members above are absent, null or empty (the upsert
// still goes out: the delivery is not lost for want of optional data), or
// when the previous name equals the new one (GitHub's own renamed example
// shows that; a forget would drop the repository). A changes member of the
// wrong JSON type, or a previous name that is not <owner>/<repo>, is an
// ErrBadPayload error.
func (n *normalizer) movedRepo(changes json.RawMessage) error {
	if (n.action != actionRenamed && n.action != actionTransferred) || n.fullName == "" || isNull(changes) {
		return nil
	}
	if changes[0] != '{' {
		return fmt.Errorf("%w: changes: want object or null, got %s", ErrBadPayload, kindOf(changes))
	}
	var c repoChangesWire
	if _, err := json.Parse(changes, &c, parseFlags); err != nil {
		return decodeError("changes", err)
	}
	owner, name, _ := strings.Cut(n.fullName, "/")
	if c.Repository != nil && c.Repository.Name != nil {
		from, err := optString(c.Repository.Name.From, "changes.repository.name.from")
		if err != nil {
			return err
		}
		if from != "" {
			name = from
		}
	}
	if c.Owner != nil && c.Owner.From != nil {
		for _, u := range [...]struct {
			path string
			u    *loginWire
		}{
			{"changes.owner.from.user.login", c.Owner.From.User},
			{"changes.owner.from.organization.login", c.Owner.From.Organization},
		} {
			if u.u == nil {
				continue
			}
			login, err := optString(u.u.Login, u.path)
			if err != nil {
				return err
			}
			if login != "" {
				owner = login
				break
			}
		}
	}
	old := owner + "/" + name
	if old == n.fullName {
		return nil
	}
	if !isFullName(old) {
		return fmt.Errorf("%w: previous full name %q (from changes) is not <owner>/<repo>", ErrBadPayload, truncate(old, 100))
	}
	n.ents = append(n.ents, entity{rid: RepoRID(old), routing: routingRepo, op: observed.OpForget, fullName: old})
	return nil
}

// optString returns the string a raw member holds, "" when it is absent or
// null, and an ErrBadPayload error naming path when it is another kind.
func optString(raw json.RawMessage, path string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	s, ok := rawString(raw)
	if !ok {
		return "", fmt.Errorf("%w: %s: want string or null, got %s", ErrBadPayload, path, kindOf(raw))
	}
	return s, nil
}

// pullRequest emits the pull request observation of a pull_request event.
// Its contents are
//
//	{"number","title","state","draft","merged","body","user","labels",
//	 "assignees","head":{"ref","sha"},"base":{"ref","sha"},"html_url",
//	 "created_at","updated_at","closed_at","merged_at","merge_commit_sha"}
//
// with user, labels and assignees reduced as for issues. The REST pull
// request object (GET /repos/{owner}/{repo}/pulls/{number}) has the same
// members; the list endpoint omits merged, which ParseAPI then derives
// from merged_at.
func (n *normalizer) pullRequest(pr *pullRequestWire) {
	if n.w.err != nil {
		return
	}
	if pr == nil {
		n.w.err = fmt.Errorf("%w: pull_request event without pull_request", ErrBadPayload)
		return
	}
	if n.fullName == "" {
		n.w.err = fmt.Errorf("%w: pull_request event without repository", ErrBadPayload)
		return
	}
	if pr.Number <= 0 {
		n.w.err = fmt.Errorf("%w: pull_request.number %d is not positive", ErrBadPayload, pr.Number)
		return
	}
	w := &n.w
	w.at("pull_request", -1)
	start := len(w.b)
	w.pullRequestContents(pr)
	n.ents = append(n.ents, entity{rid: PRRID(n.fullName, pr.Number), routing: routingPR, op: observed.OpUpsert, start: start, end: len(w.b)})
}

// finish slices the entity buffer into the observations.
func (n *normalizer) finish() ([]observed.Observation, error) {
	if n.w.err != nil {
		return nil, n.w.err
	}
	b := n.w.b
	for _, e := range n.ents {
		full := e.fullName
		if full == "" {
			full = n.fullName
		}
		o := observed.Observation{RID: e.rid, Op: e.op, Routing: e.routing, Path: entityPath(full, e.routing)}
		if e.op == observed.OpUpsert {
			o.Contents = b[e.start:e.end:e.end]
		}
		n.obs = append(n.obs, o)
	}
	return n.obs, nil
}
