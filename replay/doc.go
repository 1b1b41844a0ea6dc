// Package replay reads the events topic the way stream subscribers see it:
// each event as an [Item] (a JSON object with its stream path, topics,
// routing key and timestamp), selected by a [Filter] (PyPubSub topic sets
// and AMQP routing-key patterns), from any point in history named by a
// [Cursor] or a timestamp, merged across partitions in time order and then
// live, with no gap and no duplicate at the switch-over.
//
// One [Hub] per node reads the topic live, once, into a bounded ring that
// every live subscription walks at its own pace; a subscription that starts
// in the past first reads the topic itself (a catch-up) until its position
// reaches the ring, then joins it. A subscriber that falls behind the ring's
// oldest entry is cut off ([ErrFellBehind]) and resumes with its cursor: no
// subscriber holds memory in proportion to how far behind it is, which is
// what let GitPubSub's and PyPubSub's slow subscribers either lose messages
// or stall everyone (PUBSUB.md 1.8, 2.5).
//
// Positions are Kafka offsets, so a cursor stays valid across restarts of
// the node, unlike PyPubSub's, which are regenerated when its backlog is
// reloaded (PUBSUB.md 2.5).
package replay
