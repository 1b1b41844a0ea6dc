package observed

import (
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics/github"
	"github.com/koistream/koistream/topics/koi"
)

// legacyEventType is the RID type of GitHub webhook deliveries, the only
// immutable type of the builds before HeaderRouting (stages/github owns it
// now; this copy only reads old records).
const legacyEventType = "orn:github.event"

// legacy derives the routing stem and immutability of an observation
// written before HeaderRouting and HeaderImmutable existed, exactly as the
// ridify stage of those builds did: every such record came from the GitHub
// webhook source and carried its X-GitHub-Event header. An event RID
// (orn:github.event:…) routes as "evt.<X-GitHub-Event>" ("evt.unknown"
// without it) and is immutable; any other RID routes as "ent.<kind>", where
// kind is its type without "orn:github." ("ent.issue").
func legacy(rid string, md message.Metadata) (routing string, immutable bool) {
	return LegacyRouting(rid, md.Get(github.HeaderEvent))
}

// LegacyRouting is the routing stem and immutability of an observation
// written before HeaderRouting existed, given its RID and its X-GitHub-Event
// header (topics/github.HeaderEvent, "" when absent): what Parse and
// ParseHeaders fill in for such a record, for readers that take headers
// straight from a Kafka record.
func LegacyRouting(rid, event string) (routing string, immutable bool) {
	typ, _ := koi.RIDType(rid)
	if typ == legacyEventType {
		if event == "" {
			event = "unknown"
		}
		return "evt." + event, true
	}
	return "ent." + strings.TrimPrefix(typ, "orn:github."), false
}
