package backfill_test

import (
	"context"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"

	"github.com/koistream/koistream/pipeline/backfill"
	"github.com/koistream/koistream/pipeline/backfill/fakegithub"
	"github.com/koistream/koistream/topics/githubapi"
)

// A node wires the fetcher to its raw-topic publisher (the sink) and its
// Pebble, imports an old state file once, and runs passes on a schedule.
// The second pass over an unchanged repository costs only 304s.
func Example() {
	clock := fakegithub.NewClock(fakegithub.DefaultBase.Add(24 * 3600e9))
	gh := fakegithub.New(fakegithub.Options{Clock: clock})
	defer gh.Close()
	gh.AddRepo(fakegithub.RepoSpec{Owner: "octo", Name: "hello", Issues: 3, Pulls: 2, Commits: 4, Events: 2})

	dir, _ := os.MkdirTemp("", "backfill-example")
	defer os.RemoveAll(dir)
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	records := 0
	sink := func(ctx context.Context, in githubapi.Input) error {
		_, err := githubapi.NewMessage(in) // the node publishes this and waits for the ack
		records++
		return err
	}
	f, err := backfill.New(backfill.Config{
		APIURL: gh.URL, Repos: []string{"octo/hello"}, Tokens: []string{"t1", "t2"}, Clock: clock,
	}, db, "backfill\x00", sink)
	if err != nil {
		panic(err)
	}
	if _, err := f.ImportStateFile(dir + "/github_state.json"); err != nil {
		panic(err)
	}
	for pass := 1; pass <= 2; pass++ {
		records = 0
		clock.Advance(2 * 60e9) // past the events X-Poll-Interval
		if err := f.Pass(context.Background()); err != nil {
			panic(err)
		}
		s := f.Stats()[0]
		fmt.Printf("pass %d: %d records, %d not modified in all, quota %d\n", pass, records, s.NotModified, s.QuotaRemaining)
	}
	in, err := f.Fetch(context.Background(), "orn:github.pr:octo/hello:5")
	fmt.Println(in.Resource, err)
	// Output:
	// pass 1: 7 records, 0 not modified in all, quota 4993
	// pass 2: 0 records, 5 not modified in all, quota 4993
	// pull <nil>
}
