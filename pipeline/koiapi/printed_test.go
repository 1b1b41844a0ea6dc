package koiapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/koistream/koistream/pipeline/koiapi"
	"github.com/koistream/koistream/topics/koi"
)

// TestSignedBundlesArePrintedAsPydantic: a signed /bundles/fetch answer
// carries each stored bundle as pydantic prints it (what Seal would send),
// twice in a row (the second from the memo), and verifies with our key; a
// bare answer keeps the stored bytes.
func TestSignedBundlesArePrintedAsPydantic(t *testing.T) {
	t.Parallel()
	me, friend := newPeer(t, "github-sensor"), newPeer(t, "processor")
	const rid = "orn:github.issue:octo/hello:1"
	contents := []byte(`{"z": 1E2, "a": "h\u00e9 <&>", "n": null}`)
	cache := newTestCache(t)
	cache.add(newEvent(t, friend.rid, friend.profile), newEvent(t, rid, contents))
	stored, _, err := cache.cache.Bundle(rid)
	if err != nil {
		t.Fatal(err)
	}
	wantPayload, err := koi.AppendPydanticJSON(nil, koi.RawBundlesPayload{Bundles: []json.RawMessage{stored}}.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	srv := startSigned(t, koiapi.Config{Cache: cache.cache, Self: selfFor(t, me)})
	request := `{"type":"fetch_bundles","rids":["` + rid + `"]}`
	for i := range 2 {
		body, err := koi.Seal(friend.key, []byte(request), friend.rid, me.rid)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+"/koi-net/bundles/fetch", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		env, err := koi.ParseEnvelope(got)
		if err != nil {
			t.Fatalf("answer %d: %v: %s", i, err, got)
		}
		if err := env.Verify(me.pub); err != nil {
			t.Errorf("answer %d does not verify: %v", i, err)
		}
		if !bytes.Equal(env.Payload, wantPayload) {
			t.Errorf("answer %d payload\n got %s\nwant %s", i, env.Payload, wantPayload)
		}
	}
	resp, err := http.Post(srv.URL+"/koi-net/bundles/fetch", "application/json", bytes.NewReader([]byte(request)))
	if err != nil {
		t.Fatal(err)
	}
	bare, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(bare, stored) {
		t.Errorf("bare answer %s does not carry the stored bundle %s", bare, stored)
	}
}

// TestRidsAnswerFollowsTheCache: the remembered /rids/fetch answer is
// served only while the cache is unchanged; a RID added since shows in the
// next answer, and another question is not answered with the last one.
func TestRidsAnswerFollowsTheCache(t *testing.T) {
	t.Parallel()
	cache := newTestCache(t)
	cache.add(newEvent(t, "orn:github.issue:octo/hello:1", []byte(`{"n":1}`)))
	srv := startSigned(t, koiapi.Config{Cache: cache.cache})
	ask := func(types string) string {
		t.Helper()
		resp, err := http.Post(srv.URL+"/koi-net/rids/fetch", "application/json", bytes.NewReader([]byte(`{"type":"fetch_rids","rid_types":`+types+`}`)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	one := `{"type":"rids_payload","rids":["orn:github.issue:octo/hello:1"]}`
	for _, tc := range []struct {
		name, types, want string
		add               string
	}{
		{"first", `["orn:github.issue"]`, one, ""},
		{"again, unchanged", `["orn:github.issue"]`, one, ""},
		{"another question", `["orn:github.repo"]`, `{"type":"rids_payload","rids":[]}`, ""},
		{"after an addition", `["orn:github.issue"]`, `{"type":"rids_payload","rids":["orn:github.issue:octo/hello:1","orn:github.issue:octo/hello:2"]}`, "orn:github.issue:octo/hello:2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.add != "" {
				cache.add(newEvent(t, tc.add, []byte(`{"n":2}`)))
			}
			if got := ask(tc.types); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
