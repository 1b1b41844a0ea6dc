package koi

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidTimestamp is wrapped by the error ParseTimestamp returns for
// strings that are not RFC 3339 date-times with an offset.
var ErrInvalidTimestamp = errors.New("koi: invalid timestamp")

// FormatTimestamp formats t the way pydantic prints an aware UTC datetime,
// which is how Python KOI nodes re-serialize Manifest.timestamp before
// checking signatures: t is converted to UTC and truncated (not rounded) to
// microseconds, then printed as "YYYY-MM-DDTHH:MM:SSZ" when the microsecond
// part is zero and "YYYY-MM-DDTHH:MM:SS.ffffffZ" (exactly six fraction
// digits) otherwise. Years outside 0000 to 9999 are not representable by
// Python and must not be used.
func FormatTimestamp(t time.Time) string {
	t = t.UTC()
	var buf [32]byte
	b := t.AppendFormat(buf[:0], "2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		for div := 100000; div > 0; div /= 10 {
			b = append(b, byte('0'+us/div%10))
		}
	}
	b = append(b, 'Z')
	return string(b)
}

// ParseTimestamp parses an RFC 3339 date-time with any UTC offset ("Z",
// "+00:00", "+02:00", ...) and any number of fraction digits, and returns the
// instant in UTC truncated (not rounded) to microseconds, the precision of
// Python datetimes. Naive date-times without an offset are rejected. Errors
// wrap ErrInvalidTimestamp.
func ParseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w %q: %w", ErrInvalidTimestamp, s, err)
	}
	return truncateMicro(t.UTC()), nil
}

// truncateMicro drops the sub-microsecond part of t's wall clock reading.
func truncateMicro(t time.Time) time.Time {
	return t.Add(-time.Duration(t.Nanosecond() % 1000))
}
