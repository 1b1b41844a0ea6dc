package backfill

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Rate is a response's primary-rate-limit state (x-ratelimit-* headers).
type Rate struct {
	// Limit, Remaining and Used are the budget, what is left and what was
	// spent in the current window; -1 when the header was absent or bad.
	Limit, Remaining, Used int
	// Reset is when the window ends (x-ratelimit-reset, epoch seconds);
	// zero when absent or bad.
	Reset time.Time
	// Resource is the budget's name (core, search, ...).
	Resource string
}

// ParseRate reads the x-ratelimit-* headers of h. Absent or malformed
// values read as -1 (counts) or the zero time (reset); it never fails.
func ParseRate(h http.Header) Rate {
	num := func(k string) int {
		n, err := strconv.Atoi(strings.TrimSpace(h.Get(k)))
		if err != nil || n < 0 {
			return -1
		}
		return n
	}
	r := Rate{
		Limit: num("X-Ratelimit-Limit"), Remaining: num("X-Ratelimit-Remaining"), Used: num("X-Ratelimit-Used"),
		Resource: h.Get("X-Ratelimit-Resource"),
	}
	// Seconds, per GitHub's docs; a value beyond year 2200 is not seconds
	// (@octokit/fixtures normalise it to milliseconds) and is ignored.
	if s, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-Ratelimit-Reset")), 10, 64); err == nil && s > 0 && s < 7258118400 {
		r.Reset = time.Unix(s, 0)
	}
	return r
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date (relative to now). ok is false when it is absent, unusable or more
// than a day away (then the caller's own rule applies); a date in the past
// reads as zero.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 || s > 24*3600 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil && t.Sub(now) <= 24*time.Hour {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// ParsePollInterval reads X-Poll-Interval (seconds); ok is false when it
// is absent or unusable.
func ParsePollInterval(v string) (time.Duration, bool) {
	s, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || s <= 0 || s > 24*3600 {
		return 0, false
	}
	return time.Duration(s) * time.Second, true
}

// verdict is what to do with a response.
type verdict int

const (
	vOK verdict = iota
	vNotModified
	vPrimary   // wait until the token's reset, or rotate
	vSecondary // wait (Retry-After or the 60 s rule), bounded
	vRetry     // 5xx: back off, bounded
	vFail      // another status: give up on this request
)

// classify applies GitHub's documented order (GITHUB-API.md 2): on 403 or
// 429, Retry-After first, then x-ratelimit-remaining: 0, then the
// secondary-limit message.
func classify(status int, h http.Header, body []byte) verdict {
	switch {
	case status >= 200 && status < 300:
		return vOK
	case status == http.StatusNotModified:
		return vNotModified
	case status == http.StatusForbidden || status == http.StatusTooManyRequests:
		if h.Get("Retry-After") != "" {
			return vSecondary
		}
		if strings.TrimSpace(h.Get("X-Ratelimit-Remaining")) == "0" {
			return vPrimary
		}
		if isSecondaryBody(body) || status == http.StatusTooManyRequests {
			return vSecondary
		}
		return vFail
	case status >= 500:
		return vRetry
	}
	return vFail
}

// isSecondaryBody recognises GitHub's secondary-limit message or its
// documentation URL (also the older "abuse" wording).
func isSecondaryBody(b []byte) bool {
	l := bytes.ToLower(b)
	return bytes.Contains(l, []byte("secondary rate limit")) || bytes.Contains(l, []byte("secondary-rate-limits")) ||
		bytes.Contains(l, []byte("abuse-rate-limits")) || bytes.Contains(l, []byte("abuse detection"))
}
