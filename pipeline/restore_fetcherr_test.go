package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/koistream/koistream/stages"
)

// TestRestoreFailsOnFetchErrors: a changelog whose fetches keep failing
// (here TOPIC_AUTHORIZATION_FAILED, as with a missing ACL on a new
// changelog) fails the restore, so the poll is aborted and retried, and
// nothing is marked restored: an earlier restore took the empty polls for
// the end of the log and reported success.
func TestRestoreFailsOnFetchErrors(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "cl"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()
	cl, _ := kgo.NewClient(kgo.SeedBrokers(addr...))
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "cl", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.ControlKey(kmsg.Fetch.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		fr := req.(*kmsg.FetchRequest)
		resp := fr.ResponseKind().(*kmsg.FetchResponse)
		for _, tp := range fr.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, p := range tp.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	db, _ := pebble.Open(filepath.Join(t.TempDir(), "s"), &pebble.Options{Logger: quietPebble{}})
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := stages.NewStateStore(db)
	err = restoreState(ctx, addr, kadm.NewClient(cl), store, "cl", 0, slog.New(slog.DiscardHandler))
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("restoreState returned %v, want the fetch's TOPIC_AUTHORIZATION_FAILED", err)
	}
	if ck, _ := store.Checkpoint("cl", 0); ck != 0 {
		t.Errorf("checkpoint %d after a failed restore, want 0", ck)
	}
}
