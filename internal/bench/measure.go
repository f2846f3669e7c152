package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Sample is the outcome of one measured run.
type Sample struct {
	Records int64         // records delivered (counted where they arrive)
	Elapsed time.Duration // from the start of the measured phase to the last record
	Bytes   int64         // payload bytes delivered
	// LatencyP50 and LatencyP99 are per-record latencies: end to end (source
	// poll to sink write) for e2e runs, send to confirmation for send runs;
	// zero where a backlog is consumed.
	LatencyP50, LatencyP99 time.Duration
	Allocs                 uint64        // heap allocations of the process
	CPU                    time.Duration // user + system CPU time of the process
	PeakRSS                int64         // bytes; the process's high-water mark during the run
}

// meter measures the process between begin and end: wall time, CPU time,
// heap allocations and the peak resident set size.
type meter struct {
	start   time.Time
	cpu     time.Duration
	mallocs uint64
	lat     latencies
}

func (m *meter) begin(n int) {
	runtime.GC()
	resetPeakRSS()
	m.lat = newLatencies(n)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.mallocs = ms.Mallocs
	m.cpu = cpuTime()
	m.start = time.Now()
}

// end closes the measured phase; the last record arrived at last (the
// zero time: now).
func (m *meter) end(records int64, size int, last time.Time) Sample {
	if last.Before(m.start) {
		last = time.Now()
	}
	elapsed := last.Sub(m.start)
	cpu := cpuTime() - m.cpu
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p50, p99 := m.lat.percentiles()
	return Sample{
		Records: records, Elapsed: elapsed, Bytes: records * int64(size),
		LatencyP50: p50, LatencyP99: p99,
		Allocs: ms.Mallocs - m.mallocs, CPU: cpu, PeakRSS: peakRSS(),
	}
}

// latencies collects per-record latencies without allocating on the hot path.
type latencies struct {
	vals []int64
	n    *atomic.Int64
}

func newLatencies(n int) latencies {
	return latencies{vals: make([]int64, max(n, 1)), n: new(atomic.Int64)}
}

// add records one latency; extra values beyond the capacity are dropped.
func (l latencies) add(d time.Duration) {
	i := l.n.Add(1) - 1
	if i < int64(len(l.vals)) {
		atomic.StoreInt64(&l.vals[i], int64(d))
	}
}

func (l latencies) percentiles() (p50, p99 time.Duration) {
	n := min(l.n.Load(), int64(len(l.vals)))
	if n == 0 {
		return 0, 0
	}
	v := slices.Clone(l.vals[:n])
	slices.Sort(v)
	at := func(q float64) time.Duration { return time.Duration(v[min(int(q*float64(n)), int(n)-1)]) }
	return at(0.50), at(0.99)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the kernel's high-water mark of this process's
// resident set (Linux; elsewhere the peak covers the process's lifetime).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM of this process in bytes (0 when unknown).
func peakRSS() int64 { return procStatus("self", "VmHWM") }

// RSS returns the resident set size (VmRSS) of process pid in bytes, 0
// when unknown (not Linux, or the process is gone).
func RSS(pid int) int64 { return procStatus(strconv.Itoa(pid), "VmRSS") }

// procStatus reads one "Name: N kB" field of /proc/PID/status.
func procStatus(pid, field string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(k) != field {
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return n << 10
	}
	return 0
}

// Stats are the medians of a cell's samples, each metric on its own.
type Stats struct {
	Records         int64   `json:"records"`             // median records delivered per run
	MsgPerSec       float64 `json:"msg_per_sec"`         // records per second
	MBPerSec        float64 `json:"mb_per_sec"`          // payload megabytes (10^6) per second
	LatencyP50Ms    float64 `json:"latency_p50_ms"`      // 0 where not measured
	LatencyP99Ms    float64 `json:"latency_p99_ms"`      // 0 where not measured
	AllocsPerRecord float64 `json:"allocs_per_record"`   // heap allocations of the process per record
	CPUSecPerM      float64 `json:"cpu_sec_per_million"` // process CPU seconds per million records
	PeakRSSMB       float64 `json:"peak_rss_mb"`         // process high-water mark, MiB
}

// summarize returns the median of every metric over the samples.
func summarize(s []Sample) Stats {
	med := func(f func(Sample) float64) float64 {
		v := make([]float64, 0, len(s))
		for _, x := range s {
			v = append(v, f(x))
		}
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Stats{
		Records:         int64(med(func(x Sample) float64 { return float64(x.Records) })),
		MsgPerSec:       med(func(x Sample) float64 { return x.rate() }),
		MBPerSec:        med(func(x Sample) float64 { return x.rate() * float64(x.Bytes) / max(float64(x.Records), 1) / 1e6 }),
		LatencyP50Ms:    med(func(x Sample) float64 { return ms(x.LatencyP50) }),
		LatencyP99Ms:    med(func(x Sample) float64 { return ms(x.LatencyP99) }),
		AllocsPerRecord: med(func(x Sample) float64 { return x.perRecord(float64(x.Allocs)) }),
		CPUSecPerM:      med(func(x Sample) float64 { return x.perRecord(x.CPU.Seconds()) * 1e6 }),
		PeakRSSMB:       med(func(x Sample) float64 { return float64(x.PeakRSS) / (1 << 20) }),
	}
}

func (s Sample) rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Records) / s.Elapsed.Seconds()
}

func (s Sample) perRecord(v float64) float64 {
	if s.Records == 0 {
		return 0
	}
	return v / float64(s.Records)
}
