package github

import (
	"strings"

	"github.com/koistream/koistream/topics/streams"
)

// Stream paths (observed.Observation.Path) of the observations Normalize
// emits, the names subscribers of the stream listener select them by:
//
//	event    /github/<owner>/<repo>/<X-GitHub-Event>[/<action>]
//	repo     /github/<owner>/<repo>/repo
//	issue    /github/<owner>/<repo>/issue
//	pr       /github/<owner>/<repo>/pr
//	commit   /git/<owner>/<repo>/commit
//
// A delivery without a repository has its one login (or "_") in place of
// <owner>/<repo>, as in its RID. Commits live under /git, where ASF
// GitPubSub clients look for them, and are shown in GitPubSub's commit
// shape (package replay). Parts that cannot be a topic (a ',' or a "..",
// possible only in a payload GitHub did not send) become "_", and an action
// that cannot is left out: a path never makes an observation invalid.

// eventPath returns the stream path of an event observation.
func eventPath(ownerRepo, event, action string) string {
	var b strings.Builder
	b.Grow(len("/github/") + len(ownerRepo) + len(event) + len(action) + 2)
	b.WriteString("/github/")
	writeOwnerRepo(&b, ownerRepo)
	b.WriteByte('/')
	b.WriteString(topic(event))
	if action != "" && isTopic(action) {
		b.WriteByte('/')
		b.WriteString(action)
	}
	return b.String()
}

// entityPath returns the stream path of an entity observation of the
// repository fullName routed as routing.
func entityPath(fullName, routing string) string {
	var b strings.Builder
	root, kind := "/github/", strings.TrimPrefix(routing, "ent.")
	if routing == routingCommit {
		root = "/git/"
	}
	b.Grow(len(root) + len(fullName) + len(kind) + 1)
	b.WriteString(root)
	writeOwnerRepo(&b, fullName)
	b.WriteByte('/')
	b.WriteString(kind)
	return b.String()
}

func writeOwnerRepo(b *strings.Builder, ownerRepo string) {
	owner, repo, found := strings.Cut(ownerRepo, "/")
	b.WriteString(topic(owner))
	if found {
		b.WriteByte('/')
		b.WriteString(topic(repo))
	}
}

// topic returns s when it is one valid topic, "_" otherwise.
func topic(s string) string {
	if isTopic(s) {
		return s
	}
	return "_"
}

func isTopic(s string) bool {
	return s != "" && !strings.Contains(s, "/") && streams.CheckPath(s) == nil
}
