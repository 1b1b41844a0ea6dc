// Package streams is the grammar of stream paths, the names under which the
// stream listener shows events and publishers publish them, shared by every
// writer (the sources that set an observation's path, the publish intake)
// and every reader (the stream subscriptions, the replay command).
//
// A path is what GitPubSub and PyPubSub call a URI: "/github/octo/hello/push",
// "/git/demo/commit". It is split on '/' into topics, empty segments dropped,
// as PyPubSub does; a subscription matches an event when every topic of one
// of its ','-separated alternatives is among the event's topics (see
// package replay). Topics are literal: there are no pattern characters, so
// no subscriber can make the server misread a path, as GitPubSub's Lua
// patterns let "/a(" crash it (PUBSUB.md 1.3).
//
// A topic is valid UTF-8 without control characters, without ',' (the
// subscription OR) and is neither "." nor ".." (which proxies and clients
// resolve as directory steps, so a path holding one would not name what it
// seems to). A path is at most [MaxPathLen] bytes.
package streams
