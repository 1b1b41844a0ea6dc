package yamlconf

import "fmt"

// Error is a configuration mistake at one place of a file. Its message is
// one line, "file:line: what is wrong", in plain words: it names the key
// path and never a Go type.
type Error struct {
	// File is the configuration file as the user named it; empty for a
	// configuration built in Go (see [Block]).
	File string
	// Line is the 1-based line of the mistake; 0 when unknown.
	Line int
	// Msg says what is wrong, naming the key path.
	Msg string
}

// Error returns "file:line: msg", or less of the prefix when the file or
// line is unknown.
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return e.File + ": " + e.Msg
	}
	return e.Msg
}

// KeyError is what a mapping's Validate method returns about one of its
// keys: the decoder reports it at that key's line, as "<path>.<key> <err>".
type KeyError struct {
	// Key is the mapping's key the error is about, as the file spells it.
	Key string
	// Err says what is wrong, as a predicate ("must be ...").
	Err error
}

// Error returns "key err".
func (e *KeyError) Error() string { return e.Key + " " + e.Err.Error() }

// Unwrap returns Err.
func (e *KeyError) Unwrap() error { return e.Err }
