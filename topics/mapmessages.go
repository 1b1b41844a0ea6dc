package topics

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
)

// mapChunk is how many messages a MapMessages worker takes at a time: large
// enough that taking one costs nothing beside the work (a sink spends 10 to
// 200 µs a message), small enough that a poll of DefaultMaxPollRecords is
// shared evenly between two cores even when its messages differ in size.
const mapChunk = 32

// MapMessages calls fn for every message of batches and returns the values
// fn kept (its second result true), in the batches' order: partition by
// partition, each in offset order. fn runs on up to workers goroutines at
// once (runtime.GOMAXPROCS(0) when workers < 1), so it must be safe for
// concurrent use; MapMessages returns after every call returned.
//
// It is for a BatchHandler whose per-message work is CPU (a sink encoding
// each event before one round trip delivers them all): done in a loop, a
// sink with a backlog used one core of two while the node it runs in was
// idle, and its own encoding, not the system it delivers to, set its rate
// (pipeline/amqpsink and pipeline/eventhive, RESULTS.md 2026-11-29).
func MapMessages[T any](batches []Batch, workers int, fn func(b *Batch, m *message.Message) (T, bool)) []T {
	type ref struct {
		b *Batch
		m *message.Message
	}
	var refs []ref
	for i := range batches {
		for _, m := range batches[i].Messages {
			refs = append(refs, ref{&batches[i], m})
		}
	}
	type result struct {
		v  T
		ok bool
	}
	results := make([]result, len(refs))
	run := func(from, to int) {
		for i := from; i < to; i++ {
			results[i].v, results[i].ok = fn(refs[i].b, refs[i].m)
		}
	}
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, (len(refs)+mapChunk-1)/mapChunk)
	if workers <= 1 {
		run(0, len(refs))
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					from := int(next.Add(mapChunk)) - mapChunk
					if from >= len(refs) {
						return
					}
					run(from, min(from+mapChunk, len(refs)))
				}
			})
		}
		wg.Wait()
	}
	out := make([]T, 0, len(refs))
	for _, r := range results {
		if r.ok {
			out = append(out, r.v)
		}
	}
	return out
}
