package topics

// Kafka header keys written on raw records and carried forward through the
// stages as watermill metadata. GitHub's own headers keep their names as
// GitHub sends them, so a kcat reader sees what GitHub sent.
const (
	// HeaderSourceKind names the kind of source that produced a raw record,
	// e.g. SourceGitHubWebhook.
	HeaderSourceKind = "koistream-source"
	// HeaderReceivedAt is the time the source received the input, RFC 3339
	// with nanoseconds, UTC.
	HeaderReceivedAt = "koistream-received-at"
	// HeaderContentType is the content type the input arrived with.
	HeaderContentType = "content-type"
	// HeaderGitHubEvent is GitHub's X-GitHub-Event header.
	HeaderGitHubEvent = "X-GitHub-Event"
	// HeaderGitHubDelivery is GitHub's X-GitHub-Delivery header: a GUID per
	// event that stays the same on redelivery.
	HeaderGitHubDelivery = "X-GitHub-Delivery"
	// HeaderGitHubHookID is GitHub's X-GitHub-Hook-ID header.
	HeaderGitHubHookID = "X-GitHub-Hook-ID"
	// HeaderGitHubTargetType is GitHub's
	// X-GitHub-Hook-Installation-Target-Type header.
	HeaderGitHubTargetType = "X-GitHub-Hook-Installation-Target-Type"
	// HeaderGitHubTargetID is GitHub's X-GitHub-Hook-Installation-Target-ID
	// header.
	HeaderGitHubTargetID = "X-GitHub-Hook-Installation-Target-ID"
	// HeaderUserAgent is the User-Agent the input arrived with.
	HeaderUserAgent = "user-agent"

	// HeaderSourceKey is the source-unique id of the input a derived record
	// came from (for a webhook, its delivery GUID).
	HeaderSourceKey = "koistream-source-key"
	// HeaderRawPartition and HeaderRawOffset locate the raw record a derived
	// record came from.
	HeaderRawPartition = "koistream-raw-partition"
	// HeaderRawOffset: see HeaderRawPartition.
	HeaderRawOffset = "koistream-raw-offset"
	// HeaderRID is the RID a derived record is about.
	HeaderRID = "koistream-rid"
	// HeaderOp is what an observation says about its RID: "upsert" or
	// "forget".
	HeaderOp = "koistream-op"
	// HeaderEventType is the KOI event type (NEW, UPDATE, FORGET) of a record
	// on the events topic.
	HeaderEventType = "koistream-event-type"
	// HeaderRoutingKey is the GHTorrent-style routing key of an event, e.g.
	// "evt.push.insert".
	HeaderRoutingKey = "koistream-routing-key"
)

// SourceGitHubWebhook is the HeaderSourceKind value of GitHub webhook
// deliveries.
const SourceGitHubWebhook = "github-webhook"
