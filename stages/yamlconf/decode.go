package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Unmarshaler is implemented by configuration types that accept more than
// one shape, such as a bare URL or a {rid, url} mapping. UnmarshalConfig
// gets the value's node (never an alias and never null: a null value leaves
// the destination unchanged) and the key path that names it in messages; it
// reports mistakes with d.Errorf and may decode parts with d.Decode.
type Unmarshaler interface {
	UnmarshalConfig(d *Decoder, n *yaml.Node, path string) error
}

// Validator is implemented by configuration types that check their value
// once it is decoded. Validate is called only for values the file gives
// (not null). An error that is not already an [*Error] is reported at the
// value's line as "<key path> <message>", so messages read as predicates:
// `must be an http or https URL, got "x"`.
type Validator interface {
	Validate() error
}

// Key is a key a decoded configuration gave a value (not null).
type Key struct {
	// Path is the dotted key path, such as "github.api_url"; list elements
	// are written "segments[0]".
	Path string
	// Line is the key's 1-based line.
	Line int
}

// Decoder decodes the nodes of one file strictly. It records the keys it
// decoded (see [Decoder.Keys]). A Decoder is not safe for concurrent use.
type Decoder struct {
	file string
	keys []Key
}

// NewDecoder returns a Decoder whose errors name file (as the user gave it;
// empty for configuration built in Go).
func NewDecoder(file string) *Decoder {
	return &Decoder{file: file}
}

// File returns the file name errors are reported against.
func (d *Decoder) File() string { return d.file }

// Keys returns the keys decoded so far that had a value, parents before
// their children, in file order.
func (d *Decoder) Keys() []Key { return d.keys }

// Errorf returns an [*Error] at n's line (line unknown when n is nil).
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) error {
	e := &Error{File: d.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line = n.Line
	}
	return e
}

// yamlLineErr matches the parser's "yaml: line N: message" errors.
var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse reads raw as at most one YAML document and returns the document's
// top node, or nil when raw holds no document (empty, or only comments).
// Syntax errors are [*Error]s naming file and line.
func Parse(file string, raw []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(file, err)
		}
		return nil, &Error{File: file, Line: extra.Line, Msg: "more than one YAML document; put the whole configuration in one"}
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

func syntaxError(file string, err error) error {
	msg := strings.TrimSpace(err.Error())
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "not valid YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// Decode decodes n into v, a non-nil pointer, strictly: every mapping key
// must be a field's yaml tag (or a key of a map), every value must have the
// field's shape, and a key may appear once. A nil or null n leaves v
// unchanged, so set defaults before decoding. path names n in messages; ""
// is the top of a file. Every error is an [*Error].
func (d *Decoder) Decode(n *yaml.Node, path string, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("yamlconf: Decode needs a non-nil pointer, got %T", v)
	}
	if n == nil {
		return nil
	}
	return d.decode(n, nil, path, rv.Elem())
}

// maxAliasDepth bounds alias chains, which a hostile file could make long.
const maxAliasDepth = 32

// decode decodes n into rv. key is the mapping key n is the value of (nil
// for list elements and the top); errors about a whole mapping point at it.
func (d *Decoder) decode(n, key *yaml.Node, path string, rv reflect.Value) error {
	for i := 0; n.Kind == yaml.AliasNode; i++ {
		if i == maxAliasDepth || n.Alias == nil {
			return d.Errorf(n, "%s: alias chain too long", name(path))
		}
		n = n.Alias
	}
	if isNull(n) {
		return nil
	}
	if rv.CanAddr() {
		if u, ok := rv.Addr().Interface().(Unmarshaler); ok {
			if err := u.UnmarshalConfig(d, n, path); err != nil {
				return d.positioned(err, n, path)
			}
			return d.validate(rv, n, key, path, nil)
		}
	}
	var err error
	var keys map[string]*yaml.Node // of a mapping decoded into a struct
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		return d.decode(n, key, path, rv.Elem())
	case reflect.Struct:
		keys, err = d.decodeStruct(n, path, rv)
	case reflect.Map:
		err = d.decodeMap(n, path, rv)
	case reflect.Slice:
		err = d.decodeSlice(n, path, rv)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return d.typeError(n, path, rv.Type())
		}
		rv.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			return d.typeError(n, path, rv.Type())
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			return d.typeError(n, path, rv.Type())
		}
		if rv.OverflowInt(i) {
			return d.Errorf(n, "%s is too large: %s", name(path), n.Value)
		}
		rv.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || i < 0 {
			return d.typeError(n, path, rv.Type())
		}
		if rv.OverflowUint(uint64(i)) {
			return d.Errorf(n, "%s is too large: %s", name(path), n.Value)
		}
		rv.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		var f float64
		if tag := n.ShortTag(); n.Kind != yaml.ScalarNode || tag != "!!int" && tag != "!!float" || n.Decode(&f) != nil {
			return d.typeError(n, path, rv.Type())
		}
		rv.SetFloat(f)
	case reflect.Interface:
		if rv.NumMethod() != 0 {
			return fmt.Errorf("yamlconf: cannot decode %s into a %s", name(path), rv.Type())
		}
		var x any
		if err := n.Decode(&x); err != nil {
			return d.Errorf(n, "%s: %s", name(path), strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if x != nil {
			rv.Set(reflect.ValueOf(x))
		}
	default:
		return fmt.Errorf("yamlconf: cannot decode %s into a %s", name(path), rv.Type())
	}
	if err != nil {
		return err
	}
	return d.validate(rv, n, key, path, keys)
}

// validate runs rv's Validate method, if it has one, and positions its
// error: a [*KeyError] at the key it names (keys are the mapping's key
// nodes), any other error at the key of a mapping (the mapping itself
// starts a line later) or at the value.
func (d *Decoder) validate(rv reflect.Value, n, key *yaml.Node, path string, keys map[string]*yaml.Node) error {
	if !rv.CanAddr() {
		return nil
	}
	v, ok := rv.Addr().Interface().(Validator)
	if !ok {
		return nil
	}
	err := v.Validate()
	if err == nil {
		return nil
	}
	if ke, ok := errors.AsType[*KeyError](err); ok {
		at := n
		if k := keys[ke.Key]; k != nil {
			at = k
		}
		return d.Errorf(at, "%s %s", join(path, ke.Key), ke.Err)
	}
	at := n
	if n.Kind == yaml.MappingNode && key != nil {
		at = key
	}
	return d.positioned(err, at, path)
}

// positioned returns err as an [*Error] at n, prefixed with the key path,
// unless it already is one.
func (d *Decoder) positioned(err error, n *yaml.Node, path string) error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	return d.Errorf(n, "%s %s", name(path), err.Error())
}

// decodeStruct decodes mapping n into struct rv and returns its key nodes.
func (d *Decoder) decodeStruct(n *yaml.Node, path string, rv reflect.Value) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.typeError(n, path, rv.Type())
	}
	fields, names := structFields(rv.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, err := d.keyName(k, path)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[key]; dup {
			return nil, d.Errorf(k, "key %q%s is given twice (first on line %d)", key, in(path), prev.Line)
		}
		seen[key] = k
		idx, ok := fields[key]
		if !ok {
			return nil, d.unknownKey(k, key, path, names)
		}
		child := join(path, key)
		if !isNull(v) {
			d.keys = append(d.keys, Key{Path: child, Line: k.Line})
		}
		if err := d.decode(v, k, child, rv.FieldByIndex(idx)); err != nil {
			return nil, err
		}
	}
	return seen, nil
}

func (d *Decoder) decodeMap(n *yaml.Node, path string, rv reflect.Value) error {
	if n.Kind != yaml.MappingNode {
		return d.typeError(n, path, rv.Type())
	}
	if rv.Type().Key().Kind() != reflect.String {
		return fmt.Errorf("yamlconf: map keys of %s must be strings", name(path))
	}
	if rv.IsNil() {
		rv.Set(reflect.MakeMap(rv.Type()))
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, err := d.keyName(k, path)
		if err != nil {
			return err
		}
		if prev, dup := seen[key]; dup {
			return d.Errorf(k, "key %q%s is given twice (first on line %d)", key, in(path), prev.Line)
		}
		seen[key] = k
		child := join(path, key)
		if !isNull(v) {
			d.keys = append(d.keys, Key{Path: child, Line: k.Line})
		}
		elem := reflect.New(rv.Type().Elem()).Elem()
		if err := d.decode(v, k, child, elem); err != nil {
			return err
		}
		rv.SetMapIndex(reflect.ValueOf(key).Convert(rv.Type().Key()), elem)
	}
	return nil
}

func (d *Decoder) decodeSlice(n *yaml.Node, path string, rv reflect.Value) error {
	if n.Kind != yaml.SequenceNode {
		return d.typeError(n, path, rv.Type())
	}
	out := reflect.MakeSlice(rv.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		child := fmt.Sprintf("%s[%d]", path, i)
		if isNull(e) {
			return d.Errorf(e, "%s is empty", name(child))
		}
		if err := d.decode(e, nil, child, out.Index(i)); err != nil {
			return err
		}
	}
	rv.Set(out)
	return nil
}

// keyName returns a mapping key's text.
func (d *Decoder) keyName(k *yaml.Node, path string) (string, error) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		return "", d.Errorf(k, "keys%s must be plain names, got %s", in(path), describe(k))
	}
	if k.ShortTag() == "!!merge" {
		return "", d.Errorf(k, "merge keys (<<) are not supported%s; write the keys out", in(path))
	}
	return k.Value, nil
}

func (d *Decoder) unknownKey(k *yaml.Node, key, path string, known []string) error {
	if len(known) == 0 {
		return d.Errorf(k, "unknown key %q%s (it takes no keys)", key, in(path))
	}
	if s := nearest(key, known); s != "" {
		return d.Errorf(k, "unknown key %q%s (did you mean %q?)", key, in(path), s)
	}
	return d.Errorf(k, "unknown key %q%s (known keys: %s)", key, in(path), knownList(known))
}

func (d *Decoder) typeError(n *yaml.Node, path string, t reflect.Type) error {
	return d.Errorf(n, "%s must be %s, got %s", name(path), shape(t), describe(n))
}

// structFields maps the yaml names of t's exported fields to their index,
// and lists the names in declaration order.
func structFields(t reflect.Type) (map[string][]int, []string) {
	fields := map[string][]int{}
	var names []string
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		fields[tag] = f.Index
		names = append(names, tag)
	}
	return fields, names
}

// shape says in plain words what a value of t looks like in YAML.
func shape(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping (key: value)"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value"
}

// describe says in plain words what n is: "a mapping", "a list", or the
// scalar as written (quoted when it is text).
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 60 {
			v = v[:57] + "..."
		}
		switch n.ShortTag() {
		case "!!int", "!!float", "!!bool":
			return v
		case "!!null":
			return "nothing"
		}
		return strconv.Quote(v)
	}
	return "a value"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// name is how messages call the value at path.
func name(path string) string {
	if path == "" {
		return "the configuration"
	}
	return path
}

// in says where a key sits, for messages about keys.
func in(path string) string {
	if path == "" {
		return " at the top level"
	}
	return " in " + path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
