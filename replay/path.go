package replay

import (
	"strings"

	"github.com/koistream/koistream/topics/streams"
)

// PathOf derives the stream path of an event whose record carries no
// observed.HeaderPath (records written before paths existed, KOI-net
// inputs, sources that chose none) from its RID and its observation's
// routing-key stem (observed.Observation.Routing, "evt.push"):
//
//	orn:github.event:<o>/<r>:<id>        /github/<o>/<r>/<event>  (routing "evt.<event>")
//	orn:github.event:<login>:<id>        /github/<login>/<event>
//	orn:github.repo|issue|pr:<o>/<r>...  /github/<o>/<r>/repo|issue|pr
//	orn:github.commit:<o>/<r>:<sha>      /git/<o>/<r>/commit
//	orn:koi-net.node:...                 /koi-net/node
//	orn:koi-net.edge:...                 /koi-net/edge
//	orn:<ns>:...                         "/" + <ns> with '.' replaced by '/'
//	anything else                        /_
//
// These are the paths stages/github gives the observations it makes now, so
// old and new records of one kind share a path. A part that is not a valid
// topic (topics/streams: empty, a "..", a ',', a control character) becomes
// "_", and an event name missing from routing is "_". The result is always
// a valid path; one that would be longer than streams.MaxPathLen is "/_".
// PathOf is safe for concurrent use.
func PathOf(rid, routing string) string {
	rest, ok := strings.CutPrefix(rid, "orn:")
	if !ok {
		return "/_"
	}
	ns, ref, ok := strings.Cut(rest, ":")
	if !ok || ns == "" {
		return "/_"
	}
	var b strings.Builder
	switch ns {
	case "github.event":
		ownerRepo, _, _ := strings.Cut(ref, ":")
		event, found := strings.CutPrefix(routing, "evt.")
		if !found {
			event = ""
		}
		b.Grow(len("/github/") + len(ownerRepo) + len(event) + 1)
		b.WriteString("/github/")
		writeOwnerRepo(&b, ownerRepo)
		b.WriteByte('/')
		b.WriteString(topicOr(event))
	case "github.repo", "github.issue", "github.pr", "github.commit":
		ownerRepo, _, _ := strings.Cut(ref, ":")
		kind := strings.TrimPrefix(ns, "github.")
		root := "/github/"
		if kind == "commit" {
			root = "/git/"
		}
		b.Grow(len(root) + len(ownerRepo) + len(kind) + 1)
		b.WriteString(root)
		writeOwnerRepo(&b, ownerRepo)
		b.WriteByte('/')
		b.WriteString(kind)
	case "koi-net.node":
		return "/koi-net/node"
	case "koi-net.edge":
		return "/koi-net/edge"
	default:
		b.Grow(len(ns) + 1)
		for part := range strings.SplitSeq(ns, ".") {
			b.WriteByte('/')
			b.WriteString(topicOr(part))
		}
	}
	p := b.String()
	if len(p) > streams.MaxPathLen {
		return "/_"
	}
	return p
}

// writeOwnerRepo writes "<owner>/<repo>", or the one login of a reference
// without a repository, each part a topic or "_".
func writeOwnerRepo(b *strings.Builder, ownerRepo string) {
	owner, repo, found := strings.Cut(ownerRepo, "/")
	b.WriteString(topicOr(owner))
	if found {
		b.WriteByte('/')
		b.WriteString(topicOr(repo))
	}
}

// topicOr returns s when it is one valid topic, "_" otherwise.
func topicOr(s string) string {
	if isTopic(s) {
		return s
	}
	return "_"
}

// isTopic reports whether s is one valid, non-empty topic.
func isTopic(s string) bool {
	return s != "" && len(s) <= streams.MaxPathLen && !strings.Contains(s, "/") && streams.CheckPath(s) == nil
}
