// Package amqpsink is the AMQP sink: it publishes every event of the
// events topic to a RabbitMQ topic exchange the way GHTorrent's streaming
// service did (PUBSUB.md section 4), so that consumers written for
// GHTorrent bind to it unchanged: exchange ght-streams, routing keys
// evt.<event>.insert and ent.<collection>.<op>, evt.* bodies in the GitHub
// Events API shape and ent.* bodies the entity document.
//
// The sink is a consumer of the events topic in a consumer group of its own
// (topics.BatchConsumer): it publishes a poll's records with publisher
// confirms and returns from its handler only once RabbitMQ confirmed every
// one of them, so the group's committed position passes a record only after
// RabbitMQ has it. When RabbitMQ is down or restarting the handler fails
// and the consumer offers the same records again after a backoff: nothing
// is lost, and the pipeline, which never waits for a sink, keeps going.
// Delivery is at least once: records of a batch that failed part-way are
// published again, with the same message id.
package amqpsink

import (
	"errors"
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/koistream/koistream/replay"
)

// DefaultExchange is GHTorrent's exchange name.
const DefaultExchange = "ght-streams"

// Config is an amqp sinks: entry's own keys:
//
//	sinks:
//	  - name: ght
//	    type: amqp
//	    url_env: AMQP_URL          # or url: amqp://user:pass@host:5672/vhost
//	    exchange: ght-streams      # the default
//	    persistent: true           # the default
//	    filter:
//	      rid_types: [orn:github.event, orn:github.issue]
//	      keys: ["evt.push.*", "ent.*.update"]
//
// Start from DefaultConfig, decode the entry into it, then Validate.
type Config struct {
	// URL is the broker's AMQP URL (amqp:// or amqps://). Exactly one of
	// URL and URLEnv is set.
	URL string `yaml:"url"`
	// URLEnv names the environment variable holding the URL, so that the
	// password stays out of the file.
	URLEnv string `yaml:"url_env"`
	// Exchange is the durable topic exchange published to; the sink
	// declares it (durable, type topic), which fails with RabbitMQ's
	// PRECONDITION_FAILED if an exchange of that name exists with other
	// properties. Defaults to DefaultExchange.
	Exchange string `yaml:"exchange"`
	// Filter selects the events published; the zero Filter publishes
	// every event.
	Filter Filter `yaml:"filter"`
	// Persistent sets the delivery mode: persistent (2, the default)
	// messages routed to durable queues survive a broker restart;
	// transient (1) ones do not, and cost RabbitMQ less.
	Persistent bool `yaml:"persistent"`
}

// Filter selects events by their RID type and by their routing key.
// An event is published when both lists select it; an empty list selects
// every event.
type Filter struct {
	// RIDTypes are RID types ("orn:github.event", "orn:github.issue"); an
	// event is selected when its RID's type is one of them.
	RIDTypes []string `yaml:"rid_types"`
	// Keys are AMQP topic binding patterns ("evt.push.*", "ent.#") over
	// the GHTorrent routing key the event is published with; an event is
	// selected when one of them matches.
	Keys []string `yaml:"keys"`
}

// DefaultConfig returns the defaults: exchange DefaultExchange, persistent
// messages, no filter.
func DefaultConfig() Config {
	return Config{Exchange: DefaultExchange, Persistent: true}
}

// maxShortString is AMQP's limit on an exchange name or a routing key.
const maxShortString = 255

// Validate reports the first mistake in c, in words that name the key;
// getenv reads the variable URLEnv names. It checks that exactly one of
// url and url_env is given, that the URL (or the variable's value) is an
// AMQP URL, the exchange a valid exchange name not reserved by the broker
// (amq.*), and every filter entry well-formed.
func (c Config) Validate(getenv func(string) string) error {
	switch {
	case c.URL != "" && c.URLEnv != "":
		return errors.New("give url or url_env, not both")
	case c.URL == "" && c.URLEnv == "":
		return errors.New("url or url_env is required (the broker's amqp:// URL)")
	}
	if _, err := c.uri(getenv); err != nil {
		return err
	}
	if err := checkExchange(c.Exchange); err != nil {
		return err
	}
	for i, t := range c.Filter.RIDTypes {
		if t == "" || strings.ContainsAny(t, " \t\r\n") || !strings.Contains(t, ":") {
			return fmt.Errorf("filter.rid_types[%d] %.80q is not an RID type such as orn:github.event", i, t)
		}
	}
	for i, k := range c.Filter.Keys {
		if k == "" {
			return fmt.Errorf("filter.keys[%d] is empty; \"#\" selects every key", i)
		}
		if _, err := replay.NewFilter("", k); err != nil {
			return fmt.Errorf("filter.keys[%d]: %w", i, err)
		}
	}
	return nil
}

// URI returns the broker's URL: URL, or the value of the variable URLEnv
// names. Call it on a validated Config.
func (c Config) URI(getenv func(string) string) string {
	u, _ := c.uri(getenv)
	return u
}

func (c Config) uri(getenv func(string) string) (string, error) {
	u, from := c.URL, "url"
	if c.URLEnv != "" {
		u, from = getenv(c.URLEnv), "url_env "+c.URLEnv
		if u == "" {
			return "", fmt.Errorf("url_env names %s, which is not set or empty", c.URLEnv)
		}
	}
	if _, err := amqp.ParseURI(u); err != nil {
		// The parser's error does not repeat the URL, which may hold a
		// password; neither do we.
		return "", fmt.Errorf("%s is not an amqp:// or amqps:// URL: %w", from, err)
	}
	return u, nil
}

// checkExchange applies RabbitMQ's rules for exchange names: at most 255
// bytes of letters, digits, '-', '_', '.' and ':', not starting with
// "amq." (reserved: declaring one is refused with ACCESS_REFUSED). The
// default exchange ("") routes by queue name, not by topic, so it is
// refused too.
func checkExchange(name string) error {
	switch {
	case name == "":
		return errors.New("exchange must not be empty (the default is " + DefaultExchange + ")")
	case len(name) > maxShortString:
		return fmt.Errorf("exchange name of %d bytes, more than %d", len(name), maxShortString)
	case strings.HasPrefix(name, "amq."):
		return fmt.Errorf("exchange %.80q: names starting with amq. are reserved by the broker", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return fmt.Errorf("exchange %.80q: byte %q at %d is not a letter, digit, '-', '_', '.' or ':'", name, c, i)
		}
	}
	return nil
}

// selects reports whether f selects an event whose RID has type ridType
// and whose GHTorrent routing key is key.
func (f *compiledFilter) selects(ridType, key string) bool {
	if len(f.types) > 0 {
		if _, ok := f.types[ridType]; !ok {
			return false
		}
	}
	if len(f.keys) == 0 {
		return true
	}
	it := replay.Item{Key: key}
	for _, k := range f.keys {
		if k.Match(&it) {
			return true
		}
	}
	return false
}

// compiledFilter is a validated Filter ready to match.
type compiledFilter struct {
	types map[string]struct{}
	keys  []*replay.Filter
}

func compileFilter(f Filter) (*compiledFilter, error) {
	cf := &compiledFilter{}
	if len(f.RIDTypes) > 0 {
		cf.types = make(map[string]struct{}, len(f.RIDTypes))
		for _, t := range f.RIDTypes {
			cf.types[t] = struct{}{}
		}
	}
	for _, k := range f.Keys {
		rf, err := replay.NewFilter("", k)
		if err != nil {
			return nil, err
		}
		cf.keys = append(cf.keys, rf)
	}
	return cf, nil
}
