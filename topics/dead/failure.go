package dead

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// Headers of a dead record beyond the input's own. See the package
// documentation.
const (
	// HeaderReason is the error text that sent the record here, as
	// watermill's PoisonQueue writes it (middleware.ReasonForPoisonedKey).
	HeaderReason = middleware.ReasonForPoisonedKey
	// HeaderPoisonedTopic is watermill's middleware.PoisonedTopicKey.
	HeaderPoisonedTopic = middleware.PoisonedTopicKey
	// HeaderPoisonedHandler is watermill's middleware.PoisonedHandlerKey.
	HeaderPoisonedHandler = middleware.PoisonedHandlerKey
	// HeaderPoisonedSubscriber is watermill's
	// middleware.PoisonedSubscriberKey.
	HeaderPoisonedSubscriber = middleware.PoisonedSubscriberKey
	// HeaderFailedStage is the name of the stage whose error sent the
	// record here.
	HeaderFailedStage = "koistream-failed-stage"
	// HeaderFailedSegment is the name of the segment that stage ran in.
	HeaderFailedSegment = "koistream-failed-segment"
	// HeaderOriginTopic is the topic the input was read from.
	HeaderOriginTopic = "koistream-origin-topic"
	// HeaderOriginPartition is the input's partition, in decimal.
	HeaderOriginPartition = "koistream-origin-partition"
	// HeaderOriginOffset is the input's offset, in decimal.
	HeaderOriginOffset = "koistream-origin-offset"
)

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("dead: invalid dead record")

// Origin is where a dead record's input was in the log. The zero Origin
// (empty Topic) means unknown.
type Origin struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Failure is what a dead record says about why it is there. Every field is
// optional when marking; a parsed Failure always has a Reason.
type Failure struct {
	// Reason is the error text (HeaderReason).
	Reason string
	// Stage is the failing stage (HeaderFailedStage).
	Stage string
	// Segment is the segment the stage ran in (HeaderFailedSegment).
	Segment string
	// Origin is where the input was (HeaderOrigin*).
	Origin Origin
}

// Mark writes f's non-empty fields into msg's metadata, leaving the others
// as they are: the stage chain marks the failing stage, watermill's
// PoisonQueue the reason, and the dead-letter publisher the segment and
// origin, each as it learns them. Not safe for concurrent use on one
// message, like watermill's Metadata.
func Mark(msg *message.Message, f Failure) {
	if f.Reason != "" {
		msg.Metadata.Set(HeaderReason, f.Reason)
	}
	if f.Stage != "" {
		msg.Metadata.Set(HeaderFailedStage, f.Stage)
	}
	if f.Segment != "" {
		msg.Metadata.Set(HeaderFailedSegment, f.Segment)
	}
	if f.Origin.Topic != "" {
		msg.Metadata.Set(HeaderOriginTopic, f.Origin.Topic)
		msg.Metadata.Set(HeaderOriginPartition, strconv.FormatInt(int64(f.Origin.Partition), 10))
		msg.Metadata.Set(HeaderOriginOffset, strconv.FormatInt(f.Origin.Offset, 10))
	}
}

// Parse returns the failure a dead-topic message records. It fails, with an
// error wrapping ErrInvalid, when the message has no HeaderReason (it was
// not put there by the pipeline) or an origin partition or offset that is
// not a decimal number. Stage, segment and origin are empty when absent.
func Parse(msg *message.Message) (Failure, error) {
	md := msg.Metadata
	f := Failure{
		Reason:  md.Get(HeaderReason),
		Stage:   md.Get(HeaderFailedStage),
		Segment: md.Get(HeaderFailedSegment),
	}
	if f.Reason == "" {
		return Failure{}, fmt.Errorf("%w: no %s header", ErrInvalid, HeaderReason)
	}
	if topic := md.Get(HeaderOriginTopic); topic != "" {
		part, err := strconv.ParseInt(md.Get(HeaderOriginPartition), 10, 32)
		if err != nil {
			return Failure{}, fmt.Errorf("%w: %s %.80q is not a partition", ErrInvalid, HeaderOriginPartition, md.Get(HeaderOriginPartition))
		}
		off, err := strconv.ParseInt(md.Get(HeaderOriginOffset), 10, 64)
		if err != nil {
			return Failure{}, fmt.Errorf("%w: %s %.80q is not an offset", ErrInvalid, HeaderOriginOffset, md.Get(HeaderOriginOffset))
		}
		f.Origin = Origin{Topic: topic, Partition: int32(part), Offset: off}
	}
	return f, nil
}
