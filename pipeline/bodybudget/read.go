package bodybudget

import (
	"errors"
	"fmt"
	"io"
)

// ErrOverBudget is Read's error for a body that does not fit in the budget
// beside the bodies of the other requests in flight: the request should be
// answered 503 with Retry-After ([RetryAfter]) and may be sent again.
var ErrOverBudget = errors.New("bodybudget: the body does not fit in the memory budget")

// TooLargeError is Read's error for a body longer than its largest size.
type TooLargeError struct {
	// Max is the largest size, in bytes.
	Max int64
	// Declared is the body's Content-Length, or -1 for a body of
	// undeclared length (chunked) that grew past Max.
	Declared int64
}

// Error says how long the body is against Max.
func (e *TooLargeError) Error() string {
	if e.Declared >= 0 {
		return fmt.Sprintf("bodybudget: the body is %d bytes long; at most %d are accepted", e.Declared, e.Max)
	}
	return fmt.Sprintf("bodybudget: the body is longer than %d bytes", e.Max)
}

// ReadError is Read's error for a body that could not be read completely:
// the reader's error (a client gone, a deadline, a malformed chunk, or the
// error of a guard around the body, such as an *httpjson.BodyError) and how
// far the body came.
type ReadError struct {
	// Err is the reader's error; Unwrap returns it.
	Err error
	// Read is how many bytes of the body arrived.
	Read int64
	// Declared is the body's Content-Length, or -1 when undeclared.
	Declared int64
}

// Error says what failed and how far the body came.
func (e *ReadError) Error() string {
	if e.Declared >= 0 {
		return fmt.Sprintf("bodybudget: reading the body failed after %d of %d bytes: %v", e.Read, e.Declared, e.Err)
	}
	return fmt.Sprintf("bodybudget: reading the body failed after %d bytes: %v", e.Read, e.Err)
}

// Unwrap returns the reader's error.
func (e *ReadError) Unwrap() error { return e.Err }

// Read reads a request body of declared length (its Content-Length, or -1
// when undeclared, as http.Request.ContentLength says) within maxBytes bytes
// and within b, and returns it whole.
//
// held is the number of b's bytes the call leaves taken, on success and on
// failure alike: the caller gives them back with b.Release(held) once it no
// longer needs the body, and should defer that right after the call so
// that every path (an error answer, a panic) gives them back.
//
// A declared body longer than maxBytes is refused with a *TooLargeError before
// any of it is read. A declared body is then reserved whole before its
// first byte is read, so one that does not fit is refused with
// ErrOverBudget without waiting for it (held is 0). A body of undeclared
// length is charged as its buffer grows, so it holds no more of the budget
// than it has sent (twice at most, while the buffer grows): it is refused
// with ErrOverBudget as soon as its growth does not fit, and with a
// *TooLargeError as soon as one byte past maxBytes arrives. Nothing is read past
// what decides the answer. A body that cannot be read completely is
// reported as a *ReadError wrapping the reader's error.
//
// body must end at the declared length, as net/http's request bodies do;
// Read reads once more after the declared bytes so that a reader that
// learns of the end only then (a guard around the body) sees it.
//
// Read is safe for concurrent use on the same b.
func (b *Budget) Read(body io.Reader, declared, maxBytes int64) (data []byte, held int64, err error) {
	if declared >= 0 {
		if declared > maxBytes {
			return nil, 0, &TooLargeError{Max: maxBytes, Declared: declared}
		}
		if !b.TryAcquire(declared) {
			return nil, 0, ErrOverBudget
		}
		data = make([]byte, declared)
		got, err := io.ReadFull(body, data)
		if err == nil {
			// net/http ends a body at its Content-Length: this read only
			// sees the end, which tells a guard around the body that the
			// body is whole.
			var end [1]byte
			_, err = body.Read(end[:])
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		if err != nil {
			return nil, declared, &ReadError{Err: err, Read: int64(got), Declared: declared}
		}
		return data, declared, nil
	}
	for {
		if len(data) == cap(data) {
			if int64(len(data)) == maxBytes {
				// Full: one byte more is one too many.
				var more [1]byte
				n, err := io.ReadFull(body, more[:])
				if n > 0 {
					return nil, held, &TooLargeError{Max: maxBytes, Declared: -1}
				}
				if errors.Is(err, io.EOF) {
					return data, held, nil
				}
				return nil, held, &ReadError{Err: err, Read: int64(len(data)), Declared: -1}
			}
			grown := min(max(2*int64(cap(data)), 64<<10), maxBytes)
			if !b.tryAcquire(grown-int64(cap(data)), held+grown-int64(cap(data))) {
				return nil, held, ErrOverBudget
			}
			held += grown - int64(cap(data))
			data = append(make([]byte, 0, grown), data...)
		}
		n, err := body.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if errors.Is(err, io.EOF) {
			return data, held, nil
		}
		if err != nil {
			return nil, held, &ReadError{Err: err, Read: int64(len(data)), Declared: -1}
		}
	}
}
