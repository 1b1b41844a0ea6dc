package koiapi_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline/koiapi"
	stageskoinet "github.com/koistream/koistream/stages/koinet"
	"github.com/koistream/koistream/topics/koi"
	"github.com/koistream/koistream/topics/koinet"
	"github.com/koistream/koistream/topics/raw"
	"github.com/koistream/koistream/topics/topicstest"
)

// FuzzBroadcast: whatever a peer POSTs to /events/broadcast, signed by a
// known node or bare, the answer is 200 null, 400 or 422, never a server
// error; a refused body appends nothing; and an accepted body appends
// exactly one record that the koi-net parser takes without error, so no
// accepted batch ends in the dead topic.
func FuzzBroadcast(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "stages", "koinet", "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		if env, err := koi.ParseEnvelope(b); err == nil {
			f.Add([]byte(env.Payload), true)
		}
	}
	f.Add([]byte(`{"events":[{"rid":"orn:a.b:1","event_type":"NEW","manifest":null,"contents":{"x":[1,2]}}]}`), true)
	f.Add([]byte(`{"type":"events_payload","events":[{"rid":"orn:a.b:1","event_type":"FORGET"}]}`), true)
	f.Add([]byte(`not json`), false)

	_, addr := topicstest.StartBroker(f, topicstest.NoSync())
	me, friend := newPeer(f, "github-sensor"), newPeer(f, "processor")
	c := newTestCache(f)
	c.add(newEvent(f, friend.rid, friend.profile))
	in := startIntake(f, addr, c, selfFor(f, me), nil, koiapi.Config{})
	// OnBroadcast's calls are not looked at here; drain them.
	go func() {
		for range in.hooks {
		}
	}()
	f.Fuzz(func(t *testing.T, body []byte, sign bool) {
		sender := ""
		if sign {
			// Seal fails for payloads pydantic would not print; those go
			// bare.
			if sealed, err := koi.Seal(friend.key, body, friend.rid, me.rid); err == nil {
				body, sender = sealed, friend.rid
			}
		}
		before := total(topicstest.EndOffsets(t, addr, in.topic))
		r := in.post(t, body)
		after := total(topicstest.EndOffsets(t, addr, in.topic))
		switch r.status {
		case http.StatusOK:
			if string(r.body) != "null" {
				t.Fatalf("200 with %s", r.body)
			}
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			if after != before {
				t.Fatalf("refused (%d %s) but appended %d records", r.status, r.body, after-before)
			}
			return
		default:
			t.Fatalf("answer %d %s", r.status, r.body)
		}
		if after != before+1 {
			t.Fatalf("accepted; appended %d records, want 1", after-before)
		}
		msg, err := koinet.NewMessage(koinet.Input{Sender: sender, Receiver: me.rid, Via: koinet.ViaBroadcast, Body: body, ReceivedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := raw.Parse(msg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stageskoinet.Parse(context.Background(), rec); err != nil {
			t.Fatalf("accepted a body the parser refuses: %v\n%s", err, body)
		}
	})
}

func total(ends map[int32]int64) int64 {
	var n int64
	for _, e := range ends {
		n += e
	}
	return n
}
