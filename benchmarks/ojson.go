package benchmarks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// The corpus generator edits real payload shapes and writes them back out
// compact, keeping GitHub's member order: a payload is held as a tree of
// *object (ordered members), []any, string, json.Number, bool and nil.

// object is a JSON object that remembers its member order.
type object struct {
	keys []string
	vals []any
}

// get returns the value of member k, or nil.
func (o *object) get(k string) any {
	for i, key := range o.keys {
		if key == k {
			return o.vals[i]
		}
	}
	return nil
}

// obj returns member k if it is an object, else nil.
func (o *object) obj(k string) *object {
	v, _ := o.get(k).(*object)
	return v
}

// has reports whether member k exists.
func (o *object) has(k string) bool {
	for _, key := range o.keys {
		if key == k {
			return true
		}
	}
	return false
}

// set replaces member k, or appends it if absent.
func (o *object) set(k string, v any) {
	for i, key := range o.keys {
		if key == k {
			o.vals[i] = v
			return
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// setIfPresent replaces member k only if it exists.
func (o *object) setIfPresent(k string, v any) {
	for i, key := range o.keys {
		if key == k {
			o.vals[i] = v
			return
		}
	}
}

// del removes member k if present.
func (o *object) del(k string) {
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			o.vals = append(o.vals[:i], o.vals[i+1:]...)
			return
		}
	}
}

// num is a JSON integer.
func num(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

// parseOrdered decodes one JSON value keeping object member order.
func parseOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("ordered json: trailing data after the value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, k)
				o.vals = append(o.vals, v)
			}
			_, err := dec.Token() // '}'
			return o, err
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token() // ']'
			return a, err
		}
		return nil, fmt.Errorf("ordered json: unexpected %v", t)
	default:
		return tok, nil // string, json.Number, bool, nil
	}
}

// clone deep-copies a tree.
func clone(v any) any {
	switch t := v.(type) {
	case *object:
		c := &object{keys: append([]string(nil), t.keys...), vals: make([]any, len(t.vals))}
		for i, x := range t.vals {
			c.vals[i] = clone(x)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, x := range t {
			c[i] = clone(x)
		}
		return c
	}
	return v
}

// walkStrings replaces every string value (not member names) in the tree
// with f of it.
func walkStrings(v any, f func(string) string) any {
	switch t := v.(type) {
	case *object:
		for i, x := range t.vals {
			t.vals[i] = walkStrings(x, f)
		}
	case []any:
		for i, x := range t {
			t[i] = walkStrings(x, f)
		}
	case string:
		return f(t)
	}
	return v
}

// appendJSON writes v compact, as GitHub sends payloads: no insignificant
// whitespace, non-ASCII characters as UTF-8, and no HTML escaping.
func appendJSON(b []byte, v any) []byte {
	switch t := v.(type) {
	case *object:
		b = append(b, '{')
		for i, k := range t.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSON(b, t.vals[i])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, x := range t {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, x)
		}
		return append(b, ']')
	case string:
		return appendJSONString(b, t)
	case json.Number:
		return append(b, t...)
	case bool:
		return strconv.AppendBool(b, t)
	case nil:
		return append(b, "null"...)
	case int:
		return strconv.AppendInt(b, int64(t), 10)
	case int64:
		return strconv.AppendInt(b, t, 10)
	}
	panic(fmt.Sprintf("ordered json: cannot encode %T", v))
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
