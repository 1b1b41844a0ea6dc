package events

import "strings"

// ghtorrentCollections maps the entity routing stems the events topic
// carries ("ent.issue") to the MongoDB collection names GHTorrent's stream
// used in its routing keys (PUBSUB.md 4.2), so consumers written for
// GHTorrent bind unchanged.
var ghtorrentCollections = map[string]string{
	"ent.repo":   "ent.repos",
	"ent.commit": "ent.commits",
	"ent.issue":  "ent.issues",
	"ent.pr":     "ent.pull_requests",
}

// GHTorrentKey returns the GHTorrent form of an events record's routing key
// (HeaderRoutingKey): event keys lose the underscores of GitHub's event
// names, as GHTorrent spelled the Events API types lower-cased without
// "Event" ("evt.pull_request.insert" becomes "evt.pullrequest.insert"),
// and entity keys name GHTorrent's collections ("ent.issue.update" becomes
// "ent.issues.update"). Other keys are returned unchanged. The stream
// listener's ?key= filter and the AMQP sink use this form; the topic keeps
// the form it has carried since its first records.
func GHTorrentKey(key string) string {
	if strings.HasPrefix(key, "evt.") {
		return strings.ReplaceAll(key, "_", "")
	}
	if stem, op, ok := cutLast(key); ok {
		if c, found := ghtorrentCollections[stem]; found {
			return c + "." + op
		}
	}
	return key
}

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}
