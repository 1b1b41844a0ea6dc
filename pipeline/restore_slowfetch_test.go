package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/koistream/koistream/stages"
	"github.com/koistream/koistream/topics"
)

// TestRestoreWaitsForASlowFetch: a changelog fetch that the broker answers
// late (1.5 s) must not end the restore early: it returns only once every
// record is in the store. An earlier restore took a second of silence for
// the end of the log and reported success with all 100 keys missing.
func TestRestoreWaitsForASlowFetch(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "cl"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, &kgo.Record{Topic: "cl", Partition: 0, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(filepath.Join(t.TempDir(), "s"), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := stages.NewStateStore(db)
	sp := store.Space("cl")

	var once atomic.Bool
	c.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		if once.CompareAndSwap(false, true) {
			c.SleepControl(func() { time.Sleep(1500 * time.Millisecond) }) // a broker hiccup
		}
		c.DropControl()
		return nil, nil, false
	})
	adm := kadm.NewClient(cl)
	if err := restoreState(ctx, addr, adm, store, "cl", 0, slog.Default()); err != nil {
		t.Fatal(err)
	}
	pctx := topics.ContextWithPosition(ctx, topics.Position{Partition: 0})
	missing := 0
	for i := range 100 {
		if _, ok, _ := sp.Get(pctx, fmt.Appendf(nil, "k%d", i)); !ok {
			missing++
		}
	}
	ck, _ := store.Checkpoint("cl", 0)
	if missing > 0 || ck != 100 {
		t.Errorf("restore returned nil with %d of 100 keys missing and checkpoint %d, want all keys and 100", missing, ck)
	}
}
