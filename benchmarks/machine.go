package benchmarks

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where a run happened.
type Machine struct {
	// GoVersion is runtime.Version().
	GoVersion string `json:"go_version"`
	// OS and Arch are runtime.GOOS and runtime.GOARCH.
	OS string `json:"os"`
	// Arch: see OS.
	Arch string `json:"arch"`
	// GOMAXPROCS is the Go scheduler's processor count during the run.
	GOMAXPROCS int `json:"gomaxprocs"`
	// NumCPU is the CPUs the process may use, as nproc reports them.
	NumCPU int `json:"nproc"`
	// CPUModel is the first "model name" of /proc/cpuinfo, if any.
	CPUModel string `json:"cpu_model,omitempty"`
	// MemTotalMB is MemTotal of /proc/meminfo in MiB (0 if unknown).
	MemTotalMB int64 `json:"mem_total_mb"`
}

// thisMachine describes the machine the process runs on.
func thisMachine() Machine {
	m := Machine{
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
	}
	if kb, ok := procField("/proc/meminfo", "MemTotal:"); ok {
		m.MemTotalMB = kb / 1024
	}
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range bytes.Lines(f) {
			if k, v, ok := strings.Cut(string(line), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// peakRSSMB returns VmHWM, the process's peak resident set size, in MiB.
func peakRSSMB() (float64, bool) {
	kb, ok := procField("/proc/self/status", "VmHWM:")
	return float64(kb) / 1024, ok
}

// resetPeakRSS resets VmHWM to the current RSS (Linux ≥ 4.0: writing 5 to
// /proc/self/clear_refs), so that the peak measured afterwards is that of
// what follows. It reports whether it could.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// procField returns the number after name in a /proc "Name: value kB" file.
func procField(path, name string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		return v, err == nil
	}
	return 0, false
}
