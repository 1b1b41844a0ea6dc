// Package github turns raw GitHub webhook deliveries into canonical KOI-net
// observations keyed by RID: it is the normalize stage's parser for the
// "github-webhook" source kind ([ParseWebhook], registered in stages'
// BuiltinParsers), and it owns the GitHub RID types ([TypeEvent] and the
// others, with their constructors). It keeps no state between calls, and
// every function is safe for concurrent use by multiple goroutines.
//
// The wire format it reads (header names, delivery and event checks, body
// decoding) is topics/github's, shared with the webhook source, which must
// not depend on a stage.
//
// A delivery, as stored in the raw topic, is an [Input]. [Normalize] extracts
// the JSON payload from the body according to its content type, parses it
// once and returns its observations (topics/observed):
//
//   - always one event observation, orn:github.event:<owner>/<repo>:<delivery>,
//     whose contents are {"webhook_event_type", "action"?, "repository"?,
//     "payload"} with the payload embedded byte for byte;
//   - a repository observation, orn:github.repo:<owner>/<repo>, whenever the
//     payload carries a repository (a forget when the repository was deleted);
//   - for a repository renamed or transferred, also a forget of the RID the
//     repository had before, its owner and name taken from the payload's
//     changes;
//   - commit observations for push events, an issue observation for issues and
//     issue_comment events, and a pull request observation for pull_request
//     events; an issue transferred to another repository is a forget of its
//     RID in the repository the delivery came from, plus an upsert under its
//     new RID when changes carries the new issue and repository.
//
// Only the RID of the renamed repository or the transferred issue itself
// moves: the issues, pull requests and commits observed under a
// repository's old name keep their old RIDs (nothing here knows what was
// observed before).
//
// Entity contents use a fixed, documented field set per entity type (see
// [Normalize]) so that the REST API view of the same object can be mapped to
// the same set and hash the same downstream. Contents are deterministic: the
// same input always yields byte-identical observations.
//
// [ParseAPI] is the normalize stage's parser for the "github-api" source
// kind (topics/githubapi): the backfill's REST responses become the same
// entity observations, their contents written by the same functions
// (contents.go), so the same state seen both ways hashes the same. It makes
// no event observations.
//
// Branches and tags (the create and delete events, and the refs of push
// events) get no entity observation. rid-lib, which Python KOI-net consumers
// use to recognise RID types, ships no GitHub branch or tag type, and the
// design (DESIGN.md, "RIDs") lists only the event, repo, commit, issue and pr
// types; an orn:github.branch RID would be opaque to every other node. Those
// events are still published as event observations, and their commits
// appear as commit observations when a push carries them.
package github
