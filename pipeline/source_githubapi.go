package pipeline

import (
	"errors"

	"github.com/koistream/koistream/topics/githubapi"
)

// githubAPISource is the GitHub backfill: pages of GitHub's REST API,
// appended to the raw topic as topics/githubapi records and parsed by
// stages/github.ParseAPI.
func githubAPISource() Source {
	return Source{
		Kind: githubapi.SourceKind,
		Start: func(d SourceDeps) error {
			if d.Publisher == nil || d.RawTopic == "" {
				return errors.New("the GitHub backfill needs a publisher and the raw topic")
			}
			return nil
		},
	}
}
