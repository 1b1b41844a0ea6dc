package koi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ErrNotPydanticJSON is wrapped by the errors of AppendPydanticJSON for input
// a Python node could not re-serialize to the same bytes: invalid JSON,
// duplicate object keys, or a float outside float64's range.
var ErrNotPydanticJSON = errors.New("koi: JSON pydantic cannot re-print")

// AppendPydanticJSON appends the JSON value src to dst as pydantic 2
// (model_dump_json) re-prints it after parsing (PROTOCOL.md 3.1), which is
// what a Python node signs and what it checks our signatures against:
//   - no whitespace; object members in the order given (a dict keeps
//     insertion order);
//   - strings with only '"', '\\' and control characters escaped (\b \f \n
//     \r \t short, others \u00xx lowercase), everything else raw UTF-8:
//     U+2028, U+2029, '<', '>', '&', '/' and non-ASCII included, and escapes
//     such as \u00e9 in the input decoded;
//   - integers (no '.', 'e' or 'E') exactly as written, any size;
//   - other numbers as Python floats: shortest round-trip digits, fixed
//     notation with a fractional part when 1e-5 <= |x| < 1e16 ("1.0",
//     "0.00001"), otherwise "<digits>e+N" or "e-N" ("1e+16", "1.5e-7");
//     "-0.0" stays negative;
//   - null, true and false as they are.
//
// Duplicate keys and floats that overflow float64 are refused (errors wrap
// ErrNotPydanticJSON), since Python would print something else than the
// input says. Timestamps and RIDs are strings to this function: callers put
// them in canonical form first (FormatTimestamp, canonical RID strings).
func AppendPydanticJSON(dst, src []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	out, err := appendPydanticValue(dst, dec)
	if err != nil {
		return dst, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return dst, fmt.Errorf("%w: data after the value", ErrNotPydanticJSON)
	}
	return out, nil
}

// appendPydanticValue prints the next value of dec.
func appendPydanticValue(dst []byte, dec *json.Decoder) ([]byte, error) {
	tok, err := dec.Token()
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrNotPydanticJSON, err)
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			dst = append(dst, '{')
			seen := make(map[string]struct{})
			for i := 0; dec.More(); i++ {
				kt, err := dec.Token()
				if err != nil {
					return dst, fmt.Errorf("%w: %w", ErrNotPydanticJSON, err)
				}
				k := kt.(string)
				if _, dup := seen[k]; dup {
					return dst, fmt.Errorf("%w: duplicate key %q", ErrNotPydanticJSON, k)
				}
				seen[k] = struct{}{}
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = AppendString(dst, k)
				dst = append(dst, ':')
				if dst, err = appendPydanticValue(dst, dec); err != nil {
					return dst, err
				}
			}
			if _, err := dec.Token(); err != nil {
				return dst, fmt.Errorf("%w: %w", ErrNotPydanticJSON, err)
			}
			return append(dst, '}'), nil
		case '[':
			dst = append(dst, '[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					dst = append(dst, ',')
				}
				if dst, err = appendPydanticValue(dst, dec); err != nil {
					return dst, err
				}
			}
			if _, err := dec.Token(); err != nil {
				return dst, fmt.Errorf("%w: %w", ErrNotPydanticJSON, err)
			}
			return append(dst, ']'), nil
		}
		return dst, fmt.Errorf("%w: unexpected %v", ErrNotPydanticJSON, v)
	case string:
		return AppendString(dst, v), nil
	case json.Number:
		return appendPydanticNumber(dst, string(v))
	case bool:
		return strconv.AppendBool(dst, v), nil
	case nil:
		return append(dst, "null"...), nil
	}
	return dst, fmt.Errorf("%w: unexpected token %v", ErrNotPydanticJSON, tok)
}

// appendPydanticNumber prints the JSON number literal n as pydantic does:
// integers verbatim, floats in Python's repr format.
func appendPydanticNumber(dst []byte, n string) ([]byte, error) {
	if !strings.ContainsAny(n, ".eE") {
		return append(dst, n...), nil
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%w: float %s out of range", ErrNotPydanticJSON, n)
	}
	return AppendPythonFloat(dst, f), nil
}

// AppendPythonFloat appends the finite float f as Python's repr (and
// pydantic's JSON) prints it: the shortest digits that round-trip, in fixed
// notation with at least one fractional digit when 1e-5 <= |f| < 1e16 or f
// is zero, and otherwise as "<mantissa>e+NN"/"e-NN" with the exponent
// unpadded ("1e+16", "1.5e-07" is "1.5e-7").
func AppendPythonFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	if f == 0 || (abs >= 1e-5 && abs < 1e16) {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		if !bytes.ContainsRune(dst[start:], '.') {
			dst = append(dst, ".0"...)
		}
		return dst
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // "1.5e-07", "1e+16"
	mant, exp, _ := strings.Cut(e, "e")
	dst = append(dst, mant...)
	dst = append(dst, 'e', exp[0])
	return append(dst, strings.TrimLeft(exp[1:], "0")...)
}
