package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/topics/koi"
)

// KOI-net defaults, as the Python reference has them where it has them.
const (
	// DefaultPollingInterval is how often a PARTIAL node polls its
	// neighbours (koi-net's polling_interval, 5 s).
	DefaultPollingInterval = 5 * time.Second
	// DefaultQueueLimit bounds each subscriber's outbound queue, in events.
	// A subscriber that falls further behind loses the oldest events (it
	// can catch up with /rids/fetch, as a reference node does when it
	// subscribes); the drops are counted in /metrics. At a few kilobytes an
	// event, 100,000 events keep a day of a busy organisation's webhooks
	// for a peer that is down, in a few hundred megabytes of disk.
	DefaultQueueLimit = 100_000
)

// KOIConfig is a node's part in a KOI-net network (the koi_net block of the
// configuration file). The zero value, after setDefaults, is a FULL node
// with no first contact, interested in orn:koi-net.node as the reference's
// default is.
type KOIConfig struct {
	// NodeType is "FULL" (serves the KOI-net API at its base_url; the
	// default) or "PARTIAL" (a client only: its profile's base_url is null,
	// and it polls its neighbours for events).
	NodeType string
	// FirstContactRID and FirstContactURL name the node introduced to at
	// start (koi_net.first_contact). The URL alone is the koi-net 1.0 form:
	// the node then speaks 1.0 (unsigned) to it.
	FirstContactRID string
	// FirstContactURL is the first contact's KOI-net base URL, ending in
	// its API path (http://127.0.0.1:8080/koi-net).
	FirstContactURL string
	// RidTypesOfInterest are the RID types the node subscribes to at other
	// nodes (koi_net.rid_types_of_interest). Nil means the reference's
	// default, [orn:koi-net.node], unless AllRidTypes is set.
	RidTypesOfInterest []string
	// AllRidTypes subscribes to every type a peer provides
	// (rid_types_of_interest: null in the file).
	AllRidTypes bool
	// Protocol is "" (recognise each peer's protocol per request; speak
	// 2.x signed envelopes when we start a conversation) or "1.0" (speak
	// unsigned koi-net 1.0 and name the node <name>+<uuid4>). A first
	// contact given as a bare URL implies "1.0".
	Protocol string
	// PollingInterval is how often a PARTIAL node polls. Defaults to
	// DefaultPollingInterval.
	PollingInterval time.Duration
	// QueueLimit bounds each subscriber's outbound queue, in events.
	// Defaults to DefaultQueueLimit.
	QueueLimit int
	// BodyBudget bounds the bytes of request bodies the KOI-net API holds
	// in memory at once across all its endpoints (koiapi.Config.BodyBudget):
	// a request that does not fit beside those in flight is answered 503
	// over_budget with Retry-After, and the peer sends it again. Zero
	// means koiapi.DefaultBodyBudget (128 MiB); otherwise at least
	// koiapi.DefaultMaxBroadcastBody, so that the largest broadcast fits
	// alone.
	BodyBudget int64
}

// The node types of a KOIConfig.
const (
	NodeTypeFull    = "FULL"
	NodeTypePartial = "PARTIAL"
)

// ProtocolV1 is KOIConfig.Protocol for koi-net 1.0 networks.
const ProtocolV1 = "1.0"

func (k *KOIConfig) setDefaults() {
	if k.NodeType == "" {
		k.NodeType = NodeTypeFull
	}
	if k.RidTypesOfInterest == nil && !k.AllRidTypes {
		k.RidTypesOfInterest = []string{koi.TypeKoiNetNode}
	}
	if k.Protocol == "" && k.FirstContactURL != "" && k.FirstContactRID == "" {
		k.Protocol = ProtocolV1
	}
	if k.PollingInterval == 0 {
		k.PollingInterval = DefaultPollingInterval
	}
	if k.QueueLimit == 0 {
		k.QueueLimit = DefaultQueueLimit
	}
	if k.BodyBudget == 0 {
		k.BodyBudget = koiapi.DefaultBodyBudget
	}
}

// Validate reports the first setting a node cannot run with.
func (k *KOIConfig) Validate() error {
	switch k.NodeType {
	case NodeTypeFull, NodeTypePartial:
	default:
		return fmt.Errorf("config: koi_net node type must be FULL or PARTIAL, got %q", k.NodeType)
	}
	switch k.Protocol {
	case "", ProtocolV1:
	default:
		return fmt.Errorf("config: koi_net protocol must be empty or %q, got %q", ProtocolV1, k.Protocol)
	}
	if k.FirstContactRID != "" {
		if t, err := koi.RIDType(k.FirstContactRID); err != nil || t != koi.TypeKoiNetNode {
			return fmt.Errorf("config: koi_net first contact rid %q is not an orn:koi-net.node RID", k.FirstContactRID)
		}
		if k.FirstContactURL == "" {
			return errors.New("config: koi_net first contact has a rid but no url")
		}
	}
	if k.FirstContactURL != "" {
		if err := HTTPURL(k.FirstContactURL).Validate(); err != nil {
			return fmt.Errorf("config: koi_net first contact url: %w", err)
		}
	}
	for _, t := range k.RidTypesOfInterest {
		if err := RIDType(t).Validate(); err != nil {
			return fmt.Errorf("config: koi_net rid type of interest: %w", err)
		}
	}
	if k.PollingInterval < 0 || k.QueueLimit < 0 {
		return errors.New("config: koi_net polling interval and queue limit must not be negative")
	}
	if k.BodyBudget != 0 && k.BodyBudget < koiapi.DefaultMaxBroadcastBody {
		return fmt.Errorf("config: koi_net body budget %d is smaller than a broadcast body may be (%d)", k.BodyBudget, koiapi.DefaultMaxBroadcastBody)
	}
	return nil
}
