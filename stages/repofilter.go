package stages

import (
	"context"
	"errors"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/observed"
)

// RepoFilterName is the registered name of the repofilter stage.
const RepoFilterName = "repofilter"

// RepoFilterConfig is the repofilter stage's block, given in a segment as
//
//	stages:
//	  - normalize
//	  - repofilter: {repositories: [octo/hello, octo/world]}
type RepoFilterConfig struct {
	// Repositories are the repositories to keep, "owner/repo", compared
	// case-insensitively as GitHub does. Required: without them the stage
	// would drop everything.
	Repositories []github.FullName `yaml:"repositories"`
}

// RepoFilter keeps only observations about the repositories of its block
// and drops the rest, including events that belong to no repository
// (organization or installation events). Place it after normalize: it reads
// the RID normalize sets. It is the shipped example of a plugged stage:
// nothing else knows it exists beyond its registration in [Builtin]. Safe
// for concurrent use.
type RepoFilter struct {
	allowed map[string]bool
}

// NewRepoFilter is the [Factory] of the repofilter stage. It fails when its
// block names no repositories.
func NewRepoFilter(_ Deps, cfg Config) (Stage, error) {
	var c RepoFilterConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if len(c.Repositories) == 0 {
		return nil, cfg.Errorf("needs the repositories to keep, as {repositories: [owner/repo]}; without them it would drop everything")
	}
	f := &RepoFilter{allowed: map[string]bool{}}
	for _, r := range c.Repositories {
		// Go callers bypass the file decoder's validation.
		if err := r.Validate(); err != nil {
			return nil, cfg.Errorf("repositories %s", err)
		}
		f.allowed[strings.ToLower(string(r))] = true
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
