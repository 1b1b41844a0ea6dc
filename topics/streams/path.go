package streams

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxPathLen is the longest path accepted, in bytes. GitPubSub and PyPubSub
// set none; 1 KiB is far above any topic convention (PUBSUB.md 2.6) and
// keeps a hostile 10 KB path from costing every subscriber a scan of it.
const MaxPathLen = 1024

// ErrInvalidPath is wrapped by every error Topics and CheckPath return.
var ErrInvalidPath = errors.New("streams: invalid path")

// Topics splits path into its topics, dropping empty segments, after
// checking it with the rules of the package documentation. "/" and ""
// give no topics and no error. The returned strings share path's memory.
func Topics(path string) ([]string, error) {
	if err := CheckPath(path); err != nil {
		return nil, err
	}
	out := make([]string, 0, strings.Count(path, "/")+1)
	for seg := range strings.SplitSeq(path, "/") {
		if seg != "" {
			out = append(out, seg)
		}
	}
	return out, nil
}

// CheckPath reports whether path follows the rules of the package
// documentation, with an error wrapping ErrInvalidPath that says which rule
// it breaks. Paths are quoted cut to 80 bytes: they come from outside.
func CheckPath(path string) error {
	if len(path) > MaxPathLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidPath, len(path), MaxPathLen)
	}
	if !utf8.ValidString(path) {
		return fmt.Errorf("%w %.80q: not valid UTF-8", ErrInvalidPath, path)
	}
	for _, r := range path {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w %.80q: control character %U", ErrInvalidPath, path, r)
		}
		if r == ',' {
			return fmt.Errorf("%w %.80q: ',' separates alternatives in subscriptions and cannot be part of a topic", ErrInvalidPath, path)
		}
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w %.80q: %q is not a topic", ErrInvalidPath, path, seg)
		}
	}
	return nil
}

// Join builds the path of topics: "/" followed by the topics joined by "/".
// It does not check them; callers pass topics they built from checked parts.
func Join(topics ...string) string {
	return "/" + strings.Join(topics, "/")
}
