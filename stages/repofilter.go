package stages

import (
	"context"
	"errors"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics/observed"
)

// RepoFilterName is the registered name of the repofilter stage.
const RepoFilterName = "repofilter"

// RepoFilter keeps only observations about the configured repositories
// (github.repositories in the configuration file, "owner/repo", compared
// case-insensitively as GitHub does) and drops the rest, including events
// that belong to no repository (organization or installation events).
// Place it after normalize: it reads the RID normalize sets. It is the
// shipped example of a plugged stage: nothing else knows it exists beyond its
// registration in [Builtin]. Safe for concurrent use.
type RepoFilter struct {
	allowed map[string]bool
}

// NewRepoFilter is the [Factory] of the repofilter stage. It fails when no
// repositories are configured, since the stage would then drop everything.
func NewRepoFilter(deps Deps) (Stage, error) {
	if len(deps.Repositories) == 0 {
		return nil, errors.New("repofilter: github.repositories is empty; the stage would drop everything")
	}
	f := &RepoFilter{allowed: map[string]bool{}}
	for _, r := range deps.Repositories {
		f.allowed[strings.ToLower(r)] = true
	}
	return f, nil
}

// Name implements [Stage].
func (*RepoFilter) Name() string { return RepoFilterName }

// Process implements [Stage].
func (f *RepoFilter) Process(_ context.Context, msg *message.Message) ([]*message.Message, error) {
	rid := msg.Metadata.Get(observed.HeaderRID)
	if rid == "" {
		return nil, Permanent(errors.New("repofilter: message has no RID; place repofilter after normalize"))
	}
	if f.allowed[strings.ToLower(repoOf(rid))] {
		return []*message.Message{msg}, nil
	}
	return nil, nil
}

// repoOf returns the "owner/repo" a GitHub RID is about, or "" if its
// reference does not start with one: orn:github.repo:<o>/<r>,
// orn:github.<kind>:<o>/<r>:<id>.
func repoOf(rid string) string {
	rest, ok := strings.CutPrefix(rid, "orn:github.")
	if !ok {
		return ""
	}
	_, ref, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	ownerRepo, _, _ := strings.Cut(ref, ":")
	if strings.Count(ownerRepo, "/") != 1 {
		return ""
	}
	return ownerRepo
}
