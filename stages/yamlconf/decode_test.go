package yamlconf_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/koistream/koistream/stages/yamlconf"
)

type inner struct {
	Name string `yaml:"name"`
}

type sample struct {
	Text  string            `yaml:"text"`
	On    bool              `yaml:"on"`
	Count int               `yaml:"count"`
	Size  uint              `yaml:"size"`
	Ratio float64           `yaml:"ratio"`
	List  []string          `yaml:"list"`
	Copy  []string          `yaml:"copy"`
	Map   map[string]string `yaml:"map"`
	Inner inner             `yaml:"inner"`
	Ptr   *inner            `yaml:"ptr"`
	Any   any               `yaml:"any"`
	Tiny  int8              `yaml:"tiny"`
	Check checked           `yaml:"check"`
	Pair  pair              `yaml:"pair"`
}

// checked fails validation when it is "bad".
type checked string

func (c checked) Validate() error {
	if c == "bad" {
		return errors.New(`must not be "bad"`)
	}
	return nil
}

// pair blames one of its keys.
type pair struct {
	A int `yaml:"a"`
	B int `yaml:"b"`
}

func (p *pair) Validate() error {
	if p.B < p.A {
		return &yamlconf.KeyError{Key: "b", Err: fmt.Errorf("must be at least a (%d), got %d", p.A, p.B)}
	}
	return nil
}

func decode(text string, v any) (*yamlconf.Decoder, error) {
	d := yamlconf.NewDecoder("c.yaml")
	n, err := yamlconf.Parse("c.yaml", []byte(text))
	if err != nil {
		return d, err
	}
	return d, d.Decode(n, "", v)
}

// TestDecodeValues: every supported shape decodes, aliases resolve, null
// keeps the default, and the decoder records the keys given.
func TestDecodeValues(t *testing.T) {
	t.Parallel()
	got := sample{Text: "default", Count: 7}
	d, err := decode(`text:
on: true
size: 0x10
ratio: 2
list: &l [a, b]
copy: *l
map: {X: "1", Y: two}
inner: {name: n}
ptr: {name: p}
any: {k: [1, 2]}
pair: {a: 1, b: 2}
`, &got)
	if err != nil {
		t.Fatal(err)
	}
	want := sample{Text: "default", On: true, Count: 7, Size: 16, Ratio: 2, List: []string{"a", "b"}, Copy: []string{"a", "b"},
		Map: map[string]string{"X": "1", "Y": "two"}, Inner: inner{"n"}, Ptr: &inner{"p"},
		Any: map[string]any{"k": []any{1, 2}}, Pair: pair{1, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n %#v\nwant\n %#v", got, want)
	}
	var paths []string
	for _, k := range d.Keys() {
		paths = append(paths, k.Path)
	}
	wantPaths := []string{"on", "size", "ratio", "list", "copy", "map", "map.X", "map.Y", "inner", "inner.name",
		"ptr", "ptr.name", "any", "pair", "pair.a", "pair.b"}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Fatalf("keys %v, want %v", paths, wantPaths)
	}
}

// TestDecodeErrors: the exact one-line message of each mistake.
func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml, want string
	}{
		{"bool", "on: yes please\n", `c.yaml:1: on must be true or false, got "yes please"`},
		{"negative unsigned", "size: -1\n", `c.yaml:1: size must be a whole number, 0 or more, got -1`},
		{"overflow", "tiny: 300\n", `c.yaml:1: tiny is too large: 300`},
		{"list for text", "text: [a]\n", `c.yaml:1: text must be text, got a list`},
		{"mapping for text", "text:\n  a: b\n", `c.yaml:2: text must be text, got a mapping`},
		{"map value", "map: {a: [1]}\n", `c.yaml:1: map.a must be text, got a list`},
		{"map key twice", "map:\n  a: x\n  a: y\n", `c.yaml:3: key "a" in map is given twice (first on line 2)`},
		{"pointer struct", "ptr: {nam: x}\n", `c.yaml:1: unknown key "nam" in ptr (did you mean "name"?)`},
		{"list element", "list: [a, {b: c}]\n", `c.yaml:1: list[1] must be text, got a mapping`},
		{"validator", "check: bad\n", `c.yaml:1: check must not be "bad"`},
		{"key error", "pair:\n  a: 3\n  b: 2\n", `c.yaml:3: pair.b must be at least a (3), got 2`},
		{"merge key", "base: &b {name: x}\ninner:\n  <<: *b\n", `c.yaml:1: unknown key "base" at the top level (known keys: any, check, copy, count, inner, list, map, on, pair, ptr, ratio, size, text, tiny)`},
		{"merge key in a known section", "inner:\n  <<: {name: x}\n", `c.yaml:2: merge keys (<<) are not supported in inner; write the keys out`},
		{"non-scalar key", "? [a]\n: b\n", `c.yaml:1: keys at the top level must be plain names, got a list`},
		{"long value cut", "count: " + "x123456789x123456789x123456789x123456789x123456789x123456789x123456789\n",
			`c.yaml:1: count must be a whole number, got "x123456789x123456789x123456789x123456789x123456789x123456..."`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var s sample
			_, err := decode(c.yaml, &s)
			if err == nil || err.Error() != c.want {
				t.Fatalf("error\n got %v\nwant %s", err, c.want)
			}
			if _, ok := errors.AsType[*yamlconf.Error](err); !ok {
				t.Fatalf("error %v is not a *yamlconf.Error", err)
			}
		})
	}
}

// TestBlock: a block decodes like the file it came from, and an empty one
// leaves the defaults.
func TestBlock(t *testing.T) {
	t.Parallel()
	var s sample
	s.Count = 5
	if err := (&yamlconf.Block{}).Decode(&s); err != nil || s.Count != 5 {
		t.Fatalf("empty block: %v, count %d", err, s.Count)
	}
	if !(&yamlconf.Block{}).Empty() || yamlconf.BlockOf(map[string]int{"count": 1}).Empty() {
		t.Fatal("Empty is wrong")
	}
	if err := yamlconf.BlockOf(map[string]any{"count": 9, "list": []string{"x"}}).Decode(&s); err != nil || s.Count != 9 || s.List[0] != "x" {
		t.Fatalf("Go block: %v, %+v", err, s)
	}
	err := yamlconf.BlockOf(map[string]any{"cuont": 1}).Decode(&s)
	if err == nil || err.Error() != `unknown key "cuont" at the top level (did you mean "count"?)` {
		t.Fatalf("Go block error: %v", err)
	}
	if got := (&yamlconf.Block{}).Errorf("needs %s", "x").Error(); got != "needs x" {
		t.Fatalf("Errorf of a Go block: %q", got)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "# only a comment\n", "---\n"} {
		n, err := yamlconf.Parse("c.yaml", []byte(text))
		if err != nil || n != nil && n.ShortTag() != "!!null" {
			t.Errorf("%q: node %v, err %v; want no document", text, n, err)
		}
	}
	_, err := yamlconf.Parse("c.yaml", []byte("a: [\n"))
	if e, ok := errors.AsType[*yamlconf.Error](err); !ok || e.File != "c.yaml" || e.Line == 0 {
		t.Fatalf("syntax error %#v", err)
	}
}
