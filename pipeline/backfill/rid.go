package backfill

import (
	"fmt"
	"strconv"
	"strings"

	gh "github.com/koistream/koistream/stages/github"
)

// EntityRef is a parsed orn:github.repo|issue|pr|commit RID.
type EntityRef struct {
	// Type is one of stages/github's TypeRepo, TypeIssue, TypePR,
	// TypeCommit.
	Type string
	// Repo is "owner/repo".
	Repo string
	// Number is the issue or pull request number; SHA the commit's.
	Number int64
	SHA    string
}

// ParseRID parses an entity RID: orn:github.repo:<owner>/<repo>,
// orn:github.issue:<owner>/<repo>:<number>, orn:github.pr:<owner>/<repo>:<number>
// or orn:github.commit:<owner>/<repo>:<sha> with the full lower-case sha.
// Other types (events) and malformed references are errors.
func ParseRID(rid string) (EntityRef, error) {
	bad := func(why string) (EntityRef, error) {
		return EntityRef{}, fmt.Errorf("backfill: RID %.120q %s", rid, why)
	}
	for _, typ := range []string{gh.TypeRepo, gh.TypeIssue, gh.TypePR, gh.TypeCommit} {
		ref, ok := strings.CutPrefix(rid, typ+":")
		if !ok {
			continue
		}
		e := EntityRef{Type: typ}
		if typ == gh.TypeRepo {
			e.Repo = ref
		} else {
			i := strings.LastIndexByte(ref, ':')
			if i < 0 {
				return bad("has no number or SHA")
			}
			e.Repo, ref = ref[:i], ref[i+1:]
			if typ == gh.TypeCommit {
				// The full lower-case SHA only (SHA-1 or SHA-256), as
				// the webhook path and the parser spell commit RIDs: a
				// short or upper-case one is never in the cache, so
				// fetching it could only end deferred.
				if (len(ref) != 40 && len(ref) != 64) || strings.Trim(ref, "0123456789abcdef") != "" {
					return bad("has no full lower-case hexadecimal SHA")
				}
				e.SHA = ref
			} else {
				n, err := strconv.ParseInt(ref, 10, 64)
				if err != nil || n < 1 || strconv.FormatInt(n, 10) != ref {
					return bad("has no positive decimal number")
				}
				e.Number = n
			}
		}
		if err := validRepo(e.Repo); err != nil {
			return bad("does not name owner/repo")
		}
		return e, nil
	}
	return bad("is not a GitHub repository, issue, pull request or commit")
}
