package pipeline

import (
	"errors"

	"github.com/koistream/koistream/topics/publish"
)

// publishSource is the publish source: JSON objects PUT or POSTed to the
// stream listener, appended to the raw topic as topics/publish records and
// parsed by stages/publish. Its intake is the stream listener's PUT and
// POST (pipeline/streams), which startStreams serves on its own listener
// (GitPubSub's and PyPubSub's publishers send to the port they subscribe
// on) rather than on SourceDeps.Mux; Start therefore only checks that the
// intake has what it needs.
func publishSource() Source {
	return Source{
		Kind: publish.SourceKind,
		Start: func(d SourceDeps) error {
			if d.Publisher == nil || d.RawTopic == "" {
				return errors.New("the publish intake needs a publisher and the raw topic")
			}
			return nil
		},
	}
}
