package jsonscan

import (
	"bytes"
	"errors"
)

// ErrNotObject is returned by EachMember for input that is not an object.
var ErrNotObject = errors.New("not an object")

// Member is one member of an object, as EachMember hands it over.
type Member struct {
	// Name is the member's name with its escapes decoded. It aliases the
	// input when the name has no escapes (almost always), else a buffer
	// the next member reuses: copy it to keep it. Invalid UTF-8 is kept as
	// it is (encoding/json would make it U+FFFD).
	Name []byte
	// Raw is the member as the input spells it, from the opening quote of
	// its name to the end of its value: what a writer copies to keep the
	// member unchanged.
	Raw []byte
	// Value is the member's value as the input spells it.
	Value []byte
}

// EachMember calls fn with each top-level member of the object b, in the
// input's order, until fn returns false. It validates only the object's
// own structure (quotes, colons, commas, balanced values), as ValueEnd
// does, so it is for input validated before (an events record's contents)
// or checked by Valid first. It returns ErrNotObject when b (whitespace
// aside) does not begin with '{', an error wrapping ErrTooDeep for a value
// nested deeper than maxDepth, and another error when the object is
// malformed or b ends before it does; members before the fault have been
// handed over already. Repeated names are handed over each time.
//
// It exists so that the sinks can take a webhook payload apart with one
// pass of the eight-byte scanners and copy the members they keep byte for
// byte, where a decoder into map[string]json.RawMessage validated, copied
// and re-encoded every member (three passes over the payload for an AMQP
// message; see pipeline/amqpsink).
func EachMember(b []byte, maxDepth int, fn func(Member) bool) error {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return ErrNotObject
	}
	// name is the member's name; buf holds decoded names and is never the
	// input, which a name without escapes aliases (decoding into it would
	// write over the input).
	var name, buf []byte
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errors.New("object member without a name")
		}
		start := i
		end := StringEnd(b, i+1)
		if end < 0 {
			return errUnterminated
		}
		body := b[i+1 : end-1]
		if bytes.IndexByte(body, '\\') >= 0 {
			buf = AppendUnescaped(buf[:0], body)
			name = buf
		} else {
			name = body
		}
		i = SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errors.New("object member without a colon")
		}
		i = SkipSpace(b, i+1)
		vend, err := ValueEnd(b, i, maxDepth)
		if err != nil {
			return err
		}
		if !fn(Member{Name: name, Raw: b[start:vend], Value: b[i:vend]}) {
			return nil
		}
		i = SkipSpace(b, vend)
		switch {
		case i < len(b) && b[i] == ',':
			i = SkipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return nil
		default:
			return errUnbalanced
		}
	}
}
