package replay

import (
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

// TestRingEndRace: a subscription with an Until long past that reaches the
// ring's end while the hub appends the last items of the log must still
// show them before it ends. The hub appends them exactly in the window
// that lost them once (between the subscription's look at the ring's end
// and its question whether the hub has caught up); before the fix the
// replay ended without offsets 5 and 6.
func TestRingEndRace(t *testing.T) {
	until := time.Now().Add(-time.Hour)
	item := func(off int64) *Item {
		return &Item{Partition: 0, Offset: off, Timestamp: until.Add(-time.Minute), RID: "orn:pubsub.message:x/t"}
	}
	tests := []struct {
		name  string
		late  []int64 // offsets the hub appends in the window
		ends  int64   // the log's last stable offset after Until
		wants int
	}{
		{"the last items arrive in the window", []int64{5, 6}, 7, 7},
		{"nothing arrives in the window", nil, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Hub{parts: 1, ring: make([]entry, 16), base: []int64{0}, next: []int64{0},
				changed: make(chan struct{}), ends: []int64{tt.ends}, endsAt: time.Now()}
			h.cfg.RingBytes = 1 << 20
			var first []*Item
			for o := int64(0); o < 5; o++ {
				first = append(first, item(o))
			}
			h.append(first, []int64{5})
			var once sync.Once
			h.atRingEnd = func() {
				once.Do(func() {
					var late []*Item
					for _, o := range tt.late {
						late = append(late, item(o))
					}
					if len(late) > 0 {
						h.append(late, []int64{late[len(late)-1].Offset + 1})
					}
				})
			}
			s := &Subscription{h: h, until: until, stopped: []bool{false}, cursor: NewCursor([]int64{0}),
				live: true, closed: make(chan struct{})}
			var got []int64
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				var it *Item
				if it, err = s.TryNext(); it != nil {
					got = append(got, it.Offset)
				}
			}
			if !errors.Is(err, io.EOF) {
				t.Fatalf("ended with %v, want io.EOF", err)
			}
			if len(got) != tt.wants {
				t.Fatalf("showed offsets %v, want 0 to %d", got, tt.wants-1)
			}
			for i, o := range got {
				if o != int64(i) {
					t.Fatalf("showed offsets %v, want 0 to %d in order", got, tt.wants-1)
				}
			}
		})
	}
}
