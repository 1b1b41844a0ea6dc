package pipeline

import (
	"errors"

	"github.com/koistream/koistream/topics/koinet"
)

// koiNetSource is the koi-net source: KOI-net events from other nodes,
// appended to the raw topic as topics/koinet records and parsed by
// stages/koinet. Its HTTP intake is the KOI-net API's /events/broadcast
// (pipeline/koiapi), which serveHTTP mounts with the rest of the API
// (koiServer) rather than Start: the broadcast is checked with the API's
// envelope handling, identity and cache (a sender's key, the handshake,
// the signature over the bytes received), answers in the API's error
// shapes and lives under its configurable path, so it cannot be a
// separate handler on the mux. Start therefore only checks that the
// intake has what it needs; the records of polls, fetches and the node's
// own knowledge are written by the network side with the same format.
func koiNetSource() Source {
	return Source{
		Kind: koinet.SourceKind,
		Start: func(d SourceDeps) error {
			if d.Publisher == nil || d.RawTopic == "" {
				return errors.New("the koi-net intake needs a publisher and the raw topic")
			}
			return nil
		},
	}
}
