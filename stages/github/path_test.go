package github

import (
	"testing"

	"github.com/koistream/koistream/topics/streams"
)

// TestPaths: every path Normalize gives is valid whatever the payload held,
// and the usual ones read as documented.
func TestPaths(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"event with action", eventPath("octo/hello", "issues", "opened"), "/github/octo/hello/issues/opened"},
		{"event without action", eventPath("octo/hello", "push", ""), "/github/octo/hello/push"},
		{"event of a login", eventPath("octo-org", "organization", "member_added"), "/github/octo-org/organization/member_added"},
		{"event of no one", eventPath("_", "ping", ""), "/github/_/ping"},
		{"action with a slash", eventPath("octo/hello", "issues", "a/b"), "/github/octo/hello/issues"},
		{"action with a comma", eventPath("octo/hello", "issues", "a,b"), "/github/octo/hello/issues"},
		{"event that is ..", eventPath("octo/hello", "..", ""), "/github/octo/hello/_"},
		{"event with a control character", eventPath("octo/hello", "pu\x01sh", ""), "/github/octo/hello/_"},
		{"repo named ..", eventPath("octo/..", "push", ""), "/github/octo/_/push"},
		{"repo with a comma", entityPath("octo/a,b", routingIssue), "/github/octo/_/issue"},
		{"repo", entityPath("octo/hello", routingRepo), "/github/octo/hello/repo"},
		{"issue", entityPath("octo/hello", routingIssue), "/github/octo/hello/issue"},
		{"pull request", entityPath("octo/hello", routingPR), "/github/octo/hello/pr"},
		{"commit", entityPath("octo/hello", routingCommit), "/git/octo/hello/commit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("path %q, want %q", tt.got, tt.want)
			}
			if err := streams.CheckPath(tt.got); err != nil {
				t.Fatalf("path %q is invalid: %v", tt.got, err)
			}
		})
	}
}
