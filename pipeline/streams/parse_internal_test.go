package streams

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/topics/streams"
)

func TestChooseFraming(t *testing.T) {
	for _, tt := range []struct {
		accept string
		want   framing
	}{
		{"", framePy},
		{"*/*", framePy},
		{"application/x-gitpubsub", frameGit},
		{"Application/X-GitPubSub; q=1", frameGit},
		{"text/html, text/event-stream;q=0.9", frameSSE},
		{"application/vnd.pypubsub-stream, application/x-gitpubsub", framePy},
		{"garbage;;;", framePy},
	} {
		if got := chooseFraming(tt.accept); got != tt.want {
			t.Errorf("chooseFraming(%q) = %d, want %d", tt.accept, got, tt.want)
		}
	}
}

func TestParseEpoch(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"0", time.Unix(0, 0), true},
		{"1795368274", time.Unix(1795368274, 0), true},
		{"1795368274.5", time.Unix(1795368274, 5e8), true},
		{" 12 ", time.Unix(12, 0), true},
		// Exact to the millisecond the broker indexes by: through a
		// float64 this was .773999999 and a replay from item 15's own
		// timestamp began at item 14.
		{"1795911262.774", time.Unix(1795911262, 774e6), true},
		{"1795911262.774000", time.Unix(1795911262, 774e6), true},
		{"1795911262.1234567891", time.Unix(1795911262, 123456789), true},
		{"0001.5", time.Unix(1, 5e8), true},
		{"1.", time.Unix(1, 0), true},
		{"1.7e9", time.Unix(17e8, 0), true},
		{"100000000000", time.Unix(1e11, 0), true},
		{"100000000000.5", time.Time{}, false},
		{".5", time.Unix(0, 5e8), true},
		{"-1", time.Time{}, false},
		{"NaN", time.Time{}, false},
		{"Inf", time.Time{}, false},
		{"1e300", time.Time{}, false},
		{"now", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, err := ParseEpoch(tt.in)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("ParseEpoch(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzParseEpoch: whatever X-Fetch-Since says, ParseEpoch accepts exactly
// the finite, non-negative numbers strconv reads, within a second of them.
func FuzzParseEpoch(f *testing.F) {
	for _, s := range []string{"0", "1.5", "-1", "1e10", "0x10", "inf", "1_000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseEpoch(s)
		v, perr := strconv.ParseFloat(strings.TrimSpace(s), 64)
		want := perr == nil && !math.IsNaN(v) && v >= 0 && v <= 1e11
		if (err == nil) != want {
			t.Fatalf("ParseEpoch(%q): %v, want ok %v", s, err, want)
		}
		if err == nil && math.Abs(float64(got.Unix())+float64(got.Nanosecond())/1e9-v) > 1 {
			t.Fatalf("ParseEpoch(%q) = %v, far from %g", s, got, v)
		}
	})
}

// FuzzCheckSubscription: a subscription is accepted exactly when every
// alternative is a valid path and the whole fits MaxPathLen.
func FuzzCheckSubscription(f *testing.F) {
	for _, s := range []string{"/", "/a,b", "/a(", "/a/../b", "/a\x00", ",", "/%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) <= streams.MaxPathLen
		for _, alt := range strings.Split(s, ",") {
			if streams.CheckPath(alt) != nil {
				want = false
			}
		}
		if err := CheckSubscription(s); (err == nil) != want {
			t.Fatalf("CheckSubscription(%q): %v, want ok %v", s, err, want)
		}
	})
}
