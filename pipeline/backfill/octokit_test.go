package backfill_test

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/google/go-github/v92/github"

	"github.com/koistream/koistream/pipeline/backfill"
)

// GitHub's own recorded pagination (@octokit/fixtures paginate-issues):
// each page's Link "next" is exactly the next recorded request, under
// /repositories/{id}; the bodies decode into go-github's Issue; the
// fixture's millisecond x-ratelimit-reset is not read as seconds.
func TestOctokitPaginateIssues(t *testing.T) {
	b, err := os.ReadFile("testdata/octokit/paginate-issues.json")
	if err != nil {
		t.Fatal(err)
	}
	var pages []struct {
		Scope    string            `json:"scope"`
		Path     string            `json:"path"`
		Status   int               `json:"status"`
		Response json.RawMessage   `json:"response"`
		Headers  map[string]any    `json:"headers"`
		Req      map[string]string `json:"reqheaders"`
	}
	mustJSON(t, b, &pages)
	if len(pages) != 5 {
		t.Fatalf("%d recorded pages, want 5", len(pages))
	}
	var numbers []int
	for i, p := range pages {
		h := http.Header{}
		for k, v := range p.Headers {
			if s, ok := v.(string); ok {
				h.Set(k, s)
			}
		}
		next := backfill.ParseLink(h.Get("Link"))["next"]
		if i+1 < len(pages) {
			if want := "https://api.github.com" + pages[i+1].Path; next != want {
				t.Errorf("page %d: next %q, want the recorded %q", i+1, next, want)
			}
		} else if next != "" {
			t.Errorf("last page has next %q", next)
		}
		r := backfill.ParseRate(h)
		if r.Limit != 5000 || r.Remaining < 0 || r.Resource != "core" || !r.Reset.IsZero() {
			t.Errorf("page %d rate %+v, want limit 5000 and no reset from a millisecond value", i+1, r)
		}
		var issues []github.Issue
		mustJSON(t, p.Response, &issues)
		for _, is := range issues {
			numbers = append(numbers, is.GetNumber())
			if is.GetUpdatedAt().IsZero() || is.GetUser().GetLogin() == "" {
				t.Errorf("issue %d decoded without updated_at or user", is.GetNumber())
			}
		}
	}
	if len(numbers) != 13 || numbers[0] != 13 || numbers[12] != 1 {
		t.Errorf("issues %v, want 13 down to 1", numbers)
	}
}
