package github_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/githubapi"
	"github.com/koistream/koistream/topics/observed"
	"github.com/koistream/koistream/topics/raw"
)

// apiResources are the resources FuzzParseAPI picks from.
var apiResources = []string{
	githubapi.ResourceRepo, githubapi.ResourceIssues, githubapi.ResourceIssue, githubapi.ResourcePulls,
	githubapi.ResourcePull, githubapi.ResourceCommits, githubapi.ResourceCommit, githubapi.ResourceEvents,
}

func resourceIndex(resource string) uint8 {
	for i, r := range apiResources {
		if r == resource {
			return uint8(i)
		}
	}
	panic(resource)
}

// FuzzParseAPI: ParseAPI never panics on any body of any resource, never
// modifies the body, and is deterministic; whatever it accepts is JSON
// encoding/json accepts too, of the resource's shape, and its observations
// are valid (they become observed messages and parse back unchanged) with
// contents that are one valid UTF-8 JSON object; whatever it refuses fails
// with ErrBadAPIResponse and nothing else.
func FuzzParseAPI(f *testing.F) {
	for _, s := range []struct{ resource, file string }{
		{githubapi.ResourceRepo, "repo.json"},
		{githubapi.ResourceIssue, "issue.json"},
		{githubapi.ResourceIssues, "issues.mixed.json"},
		{githubapi.ResourcePull, "pull.json"},
		{githubapi.ResourcePulls, "pulls.json"},
		{githubapi.ResourceCommit, "commit.json"},
		{githubapi.ResourceCommits, "commits.json"},
		{githubapi.ResourceEvents, "events.json"},
		{githubapi.ResourceRepo, "octokit/get-repository.json"},
		{githubapi.ResourceIssues, "octokit/paginate-issues.page5.json"},
	} {
		f.Add(resourceIndex(s.resource), readFile(f, "api/"+s.file))
	}
	// Small seeds reach the branches quickly.
	f.Add(resourceIndex(githubapi.ResourceRepo), []byte(`{"full_name":"o/r","created_at":1,"topics":["a"],"owner":{"login":"o"}}`))
	f.Add(resourceIndex(githubapi.ResourceIssues), []byte(`[{"number":1,"url":"https://x/repos/o/r/issues/1","labels":[{"name":"l"}]},{"number":2,"pull_request":{}}]`))
	f.Add(resourceIndex(githubapi.ResourcePulls), []byte(` [ {"number":3,"merged_at":"2020-01-01T00:00:00+01:00","head":{"ref":"a","sha":"b"}} ] `))
	f.Add(resourceIndex(githubapi.ResourceCommits), []byte(`[{"sha":"1111111111111111111111111111111111111111","commit":{"author":{"name":"a","date":"2020-01-01T00:00:00Z"}}}]`))
	f.Add(resourceIndex(githubapi.ResourceEvents), []byte(`[{"id":"1","type":"PushEvent"}]`))
	f.Add(resourceIndex(githubapi.ResourceIssue), []byte(`{"number":1,"title":"\u00e9\ud83d\udc1f"}`))
	f.Fuzz(func(t *testing.T, ri uint8, body []byte) {
		resource := apiResources[int(ri)%len(apiResources)]
		if len(body) == 0 {
			return // not a record: githubapi refuses empty bodies
		}
		rec := raw.Record{
			Key: "k", Source: githubapi.SourceKind, ReceivedAt: apiReceivedAt, ContentType: "application/json", Body: body,
			Metadata: message.Metadata{
				githubapi.HeaderRepo: "fallback/repo", githubapi.HeaderResource: resource,
				githubapi.HeaderURL: "https://api.github.com/repos/fallback/repo/x", githubapi.HeaderStatus: "200",
			},
		}
		orig := bytes.Clone(body)
		obs, err := github.ParseAPI(context.Background(), rec)
		if !bytes.Equal(body, orig) {
			t.Fatal("ParseAPI modified the body")
		}
		if err != nil {
			if !errors.Is(err, github.ErrBadAPIResponse) {
				t.Fatalf("error %v does not wrap ErrBadAPIResponse", err)
			}
			if obs != nil {
				t.Fatal("observations returned with an error")
			}
			return
		}
		// Accepted: encoding/json agrees that the body is one JSON value of
		// the resource's shape.
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("ParseAPI accepted a body encoding/json refuses: %v", err)
		}
		switch resource {
		case githubapi.ResourceRepo, githubapi.ResourceIssue, githubapi.ResourcePull, githubapi.ResourceCommit:
			if _, ok := v.(map[string]any); !ok {
				t.Fatalf("%s: accepted %T, want an object", resource, v)
			}
		default:
			a, ok := v.([]any)
			if !ok || len(a) > github.MaxPageItems {
				t.Fatalf("%s: accepted %T, want an array of at most %d", resource, v, github.MaxPageItems)
			}
			for i, it := range a {
				if _, ok := it.(map[string]any); !ok {
					t.Fatalf("%s: accepted item %d of type %T", resource, i, it)
				}
			}
			if len(obs) > len(a) {
				t.Fatalf("%d observations from %d items", len(obs), len(a))
			}
		}
		if resource == githubapi.ResourceEvents && len(obs) != 0 {
			t.Fatalf("events gave %d observations", len(obs))
		}
		for i := range obs {
			o := obs[i]
			if o.Op != observed.OpUpsert || !strings.HasPrefix(o.Routing, "ent.") || o.Immutable || !github.IsCanonicalRID(o.RID) {
				t.Fatalf("observation %s op %q routing %q immutable %v", o.RID, o.Op, o.Routing, o.Immutable)
			}
			if !json.Valid(o.Contents) || !utf8.Valid(o.Contents) || o.Contents[0] != '{' {
				t.Fatalf("%s: contents are not a JSON object: %q", o.RID, o.Contents)
			}
			if cap(o.Contents) != len(o.Contents) {
				t.Fatalf("%s: contents not capped", o.RID)
			}
			o.Source, o.SourceKey, o.ReceivedAt = githubapi.SourceKind, "k", apiReceivedAt
			msgs, err := observed.NewMessages([]observed.Observation{o})
			if err != nil {
				t.Fatalf("%s: not a valid observation: %v", o.RID, err)
			}
			back, err := observed.Parse(msgs[0])
			if err != nil || back.RID != o.RID || !bytes.Equal(back.Contents, o.Contents) || back.Path != o.Path {
				t.Fatalf("%s: observation does not round-trip: %+v, %v", o.RID, back, err)
			}
		}
		again, err := github.ParseAPI(context.Background(), rec)
		if err != nil || !reflect.DeepEqual(obs, again) {
			t.Fatalf("second run differs (err %v)", err)
		}
	})
}
