package fakegithub

import (
	"strconv"
	"strings"
	"time"
)

// The JSON shapes below follow GitHub's REST responses (the fields a
// consumer reads, with GitHub's names and nulls); maps encode with sorted
// keys, so bodies are deterministic.

type obj = map[string]any

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func user(api, login string) obj {
	id := int64(0)
	for _, c := range login {
		id = id*31 + int64(c)
	}
	return obj{
		"login": login, "id": id%1_000_000 + 1, "node_id": "U_" + login, "type": "User", "site_admin": false,
		"url": api + "/users/" + login, "html_url": "https://github.com/" + login,
	}
}

func (s *Server) repoJSON(r *repo) obj {
	api := s.URL
	return obj{
		"id": r.id, "node_id": "R_" + strconv.FormatInt(r.id, 10), "name": r.name, "full_name": r.fullName(),
		"owner": user(api, r.owner), "private": false, "visibility": "public", "fork": false,
		"html_url": "https://github.com/" + r.fullName(), "description": r.description,
		"url": api + "/repos/" + r.fullName(), "created_at": ts(r.created), "updated_at": ts(r.updated),
		"pushed_at": ts(r.pushed), "default_branch": r.defaultBranch, "open_issues_count": r.open,
		"archived": false, "disabled": false, "has_issues": true, "language": "Go", "topics": []string{},
		"stargazers_count": 0, "watchers_count": 0, "forks_count": 0, "size": 1,
	}
}

func labels(names []string) []obj {
	out := []obj{}
	for i, n := range names {
		out = append(out, obj{"id": int64(i + 1), "name": n, "color": "ededed", "default": false})
	}
	return out
}

func (s *Server) issueJSON(r *repo, is *issue) obj {
	base := s.URL + "/repos/" + r.fullName()
	n := strconv.Itoa(is.number)
	var reason any
	if is.state == "closed" {
		reason = "completed"
	}
	o := obj{
		"state_reason": reason,
		"id":           r.id*100_000 + int64(is.number), "node_id": "I_" + n, "number": is.number, "title": is.title,
		"body": is.body, "state": is.state, "locked": false, "user": user(s.URL, is.user),
		"labels": labels(is.labels), "assignees": []obj{}, "assignee": nil, "milestone": nil, "comments": 0,
		"created_at": ts(is.created), "updated_at": ts(is.updated), "closed_at": ts(is.closed),
		"author_association": "OWNER", "url": base + "/issues/" + n, "repository_url": base,
		"html_url": "https://github.com/" + r.fullName() + "/issues/" + n,
	}
	if is.pr {
		var merged any
		if is.merged {
			merged = ts(is.closed)
		}
		o["pull_request"] = obj{
			"url": base + "/pulls/" + n, "html_url": "https://github.com/" + r.fullName() + "/pull/" + n,
			"diff_url":  "https://github.com/" + r.fullName() + "/pull/" + n + ".diff",
			"patch_url": "https://github.com/" + r.fullName() + "/pull/" + n + ".patch", "merged_at": merged,
		}
	}
	return o
}

func (s *Server) pullJSON(r *repo, is *issue, single bool) obj {
	base := s.URL + "/repos/" + r.fullName()
	n := strconv.Itoa(is.number)
	var merged any
	if is.merged {
		merged = ts(is.closed)
	}
	ref := func(label, sha string) obj {
		return obj{"label": r.owner + ":" + label, "ref": label, "sha": sha, "user": user(s.URL, r.owner), "repo": s.repoJSON(r)}
	}
	baseSHA := ""
	if len(r.commits) > 0 {
		baseSHA = r.commits[len(r.commits)-1].sha
	}
	o := obj{
		"id": r.id*100_000 + 50_000 + int64(is.number), "node_id": "PR_" + n, "number": is.number,
		"state": is.state, "locked": false, "title": is.title, "body": is.body, "user": user(s.URL, is.user),
		"labels": labels(is.labels), "assignees": []obj{}, "requested_reviewers": []obj{}, "milestone": nil,
		"created_at": ts(is.created), "updated_at": ts(is.updated),
		"closed_at": ts(is.closed), "merged_at": merged, "draft": false,
		"merge_commit_sha": sha(r.fullName(), "merge", is.number),
		"head":             ref("feature-"+n, is.headSHA), "base": ref(r.defaultBranch, baseSHA),
		"url": base + "/pulls/" + n, "issue_url": base + "/issues/" + n,
		"html_url": "https://github.com/" + r.fullName() + "/pull/" + n, "author_association": "OWNER",
	}
	if single {
		o["merged"] = is.merged
		o["mergeable"] = nil
		o["commits"] = 1
		o["additions"] = 1
		o["deletions"] = 0
		o["changed_files"] = 1
	}
	return o
}

func (s *Server) commitJSON(r *repo, c *commit, single bool) obj {
	who := obj{"name": r.owner, "email": strings.ToLower(r.owner) + "@example.com", "date": ts(c.date)}
	parents := []obj{}
	if c.parent != "" {
		parents = append(parents, obj{"sha": c.parent, "url": s.URL + "/repos/" + r.fullName() + "/commits/" + c.parent})
	}
	o := obj{
		"sha": c.sha, "node_id": "C_" + c.sha[:10],
		"commit": obj{
			"author": who, "committer": who, "message": c.message, "comment_count": 0,
			"tree": obj{"sha": sha(c.sha, "tree"), "url": s.URL + "/repos/" + r.fullName() + "/git/trees/" + sha(c.sha, "tree")},
			"url":  s.URL + "/repos/" + r.fullName() + "/git/commits/" + c.sha,
		},
		"url": s.URL + "/repos/" + r.fullName() + "/commits/" + c.sha, "html_url": "https://github.com/" + r.fullName() + "/commit/" + c.sha,
		"author": user(s.URL, r.owner), "committer": user(s.URL, r.owner), "parents": parents,
	}
	if single {
		o["stats"] = obj{"additions": 1, "deletions": 0, "total": 1}
		o["files"] = []obj{{"filename": "README.md", "status": "modified", "additions": 1, "deletions": 0, "changes": 1}}
	}
	return o
}

func (s *Server) eventJSON(r *repo, e *event) obj {
	return obj{
		"id": strconv.FormatInt(e.id, 10), "type": e.typ, "public": true, "created_at": ts(e.created),
		"actor": obj{"id": 1, "login": r.owner, "url": s.URL + "/users/" + r.owner},
		"repo":  obj{"id": r.id, "name": r.fullName(), "url": s.URL + "/repos/" + r.fullName()},
		// On github.com a PushEvent carries no commits any more
		// (GITHUB-API.md 0.2); payloads here stay minimal.
		"payload": obj{},
	}
}

func (s *Server) deliveryJSON(r *repo, d *delivery) obj {
	status := "OK"
	if d.statusCode >= 400 || d.statusCode == 0 {
		status = "Invalid HTTP Response: " + strconv.Itoa(d.statusCode)
	}
	var action any
	if d.action != "" {
		action = d.action
	}
	return obj{
		"id": d.id, "guid": d.guid, "delivered_at": ts(d.deliveredAt), "redelivery": d.redelivery,
		"duration": 0.12, "status": status, "status_code": d.statusCode, "event": d.event, "action": action,
		"installation_id": nil, "repository_id": r.id, "throttled_at": nil,
	}
}

func (s *Server) hookJSON(r *repo, id int64) obj {
	return obj{
		"id": id, "type": "Repository", "name": "web", "active": true, "events": []string{"*"},
		"config":     obj{"url": s.opts.WebhookURL, "content_type": "json", "insecure_ssl": "0"},
		"created_at": ts(r.created), "updated_at": ts(r.created),
		"url": s.URL + "/repos/" + r.fullName() + "/hooks/" + strconv.FormatInt(id, 10),
	}
}
