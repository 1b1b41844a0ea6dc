package replay_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/koistream/koistream/replay"
	"github.com/koistream/koistream/topics/streams"
)

// item returns an item with the topics of path and the routing key key,
// all Match looks at.
func item(t testing.TB, path, key string) *replay.Item {
	t.Helper()
	tops, err := streams.Topics(path)
	if err != nil {
		t.Fatal(err)
	}
	return &replay.Item{Path: path, Topics: tops, Key: key}
}

// TestFilterTopics is the topic-set table: PyPubSub's rules (PUBSUB.md
// 2.4), its README matrix, what they give GitPubSub's prefix subscribers,
// ',' alternatives, and literal topics where GitPubSub had Lua patterns.
func TestFilterTopics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, sub, event string
		want             bool
	}{
		// The PyPubSub README matrix: an event tagged fruits+apples+red.
		{"README fruits/apples", "/fruits/apples", "/fruits/apples/red", true},
		{"README apples", "/apples", "/fruits/apples/red", true},
		{"README red", "/red", "/fruits/apples/red", true},
		{"README all three", "/fruits/apples/red", "/fruits/apples/red", true},
		{"README bananas", "/fruits/bananas", "/fruits/apples/red", false},
		{"order does not matter", "/red/apples/fruits", "/fruits/apples/red", true},
		{"more topics than the event", "/fruits/apples/red/big", "/fruits/apples/red", false},
		{"repeated topic", "/apples/apples", "/fruits/apples/red", true},
		{"empty segments dropped", "//apples//", "/fruits/apples/red", true},
		{"no leading slash", "apples", "/fruits/apples/red", true},
		{"whole topics only", "/fruit", "/fruits/apples/red", false},
		{"case matters", "/Apples", "/fruits/apples/red", false},
		{"slash is everything", "/", "/fruits/apples/red", true},
		{"empty is everything", "", "/fruits/apples/red", true},
		// GitPubSub prefixes, subsumed on whole topics.
		{"git prefix", "/git", "/git/demo/commit", true},
		{"git repo prefix", "/git/demo", "/git/demo/commit", true},
		{"json does not match jsonfoo", "/json", "/jsonfoo", false},
		{"json matches json/bar", "/json", "/json/bar", true},
		{"json-x is literal", "/json-x", "/jsox", false},
		{"json-x matches itself", "/json-x", "/json-x", true},
		// Alternatives.
		{"OR second", "/bananas,/apples", "/fruits/apples/red", true},
		{"OR first", "/apples,/bananas", "/fruits/apples/red", true},
		{"OR none", "/bananas,/pears", "/fruits/apples/red", false},
		{"OR of sets", "/fruits/pears,/fruits/red", "/fruits/apples/red", true},
		{"OR with an empty alternative", "/bananas,/", "/fruits/apples/red", true},
		{"OR with a trailing comma", "/bananas,", "/fruits/apples/red", true},
		// Pattern characters are literal.
		{"open paren literal", "/a(", "/a(", true},
		{"open paren is no pattern", "/a(", "/ab", false},
		{"percent literal", "/%", "/%", true},
		{"percent is no pattern", "/%a", "/ba", false},
		{"star literal", "/json/*", "/json/x", false},
		{"dot is no wildcard", "/a.c", "/abc", false},
		{"non-ASCII", "/größe", "/x/größe", true},
		{"event without topics", "/a", "/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := replay.NewFilter(tt.sub, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(item(t, tt.event, "evt.push.insert")); got != tt.want {
				t.Errorf("NewFilter(%q).Match(%q) = %v, want %v", tt.sub, tt.event, got, tt.want)
			}
		})
	}
}

// TestFilterRefusesPath checks hostile and malformed subscription paths
// are refused with ErrBadFilter saying why, and never panic.
func TestFilterRefusesPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, wantErr string
	}{
		{"dot dot", "..", `".." is not a topic`},
		{"dot dot inside", "/a/../b", `".." is not a topic`},
		{"dot", "/a/./b", `"." is not a topic`},
		{"dot dot in an alternative", "/a,/b/..", `path alternative "/b/.."`},
		{"10 KB path", "/" + strings.Repeat("a", 10<<10), "more than 1024"},
		{"10 KB of alternatives", strings.Repeat("/a,", 4000), "more than 1024"},
		{"NUL", "/a\x00b", "control character"},
		{"newline", "/a\nb", "control character"},
		{"DEL", "/a\x7f", "control character"},
		{"C1 control", "/a\u0085", "control character"},
		{"invalid UTF-8", "/a\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := replay.NewFilter(tt.path, "")
			if !errors.Is(err, replay.ErrBadFilter) || !errors.Is(err, streams.ErrInvalidPath) && !strings.Contains(err.Error(), "more than") {
				t.Fatalf("NewFilter(%.40q) = %v, %v; want ErrBadFilter", tt.path, f, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}

// TestFilterKeys is the routing-key table: RabbitMQ's topic-exchange
// binding semantics over GHTorrent-style keys.
func TestFilterKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, key string
		want         bool
	}{
		{"", "evt.push.insert", true},
		{"evt.push.insert", "evt.push.insert", true},
		{"evt.push.insert", "evt.push.insertx", false},
		{"evt.push.insert", "evt.push", false},
		{"evt.push.*", "evt.push.insert", true},
		{"evt.push.*", "evt.push", false},
		{"evt.push.*", "evt.push.insert.x", false},
		{"evt.fork.*", "evt.push.insert", false},
		{"ent.*.update", "ent.issues.update", true},
		{"ent.*.update", "ent.issues.insert", false},
		{"*.*.insert", "evt.push.insert", true},
		{"*.*.insert", "evt.insert", false},
		{"*.*.insert", "a.b.c.insert", false},
		{"#", "evt.push.insert", true},
		{"#", "", true},
		{"#.#", "a", true},
		{"#.insert", "evt.push.insert", true},
		{"#.insert", "insert", true},
		{"#.insert", "ent.issues.update", false},
		{"#.insert", "insert.x", false},
		{"evt.#", "evt.push.insert", true},
		{"evt.#", "evt", true},
		{"evt.#", "ent.issues.update", false},
		{"evt.#", "evtx.push", false},
		{"a.#.b", "a.b", true},
		{"a.#.b", "a.x.b", true},
		{"a.#.b", "a.x.y.b", true},
		{"a.#.b", "a.b.b", true},
		{"a.#.b", "a.b.c", false},
		{"a.#.b", "b", false},
		{"a.#.#.b", "a.b", true},
		{"#.b.#.c", "x.b.y.c", true},
		{"#.b.#.c", "c.b", false},
		{"#.a.#", "a", true},
		{"#.a.#", "x.y.a.z", true},
		{"#.a.#", "x.y.z", false},
		{"*.#", "a", true},
		{"*.#", "", false},
		{"*", "a", true},
		{"*", "a.b", false},
		{"*", "", false},
		{"a..b", "a..b", true},
		{"a.*.b", "a..b", true},
		{"a.*", "a.", true},
		{"#.*.*.*.#", "a.b", false},
		{"#.*.*.*.#", "a.b.c", true},
		{"ent.pull_requests.*", "ent.pull_requests.update", true},
		{"x#", "x#", true},
		{"x#", "xy", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s~%s", tt.pattern, tt.key), func(t *testing.T) {
			t.Parallel()
			f, err := replay.NewFilter("/", tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			it := &replay.Item{Key: tt.key}
			if got := f.Match(it); got != tt.want {
				t.Errorf("pattern %q, key %q: Match = %v, want %v", tt.pattern, tt.key, got, tt.want)
			}
			if got := matchKeyReference(strings.Split(tt.pattern, "."), words(tt.key)); tt.pattern != "" && got != tt.want {
				t.Errorf("the reference matcher says %v: the table is wrong", got)
			}
		})
	}
}

// TestFilterBoth checks an item must match the path and the key.
func TestFilterBoth(t *testing.T) {
	t.Parallel()
	f, err := replay.NewFilter("/git,/pr", "ent.#")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, key string
		want      bool
	}{
		{"/git/o/r/commit", "ent.commits.insert", true},
		{"/github/o/r/pr", "ent.pull_requests.update", true},
		{"/github/o/r/push", "evt.push.insert", false},
		{"/git/o/r/commit", "evt.push.insert", false},
		{"/github/o/r/issue", "ent.issues.insert", false},
	}
	for _, tt := range tests {
		t.Run(tt.path+"~"+tt.key, func(t *testing.T) {
			if got := f.Match(item(t, tt.path, tt.key)); got != tt.want {
				t.Errorf("Match(%s, %s) = %v, want %v", tt.path, tt.key, got, tt.want)
			}
		})
	}
}

// TestFilterNil checks a nil filter selects everything.
func TestFilterNil(t *testing.T) {
	t.Parallel()
	var f *replay.Filter
	if !f.Match(item(t, "/a", "b")) {
		t.Error("nil filter does not match")
	}
}

// TestFilterRefusesKey checks the key-pattern limits.
func TestFilterRefusesKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, wantErr string
	}{
		{"256 bytes", strings.Repeat("a", 256), "256 bytes, more than 255"},
		{"control", "evt.\x01", "not printable ASCII"},
		{"DEL", "evt.\x7f", "not printable ASCII"},
		{"non-ASCII", "evt.é", "not printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := replay.NewFilter("/", tt.key)
			if !errors.Is(err, replay.ErrBadFilter) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want ErrBadFilter saying %q", err, tt.wantErr)
			}
		})
	}
	if _, err := replay.NewFilter("/", strings.Repeat("a.", 127)+"#"); err != nil {
		t.Errorf("255-byte pattern refused: %v", err)
	}
}

// TestFilterMatchAllocs checks Match allocates nothing: it runs for every
// subscriber on every item.
func TestFilterMatchAllocs(t *testing.T) {
	f, err := replay.NewFilter("/bananas,/fruits/red", "#.b.#.insert")
	if err != nil {
		t.Fatal(err)
	}
	it := item(t, "/fruits/apples/red", "a.b.c.b.d.insert")
	if !f.Match(it) {
		t.Fatal("no match")
	}
	if n := testing.AllocsPerRun(100, func() { f.Match(it) }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

// words splits a routing key into AMQP words: none for "".
func words(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}

// matchKeyReference is the textbook definition of AMQP topic matching,
// against which the table and the fuzzer check Match, by dynamic
// programming: m[i][j] says whether pat[i:] matches key[j:].
func matchKeyReference(pat, key []string) bool {
	m := make([][]bool, len(pat)+1)
	for i := range m {
		m[i] = make([]bool, len(key)+1)
	}
	m[len(pat)][len(key)] = true
	for i := len(pat) - 1; i >= 0; i-- {
		for j := len(key); j >= 0; j-- {
			switch {
			case pat[i] == "#":
				m[i][j] = m[i+1][j] || j < len(key) && m[i][j+1]
			case j < len(key) && (pat[i] == "*" || pat[i] == key[j]):
				m[i][j] = m[i+1][j+1]
			}
		}
	}
	return m[0][0]
}

// BenchmarkMatch is the fan-out the hub does: 100 subscribers' filters
// (path alternatives and key patterns of the common kinds) against each
// item. ns/op is per item for all 100.
func BenchmarkMatch(b *testing.B) {
	subs := []struct{ path, key string }{
		{"/", ""}, {"/git", ""}, {"/github/koi-garden/pond-sensor/push", ""}, {"/issues,/pr", ""},
		{"/", "evt.push.*"}, {"/", "#.insert"}, {"/github", "ent.*.update"}, {"/koi-garden", "a.#.b"},
		{"/git/demo/commit,/github/demo", "*.*.insert"}, {"/pond-sensor/opened", "evt.#"},
	}
	filters := make([]*replay.Filter, 0, 100)
	for i := range 100 {
		s := subs[i%len(subs)]
		f, err := replay.NewFilter(s.path, s.key)
		if err != nil {
			b.Fatal(err)
		}
		filters = append(filters, f)
	}
	items := []*replay.Item{
		item(b, "/github/koi-garden/pond-sensor/push", "evt.push.insert"),
		item(b, "/git/koi-garden/pond-sensor/commit", "ent.commits.insert"),
		item(b, "/github/koi-garden/pond-sensor/issues/opened", "evt.issues.insert"),
		item(b, "/github/koi-garden/pond-sensor/pr", "ent.pull_requests.update"),
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, it := range items {
			for _, f := range filters {
				if f.Match(it) {
					n++
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)*len(filters)), "ns/match")
	_ = n
}
