package backfill_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	"github.com/koistream/koistream/topics/githubapi"
)

// The second pass echoes each stored ETag byte for byte, the W/ prefix and
// quotes included, for weak (lists) and strong (the repository) tags.
func TestETagEchoedByteForByte(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	f := e.fetcher(nil)
	ctx := context.Background()
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	etags := map[string]string{}
	for _, in := range e.inputs() {
		etags[pathOf(t, in.URL)] = in.ETag
	}
	e.reset()
	e.clock.Advance(time.Hour)
	if err := f.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	weak, strong := 0, 0
	for _, r := range e.gh.Requests() {
		want, ok := etags[r.URI]
		if !ok {
			t.Errorf("second pass asked %s, which the first pass never fetched", r.URI)
			continue
		}
		if r.IfNoneMatch != want {
			t.Errorf("%s: If-None-Match %q, want %q", r.URI, r.IfNoneMatch, want)
		}
		if strings.HasPrefix(want, `W/"`) {
			weak++
		} else if strings.HasPrefix(want, `"`) {
			strong++
		}
		if r.IfModifiedSince == "" && r.URI == "/repos/octo/hello" {
			t.Errorf("%s: no If-Modified-Since although the response had Last-Modified", r.URI)
		}
	}
	if weak == 0 || strong == 0 {
		t.Errorf("echoed %d weak and %d strong tags, want both kinds", weak, strong)
	}
}

// Later pages are requested at their Link URLs verbatim, which name the
// repository by id (/repositories/{id}/...); no page URL is rebuilt. The
// issues walk is the exception: its next page is a new since query, not
// an offset (TestIssueEditedBetweenTwoPagesOfOneWalk), unless the page
// falls within one second.
func TestLinkFollowedVerbatim(t *testing.T) {
	e := newEnv(t, fakegithub.Options{}, smallRepo)
	f := e.fetcher(nil)
	if err := f.Pass(context.Background()); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	nexts := map[string]bool{}
	verbatim := map[string]bool{} // the next links that must be asked for
	for _, in := range e.inputs() {
		if n := backfill.ParseLink(in.Link)["next"]; n != "" {
			nexts[n] = true
			verbatim[n] = in.Resource != githubapi.ResourceIssues
			if !strings.Contains(n, "/repositories/4242/") {
				t.Errorf("fake's Link %q does not use /repositories/{id}", n)
			}
		}
	}
	if len(nexts) == 0 {
		t.Fatal("no page had a next link")
	}
	asked := map[string]bool{}
	for _, in := range e.inputs() {
		asked[in.URL] = true
	}
	for n, must := range verbatim {
		if must && !asked[n] {
			t.Errorf("next link %s was not requested verbatim", n)
		}
	}
	for _, r := range e.gh.Requests() {
		if strings.HasPrefix(r.URI, "/repositories/") && !nexts[e.gh.URL+r.URI] {
			t.Errorf("request %s is not a Link URL the server gave", r.URI)
		}
		if u, _ := url.Parse(r.URI); u.Query().Has("page") && !strings.HasPrefix(r.URI, "/repositories/") {
			t.Errorf("request %s builds a page itself", r.URI)
		}
	}
}
