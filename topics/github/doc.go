// Package github is GitHub's webhook wire format as it lands in the raw
// topic: the source kind [SourceKind], the X-GitHub-* header names GitHub
// sends and the raw record keeps, the checks a delivery's event name and
// delivery id must pass ([CheckEvent], [CheckDelivery]), and how a body is
// decoded into its JSON payload ([DecodeBody], [ExtractPayload]).
//
// The webhook source (pipeline/webhook) refuses with these checks what the
// GitHub parser (stages/github) would refuse later, so a delivery the source
// accepted is one the parser can read. Both import this package and neither
// imports the other: a source does not depend on a stage.
//
// A GitHub webhook raw record (topics/raw) is keyed by the X-GitHub-Delivery
// GUID, its value is the request body byte for byte (JSON, or a form whose
// payload field holds the JSON), its content-type header is the request's
// Content-Type, and it keeps the headers [HeaderEvent], [HeaderDelivery],
// [HeaderHookID], [HeaderTargetType], [HeaderTargetID] and
// [HeaderSignature] under GitHub's own names, so a Kafka reader sees what
// GitHub sent.
//
// Everything here is stateless and safe for concurrent use.
package github
