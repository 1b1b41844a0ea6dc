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
	typ, _ := koi.RIDType(rid)
	if typ == legacyEventType {
		event := md.Get(github.HeaderEvent)
		if event == "" {
			event = "unknown"
		}
		return "evt." + event, true
	}
	return "ent." + strings.TrimPrefix(typ, "orn:github."), false
}
