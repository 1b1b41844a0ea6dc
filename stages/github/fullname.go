package github

import (
	"fmt"
	"regexp"
	"strings"
)

// FullName is a repository named as GitHub's full_name spells it,
// "owner/repo", as configuration gives it (repofilter's repositories, the
// sensor's github.repositories). GitHub compares names case-insensitively.
type FullName string

// fullNameRE accepts GitHub's owner names (letters, digits, hyphens;
// underscores for enterprise managed users) and repository names (letters,
// digits, '.', '-', '_').
var fullNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}/[A-Za-z0-9._-]{1,100}$`)

// Validate reports whether n is "owner/repo" with names GitHub allows.
func (n FullName) Validate() error {
	_, repo, _ := strings.Cut(string(n), "/")
	if !fullNameRE.MatchString(string(n)) || repo == "." || repo == ".." {
		return fmt.Errorf("must be a repository as \"owner/repo\", got %q", string(n))
	}
	return nil
}
