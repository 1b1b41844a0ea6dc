// Package backfill fetches GitHub repositories' history from the REST API
// at the lowest cost the API allows, and lands every 200 response in the
// raw topic as a github-api record (topics/githubapi) before anything else
// happens with it.
//
// Per repository a pass fetches the repository object, the events feed (a
// cheap change signal, polled no faster than X-Poll-Interval), issues
// (state=all&sort=updated&direction=asc&since=<watermark>, pull requests
// included), pull requests (state=all&sort=updated&direction=desc, stopping
// at the watermark: pulls have no since) and the default branch's commits
// (since=<watermark>). Pages are followed by their Link URLs verbatim,
// except the issues': Link pages there are offsets into a list that an
// edit reorders (the edited issue moves to the end, every later one a
// place up, and the one first on the next page would slip onto a page
// already read and be lost), so each next page of issues is a new since
// query from the newest updated_at read, a second early, re-reading that
// second's items (about one a page; dedupe drops them). Only a page that
// falls within one second, where since cannot move, is followed by Link.
// ETag and Last-Modified are kept per (token, URL) in Pebble and sent back
// byte for byte, so a pass over an unchanged repository costs one
// conditional request per list, each answered 304 (free when authorized).
//
// Watermarks live in the same Pebble and move only after the sink
// returned for the page that justifies them: a crash resumes at the page
// after the last durable one, refetching at most the one page whose
// record was durable but whose state had not moved yet.
//
// Requests are serial per token; rate limits are obeyed as GitHub documents
// them (primary: wait until x-ratelimit-reset or rotate to the next token;
// secondary: Retry-After, else at least 60 s with exponential backoff and a
// bound), 5xx and network errors are retried with backoff, and every wait
// goes through the injected Clock. The package also redelivers failed
// webhook deliveries (RecoverDeliveries) and fetches single entities by RID
// (Fetch). fakegithub is the fake API its tests run against.
package backfill
