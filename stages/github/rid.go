package github

import (
	"strconv"
	"strings"
)

// The RID types of what GitHub shows, as rid-lib spells them so Python
// KOI-net consumers recognise them (DESIGN.md, "RIDs"). A type string is an
// RID without its reference.
const (
	// TypeEvent is the type of GitHub webhook deliveries and Events-API
	// events, orn:github.event:<owner>/<repo>:<delivery or event id>. An
	// event never changes once it happened: its observations are immutable.
	TypeEvent = "orn:github.event"
	// TypeRepo is the type of repositories, orn:github.repo:<owner>/<repo>.
	TypeRepo = "orn:github.repo"
	// TypeCommit is the type of commits,
	// orn:github.commit:<owner>/<repo>:<sha>.
	TypeCommit = "orn:github.commit"
	// TypeIssue is the type of issues,
	// orn:github.issue:<owner>/<repo>:<number>.
	TypeIssue = "orn:github.issue"
	// TypePR is the type of pull requests,
	// orn:github.pr:<owner>/<repo>:<number>.
	TypePR = "orn:github.pr"
)

// EventRID returns the RID of a GitHub event,
// "orn:github.event:<ownerRepo>:<id>", where ownerRepo is the repository's
// full name ("owner/repo") and id the delivery or event id. The inputs are not
// validated; pass the repository's canonical full_name so that RIDs compare
// equal across nodes.
func EventRID(ownerRepo, id string) string {
	return TypeEvent + ":" + ownerRepo + ":" + id
}

// RepoRID returns the RID of a GitHub repository,
// "orn:github.repo:<fullName>", where fullName is "owner/repo". The input is
// not validated.
func RepoRID(fullName string) string {
	return TypeRepo + ":" + fullName
}

// CommitRID returns the RID of a commit,
// "orn:github.commit:<fullName>:<sha>". The inputs are not validated.
func CommitRID(fullName, sha string) string {
	return TypeCommit + ":" + fullName + ":" + sha
}

// IssueRID returns the RID of an issue,
// "orn:github.issue:<fullName>:<number>", with the number in plain decimal
// (as rid-lib re-prints it). The inputs are not validated.
func IssueRID(fullName string, number int64) string {
	return TypeIssue + ":" + fullName + ":" + strconv.FormatInt(number, 10)
}

// PRRID returns the RID of a pull request,
// "orn:github.pr:<fullName>:<number>", with the number in plain decimal. The
// inputs are not validated.
func PRRID(fullName string, number int64) string {
	return TypePR + ":" + fullName + ":" + strconv.FormatInt(number, 10)
}

// Routing-key stems (observed.Observation.Routing) of the entity
// observations: "ent." and the type's name after "orn:github.", the keys
// the events topic has carried since its first records.
const (
	routingRepo   = "ent.repo"
	routingCommit = "ent.commit"
	routingIssue  = "ent.issue"
	routingPR     = "ent.pr"
)

// eventRouting returns the routing-key stem of an event observation,
// "evt.<X-GitHub-Event>", as in "evt.push".
func eventRouting(event string) string {
	return "evt." + event
}

// IsCanonicalRID reports whether rid is a GitHub RID in the one form a
// koi-net 2.1 peer (rid-lib 3.3) parses without re-printing it (KOI-2.1.md
// 1e): orn:github.repo:<owner>/<name>, orn:github.commit:<owner>/<name>:<sha>
// with a non-empty sha, orn:github.issue and orn:github.pr with a plain
// decimal number (no sign, no leading zero), orn:github.event with a
// non-empty id, whose owner part is <owner>/<name> or, for a delivery
// without a repository (organization, installation, sender events), the
// one login the normalizer puts there instead (see eventOwner). A peer refuses a whole request holding a malformed one and
// re-prints a non-canonical number, which breaks signatures, so nothing
// else may leave the node. RIDs of other types are not GitHub RIDs: false.
func IsCanonicalRID(rid string) bool {
	typ, ref, ok := cutType(rid)
	if !ok {
		return false
	}
	if typ == TypeRepo {
		return isFullName(ref)
	}
	i := strings.LastIndexByte(ref, ':')
	if i < 0 {
		return false
	}
	tail := ref[i+1:]
	if typ == TypeEvent {
		return tail != "" && (isFullName(ref[:i]) || isRefComponent(ref[:i]))
	}
	if !isFullName(ref[:i]) {
		return false
	}
	switch typ {
	case TypeCommit:
		return tail != ""
	case TypeIssue, TypePR:
		n, err := strconv.ParseUint(tail, 10, 63)
		return err == nil && strconv.FormatUint(n, 10) == tail
	}
	return false
}

// cutType splits a GitHub RID into its type and reference.
func cutType(rid string) (typ, ref string, ok bool) {
	for _, t := range [...]string{TypeRepo, TypeCommit, TypeIssue, TypePR, TypeEvent} {
		if r, found := strings.CutPrefix(rid, t+":"); found {
			return t, r, true
		}
	}
	return "", "", false
}
