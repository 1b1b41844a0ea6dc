package topics_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/koistream/koistream/topics"
)

// TestMapMessages: every message is mapped once, the kept values come back
// in the batches' order whatever the number of workers, and more than one
// worker really runs at once when asked to.
func TestMapMessages(t *testing.T) {
	batches := func(sizes ...int) []topics.Batch {
		var out []topics.Batch
		n := 0
		for p, size := range sizes {
			b := topics.Batch{Topic: "t", Partition: int32(p)}
			for range size {
				b.Messages = append(b.Messages, message.NewMessage(strconv.Itoa(n), nil))
				n++
			}
			out = append(out, b)
		}
		return out
	}
	tests := []struct {
		name    string
		sizes   []int
		workers int
	}{
		{"nothing", nil, 4},
		{"one small batch", []int{3}, 4},
		{"serial", []int{500, 20, 300}, 1},
		{"two workers", []int{500, 20, 300}, 2},
		{"default workers", []int{1024}, 0},
		{"more workers than chunks", []int{40, 1}, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := batches(tt.sizes...)
			var calls atomic.Int64
			got := topics.MapMessages(in, tt.workers, func(b *topics.Batch, m *message.Message) (string, bool) {
				calls.Add(1)
				n, _ := strconv.Atoi(m.UUID)
				return strconv.Itoa(int(b.Partition)) + "/" + m.UUID, n%3 != 0 // every third left out
			})
			var want []string
			total := 0
			for _, b := range in {
				for _, m := range b.Messages {
					total++
					if n, _ := strconv.Atoi(m.UUID); n%3 != 0 {
						want = append(want, strconv.Itoa(int(b.Partition))+"/"+m.UUID)
					}
				}
			}
			if int(calls.Load()) != total {
				t.Fatalf("%d calls for %d messages", calls.Load(), total)
			}
			if len(got) != len(want) {
				t.Fatalf("%d values, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("value %d is %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
	t.Run("workers overlap", func(t *testing.T) {
		// Two calls meet only if two workers run at once: each of the
		// first two calls waits for the other.
		var arrived atomic.Int64
		met := make(chan struct{})
		topics.MapMessages(batches(64), 2, func(_ *topics.Batch, m *message.Message) (int, bool) {
			if arrived.Add(1) == 2 {
				close(met)
			}
			if m.UUID == "0" || m.UUID == "32" {
				select {
				case <-met:
				case <-time.After(10 * time.Second):
					t.Error("message " + m.UUID + " never met the other worker: the calls ran one at a time")
				}
			}
			return 0, false
		})
	})
}
