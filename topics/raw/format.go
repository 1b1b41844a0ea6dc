package raw

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Format is what a source kind's own package (topics/githubapi,
// topics/koinet, ...) tells raw about its records, so that the mechanics
// every such package shares (writing the source kind and a default content
// type, wrapping errors in the package's own sentinel, refusing another
// kind's records) live here once while the key, the headers and their rules
// stay in that package.
//
// A Format is a plain value: declare it once per package, next to the
// package's SourceKind and ErrInvalid. Its methods neither modify it nor
// keep anything, so one Format is safe for concurrent use.
type Format struct {
	// Source is the source kind (HeaderSource) of the package's records.
	// Required: NewMessage refuses, and Check refuses every record, when
	// it is empty.
	Source string
	// Invalid is the package's error sentinel (its ErrInvalid), wrapped by
	// every error the methods return so that callers test errors.Is
	// against the package they use. When nil, the methods wrap ErrInvalid
	// in its place.
	Invalid error
	// ContentType is written when the record has none; empty keeps an
	// empty content type.
	ContentType string
}

// invalid is the sentinel the methods wrap.
func (f Format) invalid() error {
	if f.Invalid == nil {
		return ErrInvalid
	}
	return f.Invalid
}

// NewMessage returns the raw-topic message of r as a record of f: r.Source
// is set to f.Source (whatever the caller put there), and an empty
// r.ContentType to f.ContentType; then it is [NewMessage]'s message. It
// fails where [NewMessage] fails, with that error wrapped in f.Invalid, so
// that the error wraps both f.Invalid and ErrInvalid. It checks nothing of
// the source's own: the package validates its input before it calls this.
// The message shares r.Body.
func (f Format) NewMessage(r Record) (*message.Message, error) {
	r.Source = f.Source
	if r.ContentType == "" {
		r.ContentType = f.ContentType
	}
	m, err := NewMessage(r)
	if err != nil {
		if f.Invalid == nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", f.Invalid, err)
	}
	return m, nil
}

// Check reports whether rec is a record of f's source kind: nil when
// rec.Source is f.Source, otherwise an error wrapping f.Invalid (and not
// ErrInvalid, unless f.Invalid is nil) that quotes the record's source kind,
// cut to 80 characters as it comes from outside. It is the first step of the package's Parse; what
// the body and the source's headers must hold is for that Parse to check.
func (f Format) Check(rec Record) error {
	if f.Source == "" || rec.Source != f.Source {
		return fmt.Errorf("%w: source kind %.80q", f.invalid(), rec.Source)
	}
	return nil
}
