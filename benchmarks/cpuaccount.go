package benchmarks

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSnapshot is what the process and the whole machine had spent on CPU
// at one moment, so that a phase's share can be taken as a difference. It
// separates the process's own CPU from the rest of the machine's (kernel
// threads such as writeback, page reclaim and the journal, and anything
// else running) and from time the machine's CPUs sat idle waiting for I/O.
type cpuSnapshot struct {
	at      time.Time
	process time.Duration // user + system CPU of this process (getrusage)
	host    hostCPU       // the "cpu" line of /proc/stat
	hostOK  bool
}

// hostCPU holds the machine-wide CPU times of /proc/stat, summed over all
// CPUs, in clock ticks.
type hostCPU struct {
	busy, idle, iowait int64
}

// takeCPUSnapshot reads the process's and the machine's CPU times now.
func takeCPUSnapshot() cpuSnapshot {
	s := cpuSnapshot{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.process = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if f, err := os.Open("/proc/stat"); err == nil {
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			s.host, s.hostOK = parseProcStatCPU(sc.Text())
		}
		f.Close()
	}
	return s
}

// userHZ is the unit of /proc/stat: USER_HZ is 100 on every Linux
// architecture Go supports.
const userHZ = 100

// parseProcStatCPU parses the aggregate line of /proc/stat:
//
//	cpu  user nice system idle iowait irq softirq steal guest guest_nice
//
// Guest time is already counted in user and nice, so it is left out of
// busy. Lines from kernels older than 2.6.11 (no steal) are accepted.
func parseProcStatCPU(line string) (hostCPU, bool) {
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return hostCPU{}, false
	}
	var v [8]int64
	for i := 1; i < len(f) && i <= len(v); i++ {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil || n < 0 {
			return hostCPU{}, false
		}
		v[i-1] = n
	}
	// user nice system idle iowait irq softirq steal
	return hostCPU{busy: v[0] + v[1] + v[2] + v[5] + v[6] + v[7], idle: v[3], iowait: v[4]}, true
}

// cpuUse is how a phase between two snapshots used the machine.
type cpuUse struct {
	wall    time.Duration
	process time.Duration // this process's CPU
	others  time.Duration // CPU busy outside this process (kernel threads, other processes)
	iowait  time.Duration // CPU idle with I/O outstanding
	hostOK  bool
}

// until returns how the machine was used from s to e.
func (s cpuSnapshot) until(e cpuSnapshot) cpuUse {
	u := cpuUse{wall: e.at.Sub(s.at), process: e.process - s.process}
	if s.hostOK && e.hostOK {
		tick := time.Second / userHZ
		busy := time.Duration(e.host.busy-s.host.busy) * tick
		u.others = max(busy-u.process, 0)
		u.iowait = time.Duration(e.host.iowait-s.host.iowait) * tick
		u.hostOK = true
	}
	return u
}

func (u cpuUse) String() string {
	return fmt.Sprintf("wall %s, process CPU %s, others %s, iowait %s", u.wall, u.process, u.others, u.iowait)
}
