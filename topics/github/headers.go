package github

// SourceKind is the raw record's source kind (raw.HeaderSource) of GitHub
// webhook deliveries.
const SourceKind = "github-webhook"

// GitHub's webhook request headers, kept on the raw record under these
// names. Kafka header names are case-sensitive: these are the spellings
// GitHub documents, and the spellings the raw topic has always carried.
const (
	// HeaderEvent is the event name, for example "push" or "issues";
	// see CheckEvent.
	HeaderEvent = "X-GitHub-Event"
	// HeaderDelivery is the delivery GUID, the same on redelivery; see
	// CheckDelivery. It is also the raw record's key.
	HeaderDelivery = "X-GitHub-Delivery"
	// HeaderHookID is the id of the webhook that sent the delivery.
	HeaderHookID = "X-GitHub-Hook-ID"
	// HeaderTargetType is the kind of resource the webhook is installed
	// on: "repository", "organization", "integration" and so on.
	HeaderTargetType = "X-GitHub-Hook-Installation-Target-Type"
	// HeaderTargetID is the id of the resource the webhook is installed on.
	HeaderTargetID = "X-GitHub-Hook-Installation-Target-ID"
	// HeaderSignature is the HMAC-SHA256 of the body under the webhook
	// secret, "sha256=<hex>". The raw record keeps it so the delivery can
	// be verified again later.
	HeaderSignature = "X-Hub-Signature-256"
)
