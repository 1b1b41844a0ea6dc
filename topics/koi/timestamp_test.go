package koi_test

import (
	"errors"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/koi"
)

func TestFormatTimestamp(t *testing.T) {
	plus2 := time.FixedZone("+02:00", 2*60*60)
	minus5 := time.FixedZone("-05:30", -(5*60*60 + 30*60))
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc micros", time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC), "2025-01-02T03:04:05.123456Z"},
		{"zero fraction omitted", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "2025-01-02T03:04:05Z"},
		{"sub-micro only omitted", time.Date(2025, 1, 2, 3, 4, 5, 999, time.UTC), "2025-01-02T03:04:05Z"},
		{"nanos truncated not rounded", time.Date(2025, 1, 2, 3, 4, 5, 123456999, time.UTC), "2025-01-02T03:04:05.123456Z"},
		{"leading zeros kept", time.Date(2025, 1, 2, 3, 4, 5, 1000, time.UTC), "2025-01-02T03:04:05.000001Z"},
		{"trailing zeros kept", time.Date(2025, 1, 2, 3, 4, 5, 500000000, time.UTC), "2025-01-02T03:04:05.500000Z"},
		{"converted to utc", time.Date(2025, 1, 2, 5, 4, 5, 0, plus2), "2025-01-02T03:04:05Z"},
		{"negative offset crosses day", time.Date(2025, 1, 1, 21, 34, 5, 42000, minus5), "2025-01-02T03:04:05.000042Z"},
		{"max micros", time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.UTC), "2025-12-31T23:59:59.999999Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := koi.FormatTimestamp(tc.in); got != tc.want {
				t.Errorf("FormatTimestamp = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		// wantFormat is FormatTimestamp of the result.
		wantFormat string
	}{
		{"2025-01-02T03:04:05.123456Z", time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC), "2025-01-02T03:04:05.123456Z"},
		{"2025-01-02T03:04:05Z", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "2025-01-02T03:04:05Z"},
		{"2025-01-02T03:04:05+00:00", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "2025-01-02T03:04:05Z"},
		{"2025-01-02T03:04:05.123456+00:00", time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC), "2025-01-02T03:04:05.123456Z"},
		{"2025-01-02T05:04:05.5+02:00", time.Date(2025, 1, 2, 3, 4, 5, 500000000, time.UTC), "2025-01-02T03:04:05.500000Z"},
		{"2025-01-01T22:04:05-05:00", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "2025-01-02T03:04:05Z"},
		{"2025-01-02T03:04:05.000000Z", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "2025-01-02T03:04:05Z"},
		{"2025-01-02T03:04:05.123456789Z", time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC), "2025-01-02T03:04:05.123456Z"},
		{"2025-01-02T03:04:05.9999999Z", time.Date(2025, 1, 2, 3, 4, 5, 999999000, time.UTC), "2025-01-02T03:04:05.999999Z"},
		{"2025-01-02T03:04:05.0000009Z", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "2025-01-02T03:04:05Z"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := koi.ParseTimestamp(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("ParseTimestamp = %v, want %v in UTC", got, tc.want)
			}
			if f := koi.FormatTimestamp(got); f != tc.wantFormat {
				t.Errorf("FormatTimestamp(ParseTimestamp) = %q, want %q", f, tc.wantFormat)
			}
		})
	}
}

func TestParseTimestampErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"2025-01-02T03:04:05",        // naive
		"2025-01-02 03:04:05Z",       // space separator
		"2025-01-02T03:04Z",          // no seconds
		"2025-13-02T03:04:05Z",       // bad month
		"2025-01-02T03:04:05.Z",      // empty fraction
		"2025-01-02T03:04:05+0200",   // offset without colon
		"1735787045",                 // epoch seconds
		"2025-01-02T03:04:05.123456", // naive with fraction
	} {
		t.Run(in, func(t *testing.T) {
			if got, err := koi.ParseTimestamp(in); !errors.Is(err, koi.ErrInvalidTimestamp) {
				t.Errorf("ParseTimestamp(%q) = %v, %v; want ErrInvalidTimestamp", in, got, err)
			}
		})
	}
}
