package events

import "testing"

func TestGHTorrentKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"evt.push.insert", "evt.push.insert"},
		{"evt.pull_request.insert", "evt.pullrequest.insert"},
		{"evt.pull_request_review_comment.insert", "evt.pullrequestreviewcomment.insert"},
		{"evt.issue_comment.insert", "evt.issuecomment.insert"},
		{"ent.issue.update", "ent.issues.update"},
		{"ent.pr.insert", "ent.pull_requests.insert"},
		{"ent.commit.insert", "ent.commits.insert"},
		{"ent.repo.delete", "ent.repos.delete"},
		{"ent.node.update", "ent.node.update"},
		{"evt.publish.insert", "evt.publish.insert"},
		{"odd", "odd"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := GHTorrentKey(tt.in); got != tt.want {
				t.Fatalf("GHTorrentKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
