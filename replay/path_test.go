package replay_test

import (
	"strings"
	"testing"

	"github.com/koistream/koistream/replay"
	"github.com/koistream/koistream/topics/streams"
)

// TestPathOf checks the paths derived for records without a path header,
// the same stages/github gives its observations now.
func TestPathOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, rid, routing, want string
	}{
		{"event", "orn:github.event:octo/hello:72d3162e", "evt.push", "/github/octo/hello/push"},
		{"event with underscore", "orn:github.event:octo/hello:d-1", "evt.pull_request", "/github/octo/hello/pull_request"},
		{"event of a login", "orn:github.event:koi-garden:d-1", "evt.organization", "/github/koi-garden/organization"},
		{"event without a repository", "orn:github.event:_:d-1", "evt.installation", "/github/_/installation"},
		{"event with an odd routing", "orn:github.event:octo/hello:d-1", "ent.issue", "/github/octo/hello/_"},
		{"event with an empty event", "orn:github.event:octo/hello:d-1", "evt.", "/github/octo/hello/_"},
		{"repo", "orn:github.repo:octo/hello", "ent.repo", "/github/octo/hello/repo"},
		{"issue", "orn:github.issue:octo/hello:7", "ent.issue", "/github/octo/hello/issue"},
		{"pr", "orn:github.pr:octo/hello:9", "ent.pr", "/github/octo/hello/pr"},
		{"commit", "orn:github.commit:octo/hello:6b1f533", "ent.commit", "/git/octo/hello/commit"},
		{"node", "orn:koi-net.node:gosensor+ef32", "ent.koi-net.node", "/koi-net/node"},
		{"edge", "orn:koi-net.edge:abc", "ent.koi-net.edge", "/koi-net/edge"},
		{"published", "orn:pubsub.message:0-17", "evt.publish", "/pubsub/message"},
		{"other github type", "orn:github.user:octo", "ent.github.user", "/github/user"},
		{"other namespace", "orn:slack.message:T1/C2:3", "ent.slack.message", "/slack/message"},
		{"empty namespace part", "orn:a..b:x", "ent.x", "/a/_/b"},
		{"dot dot owner", "orn:github.issue:../hello:7", "ent.issue", "/github/_/hello/issue"},
		{"comma repo", "orn:github.repo:octo/a,b", "ent.repo", "/github/octo/_/repo"},
		{"three-part full name", "orn:github.repo:a/b/c", "ent.repo", "/github/a/_/repo"},
		{"control character", "orn:github.event:oc\x01to/hello:d", "evt.push", "/github/_/hello/push"},
		{"invalid UTF-8", "orn:x\xff.y:z", "ent.x", "/_/y"},
		{"urn", "urn:isbn:0451450523", "ent.isbn", "/_"},
		{"url", "https://example.com/", "ent.https", "/_"},
		{"no namespace", "orn:", "ent.x", "/_"},
		{"empty", "", "", "/_"},
		{"long namespace", "orn:" + strings.Repeat("a.", 600) + "b:x", "ent.x", "/_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := replay.PathOf(tt.rid, tt.routing)
			if got != tt.want {
				t.Errorf("PathOf(%q, %q) = %q, want %q", tt.rid, tt.routing, got, tt.want)
			}
			if err := streams.CheckPath(got); err != nil || got[0] != '/' {
				t.Errorf("PathOf(%q, %q) = %q, not a valid path: %v", tt.rid, tt.routing, got, err)
			}
		})
	}
}
