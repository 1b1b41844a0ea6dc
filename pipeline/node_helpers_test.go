package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/koistream/koistream/pipeline"
	"github.com/koistream/koistream/topics/topicstest"
)

// waitDrained waits until the node's stages and projection have handled
// everything in the log.
func waitDrained(t *testing.T, n *pipeline.Node) {
	t.Helper()
	topicstest.WaitFor(t, 60*time.Second, "the node drained", func() bool {
		ok, err := n.Drained(context.Background())
		return err == nil && ok
	})
}
