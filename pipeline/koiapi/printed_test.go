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
