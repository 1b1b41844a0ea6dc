package replay

// Filter selects the items a subscription shows: by topic set (the
// subscription path, PyPubSub's rules, ',' for OR) and by routing-key
// pattern (AMQP topic wildcards). A Filter is immutable and safe for
// concurrent use.
type Filter struct {
	any  [][]string // alternatives, each a set of topics that must all be present
	key  []string   // pattern words; nil matches every key
	all  bool
}

// NewFilter returns the filter of a subscription to path (a stream path
// whose ','-separated alternatives each name topics that must all be among
// an item's topics; "/" or "" selects everything) and key (an AMQP
// topic-exchange pattern over the item's routing key, '*' one word, '#'
// zero or more; "" selects every key). STUB: matches everything; the
// real matcher replaces it.
func NewFilter(path, key string) (*Filter, error) {
	return &Filter{all: true}, nil
}

// Match reports whether the filter selects it.
func (f *Filter) Match(it *Item) bool { return true }
