package fakegithub

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// RepoSpec describes a generated repository. Contents are a deterministic
// function of the spec: the same spec always serves the same bytes.
type RepoSpec struct {
	// Owner and Name spell the repository, as its full_name "Owner/Name".
	// Required.
	Owner, Name string
	// ID is the repository id used in /repositories/{id}/... Link URLs.
	// Default: 1000 plus the number of repositories added before.
	ID int64
	// Issues and Pulls are how many issues and pull requests to generate.
	// They share one number sequence (as on GitHub): issues are numbers
	// 1..Issues, pull requests Issues+1..Issues+Pulls. Issue number n is
	// created at Base+n hours and updated 30 minutes later; every third
	// one is closed.
	Issues, Pulls int
	// Commits is how many commits the default branch has; commit i is
	// dated Base+i hours.
	Commits int
	// Events is how many events the feed has, the newest created at the
	// clock's time when the repository is added, one minute apart.
	Events int
	// DefaultBranch is the default branch's name. Default "main".
	DefaultBranch string
	// Base is the time the generated history starts at. Default
	// 2026-01-01T00:00:00Z.
	Base time.Time
}

// DefaultBase is RepoSpec.Base's default.
var DefaultBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type issue struct {
	number           int
	title, body      string
	state            string
	created, updated time.Time
	closed           time.Time
	pr               bool
	merged           bool
	user             string
	labels           []string
	headSHA          string
}

type commit struct {
	sha, message string
	date         time.Time
	parent       string
}

type event struct {
	id      int64
	typ     string
	created time.Time
}

type delivery struct {
	id          int64
	guid        string
	event       string
	action      string
	statusCode  int
	deliveredAt time.Time
	redelivery  bool
	body        []byte
	hookID      int64
}

type repo struct {
	id            int64
	owner, name   string
	description   string
	defaultBranch string
	created       time.Time
	updated       time.Time
	pushed        time.Time
	issues        []*issue // by number-1
	commits       []*commit
	events        []*event
	hooks         []int64
	deliveries    []*delivery
	open          int // open issues and pulls, kept as they change
}

func (r *repo) fullName() string { return r.owner + "/" + r.name }

func sha(parts ...any) string {
	h := sha1.Sum([]byte(fmt.Sprint(parts...)))
	return hex.EncodeToString(h[:])
}

func newRepo(spec RepoSpec, now time.Time) *repo {
	base := spec.Base
	if base.IsZero() {
		base = DefaultBase
	}
	branch := spec.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	r := &repo{
		id: spec.ID, owner: spec.Owner, name: spec.Name, defaultBranch: branch,
		description: "Generated repository " + spec.Owner + "/" + spec.Name,
		created:     base, updated: base, pushed: base,
	}
	for i := 1; i <= spec.Commits; i++ {
		c := &commit{
			sha:     sha(r.fullName(), "commit", i),
			message: fmt.Sprintf("Commit %d", i),
			date:    base.Add(time.Duration(i) * time.Hour),
		}
		if i > 1 {
			c.parent = r.commits[i-2].sha
		}
		r.commits = append(r.commits, c)
		r.pushed = c.date
	}
	for n := 1; n <= spec.Issues+spec.Pulls; n++ {
		is := &issue{
			number:  n,
			pr:      n > spec.Issues,
			created: base.Add(time.Duration(n) * time.Hour),
			user:    fmt.Sprintf("user%d", n%4),
			labels:  []string{[]string{"bug", "enhancement", "docs"}[n%3]},
		}
		is.updated = is.created.Add(30 * time.Minute)
		is.title = fmt.Sprintf("%s %d", map[bool]string{false: "Issue", true: "Pull request"}[is.pr], n)
		is.body = "Body of " + strings.ToLower(is.title)
		is.state = "open"
		if n%3 == 0 {
			is.state = "closed"
			is.closed = is.updated
			is.merged = is.pr && n%2 == 0
		}
		is.headSHA = sha(r.fullName(), "head", n)
		if is.state == "open" {
			r.open++
		}
		r.issues = append(r.issues, is)
	}
	for i := 0; i < spec.Events; i++ {
		r.events = append(r.events, &event{
			id:      int64(r.id)*1_000_000 + int64(i+1),
			typ:     []string{"PushEvent", "IssuesEvent", "PullRequestEvent", "IssueCommentEvent"}[i%4],
			created: now.Add(-time.Duration(spec.Events-1-i) * time.Minute).Truncate(time.Second),
		})
	}
	return r
}
