package benchmarks

import (
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want hostCPU
		ok   bool
	}{
		{"linux 5", "cpu  100 5 40 1000 30 2 3 1 7 0", hostCPU{busy: 100 + 5 + 40 + 2 + 3 + 1, idle: 1000, iowait: 30}, true},
		{"no steal column", "cpu  100 5 40 1000 30 2 3", hostCPU{busy: 150, idle: 1000, iowait: 30}, true},
		{"a single CPU's line", "cpu0 100 5 40 1000 30 2 3 1 0 0", hostCPU{}, false},
		{"too short", "cpu  100 5 40 1000", hostCPU{}, false},
		{"not a number", "cpu  100 x 40 1000 30 2 3 1 0 0", hostCPU{}, false},
		{"negative", "cpu  100 -5 40 1000 30 2 3 1 0 0", hostCPU{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseProcStatCPU(tc.line)
			if ok != tc.ok || got != tc.want {
				t.Errorf("parseProcStatCPU(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestCPUSnapshotCountsWork: CPU spent between two snapshots shows up as
// the process's, never as more than wall time allows.
func TestCPUSnapshotCountsWork(t *testing.T) {
	t.Parallel()
	before := takeCPUSnapshot()
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	u := before.until(takeCPUSnapshot())
	if u.process <= 0 {
		t.Errorf("process CPU over a busy loop = %s, want > 0 (%d iterations)", u.process, x)
	}
	if u.hostOK && u.iowait < 0 {
		t.Errorf("negative iowait %s", u.iowait)
	}
}
