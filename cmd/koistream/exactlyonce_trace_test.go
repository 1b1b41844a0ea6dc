package main_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/koistream/koistream/topics/topicstest"
)

// traceLost says, for each needle (a delivery GUID), where it is in the
// log: every record of every koistream topic that mentions it in its key,
// value or headers, with its partition and offset, whether a read_committed
// reader sees it, and the stage groups' committed offsets. A delivery the
// exactly-once checks miss stopped somewhere; this says where, so a failure
// on a loaded CI machine can be understood from its output alone.
func traceLost(t *testing.T, kafka string, needles []string) {
	t.Helper()
	if len(needles) == 0 {
		return
	}
	cl := newClient(t, kafka)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	td, err := adm.ListTopics(ctx)
	cl.Close()
	if err != nil {
		t.Logf("trace: list topics: %v", err)
		return
	}
	var b strings.Builder
	for _, topic := range slices.Sorted(func(yield func(string) bool) {
		for name := range td {
			if strings.HasPrefix(name, "koistream.") && !yield(name) {
				return
			}
		}
	}) {
		committed := map[string]bool{}
		for _, r := range readAll(t, kafka, topic, kgo.ReadCommitted()) {
			committed[fmt.Sprintf("%d/%d", r.Partition, r.Offset)] = true
		}
		for _, r := range readAll(t, kafka, topic, kgo.ReadUncommitted()) {
			for _, n := range needles {
				if !mentions(r, []byte(n)) {
					continue
				}
				at := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
				fmt.Fprintf(&b, "  %s: %s %s at %s (committed: %v, key %.80q)\n", n, topic, at, r.Timestamp.Format("15:04:05.000"), committed[at], r.Key)
			}
		}
	}
	for _, in := range stageInputs {
		fmt.Fprintf(&b, "  group %s committed %v of %s\n", in.group, topicstest.Committed(t, kafka, in.group, in.topic), in.topic)
	}
	t.Logf("where the lost deliveries are:\n%s", b.String())
}

func mentions(r *kgo.Record, n []byte) bool {
	if bytes.Contains(r.Key, n) || bytes.Contains(r.Value, n) {
		return true
	}
	for _, h := range r.Headers {
		if bytes.Contains(h.Value, n) {
			return true
		}
	}
	return false
}

// readAll reads every record of topic, at the given isolation level, up to
// the ends listed when it starts.
func readAll(t *testing.T, kafka, topic string, iso kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	ends := map[int32]int64{}
	if iso == kgo.ReadCommitted() {
		ends = stableOffsets(t, kafka, topic)
	} else {
		for p, e := range topicstest.EndOffsets(t, kafka, topic) {
			ends[p] = e
		}
	}
	cl := newClient(t, kafka, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	left := map[int32]bool{}
	for p, e := range ends {
		if e > 0 {
			left[p] = true
		}
	}
	var out []*kgo.Record
	for len(left) > 0 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Partition]-1 {
				delete(left, r.Partition)
			}
			if !r.Attrs.IsControl() && r.Offset < ends[r.Partition] {
				out = append(out, r)
			}
		})
	}
	return out
}
