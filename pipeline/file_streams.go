package pipeline

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/koistream/koistream/pipeline/streams"
)

// StreamsSection is the koistream.streams block: the stream listener
// (StreamsConfig). Flags override each key they have.
type StreamsSection struct {
	// Listen is --pubsub-listen.
	Listen HostPort `yaml:"listen"`
	// TrustedCIDRs may publish without a token; [] trusts no address,
	// absent means loopback.
	TrustedCIDRs []CIDR `yaml:"trusted_cidrs"`
	// PublishTokenEnv names the variable holding the publish token
	// (default DefaultPublishTokenEnv).
	PublishTokenEnv EnvVar `yaml:"publish_token_env"`
	// MaxPayload bounds a published body in bytes; 0 means the default.
	MaxPayload Count `yaml:"max_payload"`
	// PingInterval is the stillalive interval in seconds, at most 5; 0
	// means the default.
	PingInterval Seconds `yaml:"ping_interval"`
	// RingItems and RingBytes bound the replay hub's ring; 0 means the
	// default.
	RingItems Count `yaml:"ring_items"`
	RingBytes Count `yaml:"ring_bytes"`
}

// Validate checks what the value types cannot: the ping interval's upper
// bound.
func (s StreamsSection) Validate() error {
	if time.Duration(float64(s.PingInterval)*float64(time.Second)) > streams.MaxPingInterval {
		return fmt.Errorf("ping_interval must be at most %g seconds, got %g", streams.MaxPingInterval.Seconds(), float64(s.PingInterval))
	}
	return nil
}

// CIDR is an IP prefix such as 10.0.0.0/8 or ::1/128; a bare address is
// its own /32 or /128.
type CIDR string

// Prefix returns the prefix c names. An IPv4-mapped IPv6 prefix
// (::ffff:10.0.0.0/104) is returned as the IPv4 prefix it maps, since the
// listener compares clients by their unmapped address.
func (c CIDR) Prefix() (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(string(c)); err == nil {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(string(c))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("must be a CIDR such as 10.0.0.0/8 or an address, got %q", string(c))
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate reports whether c is a CIDR or an address.
func (c CIDR) Validate() error {
	_, err := c.Prefix()
	return err
}

// DefaultPublishTokenEnv is the variable the publish token is read from
// unless koistream.streams.publish_token_env names another. Unset or
// empty means no token: only trusted addresses publish.
const DefaultPublishTokenEnv = "KOISTREAM_PUBLISH_TOKEN"

// PublishTokenEnv returns the name of the variable holding the stream
// listener's publish token.
func (f *File) PublishTokenEnv() string {
	if v := f.Koistream.Streams.PublishTokenEnv; v != "" {
		return string(v)
	}
	return DefaultPublishTokenEnv
}

// apply copies the koistream.streams block into cfg.
func (s StreamsSection) apply(cfg *StreamsConfig) error {
	if s.Listen != "" {
		cfg.Listen = string(s.Listen)
	}
	if s.TrustedCIDRs != nil {
		cfg.TrustedCIDRs = make([]netip.Prefix, len(s.TrustedCIDRs))
		for i, c := range s.TrustedCIDRs {
			p, err := c.Prefix()
			if err != nil {
				return fmt.Errorf("config: koistream.streams.trusted_cidrs: %w", err)
			}
			cfg.TrustedCIDRs[i] = p
		}
	}
	if s.MaxPayload != 0 {
		cfg.MaxPayload = int64(s.MaxPayload)
	}
	if s.PingInterval != 0 {
		cfg.PingInterval = time.Duration(float64(s.PingInterval) * float64(time.Second))
	}
	if s.RingItems != 0 {
		cfg.RingItems = int(s.RingItems)
	}
	if s.RingBytes != 0 {
		cfg.RingBytes = int64(s.RingBytes)
	}
	return nil
}
