// Package dead is the schema of the dead topic: the records a stage could
// not process, kept with the reason, so nothing is dropped silently. The
// pipeline marks a failing input with [Mark] on its way there; readers take
// a dead record's failure apart with [Parse].
//
// A dead record is the failing input unchanged, plus headers:
//
//   - key: the input's key. value: the input's value.
//   - headers: the input's headers; [HeaderReason], the error that sent it
//     here, and [HeaderPoisonedTopic], [HeaderPoisonedHandler] and
//     [HeaderPoisonedSubscriber], which watermill's PoisonQueue middleware
//     writes under these names (empty in koistream, whose segment runner is
//     not a watermill Router and so has no router context to fill them
//     from); [HeaderFailedStage], the stage that returned the error (absent
//     when none did, as after a recovered panic); [HeaderFailedSegment], the
//     segment it ran in; [HeaderOriginTopic], [HeaderOriginPartition] and
//     [HeaderOriginOffset], where the input was in the log.
package dead
