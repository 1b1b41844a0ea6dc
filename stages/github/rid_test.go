package github_test

import (
	"testing"

	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/koi"
)

func TestRIDs(t *testing.T) {
	tests := []struct {
		name, got, want, wantType string
	}{
		{"event", github.EventRID("octo/hello", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), "orn:github.event:octo/hello:72d3162e-cc78-11e3-81ab-4c9367dc0958", github.TypeEvent},
		{"repo", github.RepoRID("octo/hello"), "orn:github.repo:octo/hello", github.TypeRepo},
		{"commit", github.CommitRID("octo/hello", "6113728f27ae82c7b1a177c8d03f9e96e0adf246"), "orn:github.commit:octo/hello:6113728f27ae82c7b1a177c8d03f9e96e0adf246", github.TypeCommit},
		{"issue", github.IssueRID("octo/hello", 7), "orn:github.issue:octo/hello:7", github.TypeIssue},
		{"issue large", github.IssueRID("octo/hello", 1234567890123), "orn:github.issue:octo/hello:1234567890123", github.TypeIssue},
		{"pr", github.PRRID("octo/hello", 42), "orn:github.pr:octo/hello:42", github.TypePR},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
			typ, err := koi.RIDType(tc.got)
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.wantType {
				t.Errorf("type = %q, want %q", typ, tc.wantType)
			}
		})
	}
}

// TestIsCanonicalRID covers the forms that may leave the node, among them
// the event RID of a delivery without a repository, whose owner part is a
// login (an organization event): the normalizer makes those, so they must
// be advertised.
func TestIsCanonicalRID(t *testing.T) {
	for rid, want := range map[string]bool{
		"orn:github.repo:octo/hello":         true,
		"orn:github.repo:octo":               false,
		"orn:github.commit:octo/hello:abc":   true,
		"orn:github.commit:octo/hello:":      false,
		"orn:github.commit:octo:abc":         false,
		"orn:github.issue:octo/hello:7":      true,
		"orn:github.issue:octo/hello:007":    false,
		"orn:github.pr:octo/hello:+1":        false,
		"orn:github.event:octo/hello:d-1":    true,
		"orn:github.event:koi-garden:d-1":    true,
		"orn:github.event:koi-garden:":       false,
		"orn:github.event::d-1":              false,
		"orn:github.event:a/b/c:d-1":         false,
		"orn:github.event:has space:d-1":     false,
		"orn:koi-net.node:github-sensor+abc": false,
	} {
		if got := github.IsCanonicalRID(rid); got != want {
			t.Errorf("IsCanonicalRID(%q) = %v, want %v", rid, got, want)
		}
	}
}
