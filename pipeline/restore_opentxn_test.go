package pipeline

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics/topicstest"
)

// TestRestoreWaitsForAnOpenTransaction: the changelog partition holds an
// open transaction of a dead owner, below the records the next owner B
// committed. The instance after B must restore B's state (the counts go
// on), which lies above the last stable offset until the broker aborts the
// dead transaction; an earlier restore stopped at the last stable offset
// and counted from scratch.
func TestRestoreWaitsForAnOpenTransaction(t *testing.T) {
	t.Parallel()
	_, addr := topicstest.StartBroker(t)
	const prefix = "lso."
	b := newTestSegment(t, addr, prefix, t.TempDir(), countName)
	cl := b.spaces[0]

	// The dead owner: a transaction on changelog partition 0, never ended
	// (its process is gone; the broker aborts it after its timeout).
	zombie, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("dead-owner"),
		kgo.TransactionTimeout(3*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close()
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(context.Background(), &kgo.Record{Topic: cl, Partition: 0, Key: []byte("zz"), Value: []byte("1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	b.input(t, 0, "k")
	stop := b.run(t, b.segmentRunner, false)
	b.waitCommitted(t)
	stop()
	b.closeState(t)

	c := newTestSegment(t, addr, prefix, t.TempDir(), countName)
	c.input(t, 0, "k")
	c.run(t, c.segmentRunner, false)
	c.waitCommitted(t)
	got := c.outputs(t)
	want := map[string]int{"k#1": 1, "k#2": 1}
	if !maps.Equal(got, want) {
		t.Errorf("outputs %v, want %v", got, want)
	}
}
