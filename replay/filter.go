package replay

import (
	"errors"
	"fmt"
	"strings"

	"github.com/koistream/koistream/topics/streams"
)

// ErrBadFilter is wrapped by NewFilter's errors: the subscription path or
// the routing-key pattern is not one NewFilter accepts. The error says
// which and why, for the 400 the stream listener answers.
var ErrBadFilter = errors.New("replay: bad filter")

// MaxKeyPatternLen is the longest routing-key pattern NewFilter accepts, in
// bytes: AMQP's limit on routing keys and binding keys (a shortstr).
const MaxKeyPatternLen = 255

// Filter selects the items a subscription shows: by topic set (the
// subscription path, PyPubSub's rules, ',' for OR) and by routing-key
// pattern (AMQP topic wildcards). A Filter is immutable and safe for
// concurrent use; Match allocates nothing.
type Filter struct {
	any [][]string // alternatives, each a set of topics that must all be present
	key []string   // pattern words; nil matches every key
	all bool       // the path selects every item
}

// NewFilter returns the filter of a subscription to path and key.
//
// path is PyPubSub's (PUBSUB.md 2.4): split on ',' into alternatives, each
// split on '/' with empty segments dropped; an item matches an alternative
// when every topic of it is among the item's topics (a set: order and
// repetition do not matter, and only whole topics match, so "/json" does
// not select "/jsonfoo" as GitPubSub's prefixes did, while "/git" selects
// everything under /git). An alternative without topics, and so "/" and
// "", selects every item. Topics are literal: "/a(" selects items with the
// topic "a(", and nothing in a path is a pattern. Each alternative must be
// a valid path (topics/streams.CheckPath: no "." or ".." topic, no control
// character, valid UTF-8) and the whole path at most streams.MaxPathLen
// bytes, which bounds what one subscriber costs every item.
//
// key is an AMQP topic-exchange binding pattern (RabbitMQ's semantics) over
// the item's routing key (Item.Key, GHTorrent's form): words separated by
// '.', "*" matching exactly one word and "#" zero or more ("evt.push.*",
// "ent.*.update", "#.insert", "evt.#"). "" selects every key. A pattern
// longer than MaxKeyPatternLen bytes or holding a byte that is not
// printable ASCII is refused.
//
// Errors wrap ErrBadFilter and quote the offending part cut to 80 bytes.
func NewFilter(path, key string) (*Filter, error) {
	f := &Filter{}
	if len(path) > streams.MaxPathLen {
		return nil, fmt.Errorf("%w: path of %d bytes, more than %d", ErrBadFilter, len(path), streams.MaxPathLen)
	}
	for alt := range strings.SplitSeq(path, ",") {
		if err := streams.CheckPath(alt); err != nil {
			return nil, fmt.Errorf("%w: path alternative %.80q: %w", ErrBadFilter, alt, err)
		}
		var set []string
		for t := range strings.SplitSeq(alt, "/") {
			if t != "" && !contains(set, t) {
				set = append(set, t)
			}
		}
		if len(set) == 0 {
			f.all = true
		}
		f.any = append(f.any, set)
	}
	if f.all {
		f.any = nil
	}
	if err := checkKeyPattern(key); err != nil {
		return nil, err
	}
	if key != "" {
		f.key = strings.Split(key, ".")
		if allHash(f.key) {
			f.key = nil // "#" alone (or "#.#") matches every key
		}
	}
	return f, nil
}

func checkKeyPattern(key string) error {
	if len(key) > MaxKeyPatternLen {
		return fmt.Errorf("%w: key pattern of %d bytes, more than %d", ErrBadFilter, len(key), MaxKeyPatternLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: key pattern %.80q: byte %#02x at %d is not printable ASCII", ErrBadFilter, key, c, i)
		}
	}
	return nil
}

func allHash(words []string) bool {
	for _, w := range words {
		if w != "#" {
			return false
		}
	}
	return true
}

func contains(set []string, s string) bool {
	for _, t := range set {
		if t == s {
			return true
		}
	}
	return false
}

// Match reports whether the filter selects it: one of the path's
// alternatives is a subset of it.Topics and the key pattern matches
// it.Key. A nil *Filter selects every item (no filter); the zero Filter,
// which only a caller bypassing NewFilter can have, selects none. It
// allocates nothing.
func (f *Filter) Match(it *Item) bool {
	if f == nil {
		return true
	}
	if !f.all && !f.matchTopics(it.Topics) {
		return false
	}
	return f.key == nil || matchKey(f.key, it.Key)
}

func (f *Filter) matchTopics(tops []string) bool {
alternatives:
	for _, set := range f.any {
		for _, t := range set {
			if !contains(tops, t) {
				continue alternatives
			}
		}
		return true
	}
	return false
}

// matchKey reports whether the routing key key matches the pattern words
// pat under AMQP topic rules. It is the glob algorithm over words, '#' as
// glob's '*' and '*' as its '?': greedy, backtracking only to the last '#'
// seen, which is enough because a later '#' can absorb whatever an earlier
// one would have; so it runs in O(len(pat) * words) at worst and allocates
// nothing. The empty key has no words; a key "a." has the words "a" and "".
func matchKey(pat []string, key string) bool {
	end := len(key) + 1 // the position past the last word
	k := 0
	if key == "" {
		k = end
	}
	p := 0
	starP, starK := -1, 0
	for k < end {
		word, next := wordAt(key, k)
		if p < len(pat) {
			switch pat[p] {
			case "#":
				starP, starK = p, k
				p++
				continue
			case "*":
				p++
				k = next
				continue
			}
			if pat[p] == word {
				p++
				k = next
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last '#' absorb one more word and retry after it.
		_, starK = wordAt(key, starK)
		p, k = starP+1, starK
	}
	for p < len(pat) && pat[p] == "#" {
		p++
	}
	return p == len(pat)
}

// wordAt returns the word of key starting at byte k and where the next
// word starts (len(key)+1 past the last).
func wordAt(key string, k int) (word string, next int) {
	if i := strings.IndexByte(key[k:], '.'); i >= 0 {
		return key[k : k+i], k + i + 1
	}
	return key[k:], len(key) + 1
}
