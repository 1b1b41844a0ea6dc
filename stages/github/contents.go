package github

import "strconv"

// The canonical entity contents, written by one function per entity type
// for both views GitHub gives of an entity: the webhook payloads
// (Normalize) and the REST API responses (ParseAPI) fill the same wire
// structs and call these, so the same state seen both ways gives the same
// bytes and hashes the same. Member names in errors are relative to the
// writer's current object (writer.at).

// repoContents writes the canonical repository contents:
//
//	{"full_name","name","owner","description","private","fork","archived",
//	 "html_url","default_branch","language","topics","stargazers_count",
//	 "forks_count","open_issues_count","created_at","pushed_at","updated_at"}
//
// owner is owner.login; topics is [] when absent. The REST repository
// object (GET /repos/{owner}/{repo}) has every one of these members under
// the same name, so it maps one to one; webhook-only members (the push
// payload's stargazers, master_branch, organization, and its Unix-second
// created_at and pushed_at) are dropped or normalized, so a push and any
// other event showing the same repository state give identical bytes.
func (w *writer) repoContents(r *repoWire) {
	w.lit(`{"full_name":`)
	w.b = appendString(w.b, r.FullName)
	w.lit(`,"name":`)
	w.str(r.Name, "name")
	w.lit(`,"owner":`)
	w.login(r.Owner, "owner.login")
	w.lit(`,"description":`)
	w.str(r.Description, "description")
	w.lit(`,"private":`)
	w.boolean(r.Private, "private")
	w.lit(`,"fork":`)
	w.boolean(r.Fork, "fork")
	w.lit(`,"archived":`)
	w.boolean(r.Archived, "archived")
	w.lit(`,"html_url":`)
	w.str(r.HTMLURL, "html_url")
	w.lit(`,"default_branch":`)
	w.str(r.DefaultBranch, "default_branch")
	w.lit(`,"language":`)
	w.str(r.Language, "language")
	w.lit(`,"topics":[`)
	for i, t := range r.Topics {
		if i > 0 {
			w.lit(",")
		}
		if isNull(t) || t[0] != '"' {
			w.fail("topics[]", "string", t)
			continue
		}
		w.b = append(w.b, t...)
	}
	w.lit(`],"stargazers_count":`)
	w.integer(r.StargazersCount, "stargazers_count")
	w.lit(`,"forks_count":`)
	w.integer(r.ForksCount, "forks_count")
	w.lit(`,"open_issues_count":`)
	w.integer(r.OpenIssuesCount, "open_issues_count")
	w.lit(`,"created_at":`)
	w.timestamp(r.CreatedAt, "created_at")
	w.lit(`,"pushed_at":`)
	w.timestamp(r.PushedAt, "pushed_at")
	w.lit(`,"updated_at":`)
	w.timestamp(r.UpdatedAt, "updated_at")
	w.lit(`}`)
}

// commitContents writes the canonical commit contents:
//
//	{"sha","message","author":{"name","email"},"committer":{"name","email"},
//	 "timestamp","html_url"}
//
// from a push payload commit's id, message, author, committer, timestamp
// and url (which is the commit's web URL). The REST commit object (GET
// /repos/{owner}/{repo}/commits/{sha}) maps as sha, commit.message,
// commit.author.{name,email}, commit.committer.{name,email}, html_url, and
// commit.author.date for timestamp (see ParseAPI on that choice). The push-only
// members (distinct, tree_id, added, removed, modified, the authors'
// usernames) are not part of the commit's identity and are dropped.
func (w *writer) commitContents(c *commitWire) {
	w.lit(`{"sha":`)
	w.b = appendString(w.b, c.ID)
	w.lit(`,"message":`)
	w.str(c.Message, "message")
	w.lit(`,"author":`)
	w.person(c.Author, "author.name", "author.email")
	w.lit(`,"committer":`)
	w.person(c.Committer, "committer.name", "committer.email")
	w.lit(`,"timestamp":`)
	w.timestamp(c.Timestamp, "timestamp")
	w.lit(`,"html_url":`)
	w.str(c.URL, "url")
	w.lit(`}`)
}

// issueContents writes the canonical issue contents (see normalizer.issue
// for the field set and how the REST issue object maps to it).
func (w *writer) issueContents(is *issueWire) {
	w.lit(`{"number":`)
	w.b = strconv.AppendInt(w.b, is.Number, 10)
	w.lit(`,"title":`)
	w.str(is.Title, "title")
	w.lit(`,"state":`)
	w.str(is.State, "state")
	w.lit(`,"state_reason":`)
	w.str(is.StateReason, "state_reason")
	w.lit(`,"body":`)
	w.str(is.Body, "body")
	w.lit(`,"user":`)
	w.login(is.User, "user.login")
	w.lit(`,"labels":`)
	w.labels(is.Labels, "labels[].name")
	w.lit(`,"assignees":`)
	w.logins(is.Assignees, "assignees[].login")
	w.lit(`,"milestone":`)
	if is.Milestone == nil {
		w.lit("null")
	} else {
		w.str(is.Milestone.Title, "milestone.title")
	}
	w.lit(`,"locked":`)
	w.boolean(is.Locked, "locked")
	w.lit(`,"comments":`)
	w.integer(is.Comments, "comments")
	w.lit(`,"html_url":`)
	w.str(is.HTMLURL, "html_url")
	w.lit(`,"created_at":`)
	w.timestamp(is.CreatedAt, "created_at")
	w.lit(`,"updated_at":`)
	w.timestamp(is.UpdatedAt, "updated_at")
	w.lit(`,"closed_at":`)
	w.timestamp(is.ClosedAt, "closed_at")
	w.lit(`}`)
}

// pullRequestContents writes the canonical pull request contents (see
// normalizer.pullRequest for the field set and how the REST pull request
// object maps to it).
func (w *writer) pullRequestContents(pr *pullRequestWire) {
	w.lit(`{"number":`)
	w.b = strconv.AppendInt(w.b, pr.Number, 10)
	w.lit(`,"title":`)
	w.str(pr.Title, "title")
	w.lit(`,"state":`)
	w.str(pr.State, "state")
	w.lit(`,"draft":`)
	w.boolean(pr.Draft, "draft")
	w.lit(`,"merged":`)
	w.boolean(pr.Merged, "merged")
	w.lit(`,"body":`)
	w.str(pr.Body, "body")
	w.lit(`,"user":`)
	w.login(pr.User, "user.login")
	w.lit(`,"labels":`)
	w.labels(pr.Labels, "labels[].name")
	w.lit(`,"assignees":`)
	w.logins(pr.Assignees, "assignees[].login")
	w.lit(`,"head":`)
	w.ref(pr.Head, "head.ref", "head.sha")
	w.lit(`,"base":`)
	w.ref(pr.Base, "base.ref", "base.sha")
	w.lit(`,"html_url":`)
	w.str(pr.HTMLURL, "html_url")
	w.lit(`,"created_at":`)
	w.timestamp(pr.CreatedAt, "created_at")
	w.lit(`,"updated_at":`)
	w.timestamp(pr.UpdatedAt, "updated_at")
	w.lit(`,"closed_at":`)
	w.timestamp(pr.ClosedAt, "closed_at")
	w.lit(`,"merged_at":`)
	w.timestamp(pr.MergedAt, "merged_at")
	w.lit(`,"merge_commit_sha":`)
	w.str(pr.MergeCommitSHA, "merge_commit_sha")
	w.lit(`}`)
}
