package koiapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/koiapi"
)

// fakeOrigin is a Dereferencer standing in for GitHub and the pipeline: a
// RID it knows reaches the cache a little after Dereference returned, as a
// fetched page does through the stages; "gone" RIDs are not on GitHub;
// "stuck" ones are fetched but never reach the cache.
type fakeOrigin struct {
	c     *testCache
	mu    sync.Mutex
	asked []string
}

func (o *fakeOrigin) Dereferences(rid string) bool { return strings.HasPrefix(rid, "orn:github.") }

func (o *fakeOrigin) Dereference(ctx context.Context, rid string) error {
	o.mu.Lock()
	o.asked = append(o.asked, rid)
	o.mu.Unlock()
	switch {
	case strings.HasSuffix(rid, ":gone"):
		return fmt.Errorf("GET %s: 404: %w", rid, koiapi.ErrGone)
	case strings.HasSuffix(rid, ":stuck"):
		return nil
	}
	ev := newEvent(o.c.tb, rid, []byte(`{"number":99}`))
	go func() {
		time.Sleep(50 * time.Millisecond)
		o.mu.Lock()
		defer o.mu.Unlock()
		o.c.add(ev)
	}()
	return nil
}

func (o *fakeOrigin) calls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Sorted(slices.Values(o.asked))
}

// TestDereference: RIDs the cache lacks are fetched from their origin and
// answered once cached; what the origin does not have is not found, what
// does not arrive in time is deferred (bundles) or not found (manifests,
// whose payload has no deferred list), and RIDs of other kinds are never
// fetched.
func TestDereference(t *testing.T) {
	t.Parallel()
	const (
		fetched = "orn:github.issue:o/r:99"
		gone    = "orn:github.issue:o/r:gone"
		stuck   = "orn:github.pr:o/r:stuck"
		other   = "orn:koi-net.node:x+0"
	)
	for _, tt := range []struct {
		name, path, body   string
		found              []string
		notFound, deferred []string
	}{
		{"bundles", "/bundles/fetch", `{"type":"fetch_bundles","rids":["` + fetched + `","` + gone + `","` + stuck + `","` + other + `"]}`,
			[]string{fetched}, []string{gone, other}, []string{stuck}},
		{"manifests", "/manifests/fetch", `{"type":"fetch_manifests","rids":["` + fetched + `","` + gone + `","` + stuck + `","` + other + `"]}`,
			[]string{fetched}, []string{gone, other, stuck}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestCache(t)
			origin := &fakeOrigin{c: c}
			srv := startSigned(t, koiapi.Config{Cache: c.cache, Dereferencer: origin, DereferenceTimeout: 500 * time.Millisecond})
			r := do(t, &http.Client{Timeout: 30 * time.Second}, http.MethodPost, srv.URL+"/koi-net"+tt.path, []byte(tt.body))
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var got struct {
				Bundles   []struct{ Manifest struct{ RID string } }
				Manifests []struct{ RID string }
				NotFound  []string `json:"not_found"`
				Deferred  []string
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("%v: %s", err, r.body)
			}
			var found []string
			for _, b := range got.Bundles {
				found = append(found, b.Manifest.RID)
			}
			for _, m := range got.Manifests {
				found = append(found, m.RID)
			}
			for _, check := range []struct {
				what      string
				got, want []string
			}{
				{"found", found, tt.found}, {"not found", got.NotFound, tt.notFound}, {"deferred", got.Deferred, tt.deferred},
			} {
				if !slices.Equal(slices.Sorted(slices.Values(check.got)), slices.Sorted(slices.Values(check.want))) {
					t.Errorf("%s %v, want %v (answer %s)", check.what, check.got, check.want, r.body)
				}
			}
			if want := slices.Sorted(slices.Values([]string{fetched, gone, stuck})); !slices.Equal(origin.calls(), want) {
				t.Errorf("origin asked for %v, want %v", origin.calls(), want)
			}
		})
	}
}

// TestDereferenceOnlyForAllowedSenders: a signed fetch whose envelope is
// refused costs the origin nothing; an accepted one dereferences.
func TestDereferenceOnlyForAllowedSenders(t *testing.T) {
	t.Parallel()
	me, friend, stranger := newPeer(t, "github-sensor"), newPeer(t, "processor"), newPeer(t, "stranger")
	c := newTestCache(t)
	c.add(newEvent(t, friend.rid, friend.profile))
	origin := &fakeOrigin{c: c}
	srv := startSigned(t, koiapi.Config{Cache: c.cache, Self: selfFor(t, me), Dereferencer: origin, DereferenceTimeout: 500 * time.Millisecond})
	client := &http.Client{Timeout: 30 * time.Second}
	const fetch = `{"type":"fetch_bundles","rids":["orn:github.issue:o/r:99"]}`

	if r := do(t, client, http.MethodPost, srv.URL+"/koi-net/bundles/fetch", seal(t, stranger, fetch, me.rid)); r.status == http.StatusOK {
		t.Fatalf("an unknown sender's fetch was answered: %s", r.body)
	}
	if calls := origin.calls(); len(calls) != 0 {
		t.Fatalf("a refused request dereferenced %v", calls)
	}
	r := do(t, client, http.MethodPost, srv.URL+"/koi-net/bundles/fetch", seal(t, friend, fetch, me.rid))
	payload := openAnswer(t, r, me, friend)
	if !strings.Contains(string(payload), `"rid":"orn:github.issue:o/r:99"`) {
		t.Errorf("answer %s lacks the dereferenced bundle", payload)
	}
}

// TestDereferenceBeyondTheBound: one request dereferences at most 32 RIDs;
// the rest were never asked of the origin, so they are deferred (asked
// again later), not declared not found, which a peer takes as the
// origin's answer. A manifests payload has no deferred list: there they
// stay not found.
func TestDereferenceBeyondTheBound(t *testing.T) {
	t.Parallel()
	var rids []string
	for n := 100; n < 140; n++ {
		rids = append(rids, fmt.Sprintf("orn:github.issue:o/r:%d", n))
	}
	list, _ := json.Marshal(rids)
	for _, tt := range []struct {
		name, path, body          string
		found, notFound, deferred int
	}{
		{"bundles", "/bundles/fetch", `{"type":"fetch_bundles","rids":` + string(list) + `}`, 32, 0, 8},
		{"manifests", "/manifests/fetch", `{"type":"fetch_manifests","rids":` + string(list) + `}`, 32, 8, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestCache(t)
			origin := &fakeOrigin{c: c}
			srv := startSigned(t, koiapi.Config{Cache: c.cache, Dereferencer: origin, DereferenceTimeout: 2 * time.Second})
			r := do(t, &http.Client{Timeout: 30 * time.Second}, http.MethodPost, srv.URL+"/koi-net"+tt.path, []byte(tt.body))
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var got struct {
				Bundles   []json.RawMessage
				Manifests []json.RawMessage
				NotFound  []string `json:"not_found"`
				Deferred  []string
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("%v: %s", err, r.body)
			}
			if f := len(got.Bundles) + len(got.Manifests); f != tt.found || len(got.NotFound) != tt.notFound || len(got.Deferred) != tt.deferred {
				t.Errorf("found %d, not found %d, deferred %d; want %d, %d, %d", f, len(got.NotFound), len(got.Deferred), tt.found, tt.notFound, tt.deferred)
			}
			if n := len(origin.calls()); n != 32 {
				t.Errorf("origin asked %d times, want 32", n)
			}
		})
	}
}
