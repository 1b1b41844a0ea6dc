package backfill_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill"
	gh "github.com/koistream/koistream/stages/github"
)

// ParseLink never panics, returns only URLs that were written between
// angle brackets in the header, and round-trips a well-formed two-link
// header.
func FuzzParseLink(f *testing.F) {
	f.Add(`<https://api.github.com/repositories/1000/issues?per_page=3&page=2>; rel="next", <https://api.github.com/repositories/1000/issues?per_page=3&page=5>; rel="last"`, "https://x/a?b=c", "next")
	f.Add(`<a>; rel=next`, "u", "prev")
	f.Add(`<a>; title="x, y"; rel="next last", junk, <b>; rel=first`, "v", "first")
	f.Add(`<>; rel="next"`, "", "next")
	f.Add(`,,,<`, "w", "Next")
	f.Fuzz(func(t *testing.T, header, u, rel string) {
		got := backfill.ParseLink(header)
		for r, target := range got {
			if target == "" || !strings.Contains(header, "<"+target+">") {
				t.Errorf("ParseLink(%q)[%q] = %q, which the header does not hold between < and >", header, r, target)
			}
			if r != strings.ToLower(r) || r == "" {
				t.Errorf("relation %q is not lower-cased or empty", r)
			}
		}
		// A well-formed header must round-trip.
		if u == "" || strings.ContainsAny(u, "<>") || rel == "" || strings.ContainsAny(rel, "\",;=") ||
			len(strings.Fields(rel)) != 1 || strings.Fields(rel)[0] != rel {
			return
		}
		h := "<" + u + `>; rel="` + rel + `", <https://api.github.com/x?page=9>; rel="zz-last"`
		m := backfill.ParseLink(h)
		if m[strings.ToLower(rel)] != u && strings.ToLower(rel) != "zz-last" {
			t.Errorf("ParseLink(%q)[%q] = %q, want %q", h, strings.ToLower(rel), m[strings.ToLower(rel)], u)
		}
	})
}

// The rate-limit header parsers never panic and read well-formed values
// exactly.
func FuzzParseRate(f *testing.F) {
	f.Add("5000", "4999", "1", "1767225600", "core", "60")
	f.Add("", "0", "x", "1507651200000", "", "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add("-1", " 12 ", "99999999999999999999", "0", "search", "-5")
	f.Fuzz(func(t *testing.T, limit, remaining, used, reset, resource, retry string) {
		h := http.Header{}
		for k, v := range map[string]string{
			"X-Ratelimit-Limit": limit, "X-Ratelimit-Remaining": remaining, "X-Ratelimit-Used": used,
			"X-Ratelimit-Reset": reset, "X-Ratelimit-Resource": resource,
		} {
			h[k] = []string{v}
		}
		r := backfill.ParseRate(h)
		for _, c := range []struct {
			in  string
			got int
		}{{limit, r.Limit}, {remaining, r.Remaining}, {used, r.Used}} {
			want, err := strconv.Atoi(strings.TrimSpace(c.in))
			if err != nil || want < 0 {
				want = -1
			}
			if c.got != want {
				t.Errorf("count %q read as %d, want %d", c.in, c.got, want)
			}
		}
		if !r.Reset.IsZero() && (r.Reset.Year() > 2200 || r.Reset.Unix() <= 0) {
			t.Errorf("reset %q read as %v", reset, r.Reset)
		}
		now := time.Unix(1767225600, 0)
		d, ok := backfill.ParseRetryAfter(retry, now)
		if ok && (d < 0 || d > 24*time.Hour) {
			t.Errorf("Retry-After %q read as %v", retry, d)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(retry)); err == nil && n >= 0 && n <= 3600 && (!ok || d != time.Duration(n)*time.Second) {
			t.Errorf("Retry-After %q read as %v, %v", retry, d, ok)
		}
		if p, ok := backfill.ParsePollInterval(retry); ok && p <= 0 {
			t.Errorf("X-Poll-Interval %q read as %v", retry, p)
		}
	})
}

// ParseRID never panics, and what it accepts is re-spelled identically by
// stages/github's constructors (so a parsed RID names the same entity).
func FuzzParseRID(f *testing.F) {
	for _, s := range []string{"orn:github.repo:a/b", "orn:github.issue:a/b:12", "orn:github.pr:o/r:1",
		"orn:github.commit:o/r:0123456789abcdef0123456789abcdef01234567", "orn:github.issue:a/b:-1", "orn:github.pr:a:b:c:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rid string) {
		e, err := backfill.ParseRID(rid)
		if err != nil {
			return
		}
		var back string
		switch e.Type {
		case gh.TypeRepo:
			back = gh.RepoRID(e.Repo)
		case gh.TypeIssue:
			back = gh.IssueRID(e.Repo, e.Number)
		case gh.TypePR:
			back = gh.PRRID(e.Repo, e.Number)
		case gh.TypeCommit:
			back = gh.CommitRID(e.Repo, e.SHA)
		default:
			t.Fatalf("ParseRID(%q) type %q", rid, e.Type)
		}
		if !strings.EqualFold(back, rid) {
			t.Errorf("ParseRID(%q) = %+v, re-spelled %q", rid, e, back)
		}
	})
}
