package github

import "github.com/segmentio/encoding/json"

// The types below mirror the parts of GitHub's webhook payloads that
// Normalize reads. Members that are copied to the output unchanged are kept
// as json.RawMessage pointing into the payload (absent = empty, null =
// "null"): the decoder validates them, and the writer checks their JSON kind
// and copies them without decoding. Only members that feed RIDs or decisions
// are decoded into Go values. Each event type decodes into its own struct so
// that members it does not use are never type-checked: an event whose
// payload happens to reuse a member name with another shape is not rejected.

// envelope holds the top-level members common to all events.
type envelope struct {
	Action       json.RawMessage   `json:"action"`
	Repository   json.RawMessage   `json:"repository"`
	Organization *loginWire        `json:"organization"`
	Installation *installationWire `json:"installation"`
	Sender       *loginWire        `json:"sender"`
}

type installationWire struct {
	Account *loginWire `json:"account"`
}

// loginWire is any user-like object: user, owner, sender, organization,
// assignee.
type loginWire struct {
	Login json.RawMessage `json:"login"`
}

type labelWire struct {
	Name json.RawMessage `json:"name"`
}

// repoWire is a webhook repository object, decoded from the envelope's raw
// repository member.
type repoWire struct {
	FullName        string            `json:"full_name"`
	Name            json.RawMessage   `json:"name"`
	Owner           *loginWire        `json:"owner"`
	Description     json.RawMessage   `json:"description"`
	Private         json.RawMessage   `json:"private"`
	Fork            json.RawMessage   `json:"fork"`
	Archived        json.RawMessage   `json:"archived"`
	HTMLURL         json.RawMessage   `json:"html_url"`
	DefaultBranch   json.RawMessage   `json:"default_branch"`
	Language        json.RawMessage   `json:"language"`
	Topics          []json.RawMessage `json:"topics"`
	StargazersCount json.RawMessage   `json:"stargazers_count"`
	ForksCount      json.RawMessage   `json:"forks_count"`
	OpenIssuesCount json.RawMessage   `json:"open_issues_count"`
	CreatedAt       json.RawMessage   `json:"created_at"`
	PushedAt        json.RawMessage   `json:"pushed_at"`
	UpdatedAt       json.RawMessage   `json:"updated_at"`
}

// pushPayload is the payload of a push event.
type pushPayload struct {
	envelope
	Commits    []commitWire `json:"commits"`
	HeadCommit *commitWire  `json:"head_commit"`
}

// commitWire is a commit as push payloads show it.
type commitWire struct {
	ID        string          `json:"id"`
	Message   json.RawMessage `json:"message"`
	Timestamp json.RawMessage `json:"timestamp"`
	URL       json.RawMessage `json:"url"`
	Author    *personWire     `json:"author"`
	Committer *personWire     `json:"committer"`
}

type personWire struct {
	Name  json.RawMessage `json:"name"`
	Email json.RawMessage `json:"email"`
}

// issuesPayload is the payload of an issues or issue_comment event.
// Changes is kept raw: only the issues event's transferred action reads it
// (as issueChangesWire), and the other actions' changes (edited's
// {"title":{"from"}}, ...) have other shapes that must not be type-checked.
type issuesPayload struct {
	envelope
	Issue   *issueWire      `json:"issue"`
	Changes json.RawMessage `json:"changes"`
}

// issueChangesWire is the changes member of an issues event with action
// "transferred": the issue as it is now, in the repository it was moved to.
type issueChangesWire struct {
	NewIssue      *issueWire `json:"new_issue"`
	NewRepository *struct {
		FullName string `json:"full_name"`
	} `json:"new_repository"`
}

// repositoryPayload is the payload of a repository event. Changes is kept
// raw for the same reason as issuesPayload's: only the renamed and
// transferred actions read it (as repoChangesWire); edited's changes have
// another shape.
type repositoryPayload struct {
	envelope
	Changes json.RawMessage `json:"changes"`
}

// repoChangesWire is the changes member of a repository event with action
// "renamed" ({"repository":{"name":{"from"}}}) or "transferred"
// ({"owner":{"from":{"user"|"organization":{"login"}}}}): what the
// repository's name or owner was before.
type repoChangesWire struct {
	Repository *struct {
		Name *struct {
			From json.RawMessage `json:"from"`
		} `json:"name"`
	} `json:"repository"`
	Owner *struct {
		From *struct {
			User         *loginWire `json:"user"`
			Organization *loginWire `json:"organization"`
		} `json:"from"`
	} `json:"owner"`
}

type issueWire struct {
	Number      int64           `json:"number"`
	Title       json.RawMessage `json:"title"`
	State       json.RawMessage `json:"state"`
	StateReason json.RawMessage `json:"state_reason"`
	Body        json.RawMessage `json:"body"`
	User        *loginWire      `json:"user"`
	Labels      []labelWire     `json:"labels"`
	Assignees   []loginWire     `json:"assignees"`
	Milestone   *struct {
		Title json.RawMessage `json:"title"`
	} `json:"milestone"`
	Locked      json.RawMessage `json:"locked"`
	Comments    json.RawMessage `json:"comments"`
	HTMLURL     json.RawMessage `json:"html_url"`
	CreatedAt   json.RawMessage `json:"created_at"`
	UpdatedAt   json.RawMessage `json:"updated_at"`
	ClosedAt    json.RawMessage `json:"closed_at"`
	PullRequest json.RawMessage `json:"pull_request"`
}

// pullRequestPayload is the payload of a pull_request event.
type pullRequestPayload struct {
	envelope
	PullRequest *pullRequestWire `json:"pull_request"`
}

type pullRequestWire struct {
	Number         int64           `json:"number"`
	Title          json.RawMessage `json:"title"`
	State          json.RawMessage `json:"state"`
	Draft          json.RawMessage `json:"draft"`
	Merged         json.RawMessage `json:"merged"`
	Body           json.RawMessage `json:"body"`
	User           *loginWire      `json:"user"`
	Labels         []labelWire     `json:"labels"`
	Assignees      []loginWire     `json:"assignees"`
	Head           *refWire        `json:"head"`
	Base           *refWire        `json:"base"`
	HTMLURL        json.RawMessage `json:"html_url"`
	CreatedAt      json.RawMessage `json:"created_at"`
	UpdatedAt      json.RawMessage `json:"updated_at"`
	ClosedAt       json.RawMessage `json:"closed_at"`
	MergedAt       json.RawMessage `json:"merged_at"`
	MergeCommitSHA json.RawMessage `json:"merge_commit_sha"`
}

type refWire struct {
	Ref json.RawMessage `json:"ref"`
	SHA json.RawMessage `json:"sha"`
}
