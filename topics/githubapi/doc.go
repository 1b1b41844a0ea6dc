// Package githubapi is the raw-topic format of the "github-api" source: one
// GitHub REST API response (a page of a list, or one object) as the backfill
// fetched it (pipeline/backfill). The fetcher writes these records with
// [NewMessage] before anything else happens with the page (its watermark
// moves only once the record is durable); the GitHub API parser
// (stages/github) reads them with [Parse]. Nobody else builds or takes them
// apart.
//
// A github-api raw record is
//
//   - key: [Key] of the repository, the URL and the body: a page fetched
//     again with the same contents has the same key, so the dedupe stage
//     drops it as a redelivery, and a page whose contents changed is a new
//     input. The key starts with the repository, which is also the
//     partition key (topics.HeaderPartitionKey), derived from the key as
//     that header requires: every page of one repository lands on one
//     partition, so the stages see its pages in the order they were
//     fetched and a later state of an entity never overtakes an earlier one.
//   - value: the response body exactly as received (JSON).
//   - headers: raw's own (source kind "github-api", the time of the
//     response, content type, our User-Agent), [HeaderRepo], [HeaderResource],
//     [HeaderURL] (the absolute URL requested, the Link URL as GitHub gave
//     it for later pages), [HeaderStatus], and GitHub's [HeaderETag],
//     [HeaderLastModified] and [HeaderLink] byte for byte when the response
//     had them.
//
// Only 200 responses are records: a 304 says nothing new and is not
// written; errors are the fetcher's to handle.
package githubapi
