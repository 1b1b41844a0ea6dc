package pipeline

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/koistream/koistream/pipeline/streams"
	"github.com/koistream/koistream/replay"
)

// DefaultStreamsListen is the stream listener's address: loopback, on
// PyPubSub's port.
const DefaultStreamsListen = "127.0.0.1:2069"

// StreamsConfig configures the stream listener (pipeline/streams) and the
// replay hub behind it (the koistream.streams block of the configuration
// file). The zero value, after setDefaults, listens on
// DefaultStreamsListen and trusts loopback publishers.
type StreamsConfig struct {
	// Listen is the stream listener's host:port; port 0 picks a free one
	// (Node.PubsubAddr reports it). Defaults to DefaultStreamsListen.
	Listen string
	// TrustedCIDRs may publish without a token. Nil means
	// streams.DefaultTrustedCIDRs (loopback); an empty non-nil list
	// trusts no address.
	TrustedCIDRs []netip.Prefix
	// PublishToken, when not empty, lets any client that sends it as
	// "Authorization: Bearer <token>" publish. The caller reads it from
	// the environment (the variable koistream.streams.publish_token_env
	// names), so that the library never does.
	PublishToken []byte
	// MaxPayload bounds a published body in bytes; defaults to
	// streams.DefaultMaxPayload (1 MiB).
	MaxPayload int64
	// PingInterval is how often streams get a stillalive; defaults to
	// streams.DefaultPingInterval (4 s), at most streams.MaxPingInterval.
	PingInterval time.Duration
	// RingItems and RingBytes bound the hub's ring of recent events;
	// default replay.DefaultRingItems and replay.DefaultRingBytes.
	RingItems int
	RingBytes int64
}

func (c *StreamsConfig) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultStreamsListen
	}
	if c.TrustedCIDRs == nil {
		c.TrustedCIDRs = streams.DefaultTrustedCIDRs
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = streams.DefaultMaxPayload
	}
	if c.PingInterval == 0 {
		c.PingInterval = streams.DefaultPingInterval
	}
	if c.RingItems == 0 {
		c.RingItems = replay.DefaultRingItems
	}
	if c.RingBytes == 0 {
		c.RingBytes = replay.DefaultRingBytes
	}
}

// Validate reports the first problem of c. Call it after defaults.
func (c *StreamsConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config: streams listen %q: %w", c.Listen, err)
	}
	if c.MaxPayload < 1 {
		return fmt.Errorf("config: streams max payload must be at least 1 byte, got %d", c.MaxPayload)
	}
	if c.PingInterval <= 0 || c.PingInterval > streams.MaxPingInterval {
		return fmt.Errorf("config: streams ping interval must be above 0 and at most %s, got %s", streams.MaxPingInterval, c.PingInterval)
	}
	if c.RingItems < 1 || c.RingBytes < 1 {
		return fmt.Errorf("config: streams ring must hold at least 1 item and 1 byte, got %d items, %d bytes", c.RingItems, c.RingBytes)
	}
	for _, p := range c.TrustedCIDRs {
		if !p.IsValid() {
			return fmt.Errorf("config: streams trusted CIDR %q is not valid", p)
		}
	}
	return nil
}
