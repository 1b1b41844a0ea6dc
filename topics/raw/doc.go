// Package raw is the schema of the raw topic, koistream's system of record:
// one record per input, exactly as a source received it, never rewritten.
// Every source writes its records with [NewMessage] and every reader takes
// them apart with [Parse]. A source kind with a package of its own
// (topics/githubapi, topics/eventhive, topics/publish, topics/koinet)
// declares a [Format] there, which writes its kind and default content type
// and refuses other kinds' records with that package's error sentinel.
//
// A raw record is
//
//   - key: the source-unique id of the input (for a GitHub webhook, its
//     X-GitHub-Delivery GUID, the same on redelivery). Never empty.
//   - value: the input's body, byte for byte.
//   - headers: [HeaderSource], the source kind ("github-webhook"), which
//     names the parser that reads the record; [HeaderReceivedAt], when the
//     source received the input, RFC 3339 with nanoseconds in UTC;
//     [HeaderContentType], the body's media type as received (may be
//     empty); [HeaderUserAgent] when the input came with one; the source's
//     own headers under the names its package gives them (topics/github for
//     GitHub webhooks); and the trace context the publisher adds
//     (traceparent).
//
// Header values are the ones the log has carried since its first records, so
// existing logs stay readable.
package raw
