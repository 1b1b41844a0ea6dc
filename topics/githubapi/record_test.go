package githubapi_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/koistream/koistream/topics"
	"github.com/koistream/koistream/topics/githubapi"
	"github.com/koistream/koistream/topics/raw"
)

func valid() githubapi.Input {
	return githubapi.Input{
		Repo: "Koi-Garden/Pond", Resource: githubapi.ResourceIssues,
		URL:    "https://api.github.com/repositories/1000/issues?per_page=100&page=2",
		Status: 200, ETag: `W/"e1"`, LastModified: "Sat, 28 Nov 2026 10:00:00 GMT",
		Link:        `<https://api.github.com/repositories/1000/issues?per_page=100&page=3>; rel="next"`,
		Body:        []byte(`[{"number":1}]`),
		ContentType: "application/json; charset=utf-8", UserAgent: "koistream",
		ReceivedAt: time.Date(2026, 11, 29, 1, 2, 3, 4, time.UTC),
	}
}

func TestRoundTrip(t *testing.T) {
	in := valid()
	msg, err := githubapi.NewMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := raw.Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := githubapi.Parse(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Key = githubapi.Key(in.Repo, in.URL, in.Body)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, want)
	}
	if pk := msg.Metadata.Get(topics.HeaderPartitionKey); pk != "koi-garden/pond" {
		t.Errorf("partition key %q, want the repository lower-cased", pk)
	}
	if !strings.HasPrefix(got.Key, "Koi-Garden/Pond@") {
		t.Errorf("key %q does not start with the repository", got.Key)
	}
}

func TestKey(t *testing.T) {
	a := githubapi.Key("o/r", "https://x/a", []byte("1"))
	for _, tt := range []struct {
		name string
		key  string
		same bool
	}{
		{"same page again", githubapi.Key("o/r", "https://x/a", []byte("1")), true},
		{"contents changed", githubapi.Key("o/r", "https://x/a", []byte("2")), false},
		{"another URL", githubapi.Key("o/r", "https://x/b", []byte("1")), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.key == a) != tt.same {
				t.Errorf("Key equal %v, want %v", tt.key == a, tt.same)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*githubapi.Input)
	}{
		{"no repository", func(in *githubapi.Input) { in.Repo = "" }},
		{"repository without owner", func(in *githubapi.Input) { in.Repo = "pond" }},
		{"repository with @", func(in *githubapi.Input) { in.Repo = "o/r@x" }},
		{"unknown resource", func(in *githubapi.Input) { in.Resource = "gists" }},
		{"relative URL", func(in *githubapi.Input) { in.URL = "/repos/o/r/issues" }},
		{"304", func(in *githubapi.Input) { in.Status = 304 }},
		{"empty body", func(in *githubapi.Input) { in.Body = nil }},
		{"no time", func(in *githubapi.Input) { in.ReceivedAt = time.Time{} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.change(&in)
			if _, err := githubapi.NewMessage(in); !errors.Is(err, githubapi.ErrInvalid) {
				t.Errorf("NewMessage: %v, want ErrInvalid", err)
			}
		})
	}
}
