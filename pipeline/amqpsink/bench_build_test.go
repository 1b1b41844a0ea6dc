package amqpsink_test

import (
	"testing"

	"github.com/koistream/koistream/pipeline/amqpsink"
	"github.com/koistream/koistream/stages/github"
	"github.com/koistream/koistream/topics/koi"
)

// BenchmarkBuild measures Build of the GitHub events of the testdata
// deliveries, the sink's CPU per record: a push (whose payload is
// rebuilt), an issues and a pull_request event (whose payloads are the
// webhook's less the envelope members), and an entity (copied).
func BenchmarkBuild(b *testing.B) {
	for _, tc := range []struct{ name, event, file, typ string }{
		{"push", "push", "push.multiple-commits.json", github.TypeEvent},
		{"issues", "issues", "issues.opened.json", github.TypeEvent},
		{"pull_request", "pull_request", "pull_request.opened.json", github.TypeEvent},
		{"entity", "pull_request", "pull_request.opened.json", github.TypePR},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rec := record(b, find(b, normalized(b, tc.event, tc.file), tc.typ), koi.EventNew)
			b.SetBytes(int64(len(rec.Value)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := amqpsink.Build(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
