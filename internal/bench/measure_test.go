package bench

import (
	"testing"
	"time"
)

func TestSummarizeTakesMediansPerMetric(t *testing.T) {
	s := []Sample{
		{Records: 1000, Elapsed: time.Second, Bytes: 1e6, Allocs: 3000, CPU: 500 * time.Millisecond, PeakRSS: 30 << 20, LatencyP50: 2 * time.Millisecond, LatencyP99: 9 * time.Millisecond},
		{Records: 1000, Elapsed: 2 * time.Second, Bytes: 1e6, Allocs: 1000, CPU: 100 * time.Millisecond, PeakRSS: 10 << 20, LatencyP50: time.Millisecond, LatencyP99: 5 * time.Millisecond},
		{Records: 500, Elapsed: 250 * time.Millisecond, Bytes: 5e5, Allocs: 1000, CPU: 200 * time.Millisecond, PeakRSS: 20 << 20, LatencyP50: 3 * time.Millisecond, LatencyP99: 7 * time.Millisecond},
	}
	got := summarize(s)
	want := Stats{Records: 1000, MsgPerSec: 1000, MBPerSec: 1, LatencyP50Ms: 2, LatencyP99Ms: 7, AllocsPerRecord: 2, CPUSecPerM: 400, PeakRSSMB: 20}
	if got != want {
		t.Errorf("summarize = %+v\nwant        %+v", got, want)
	}
}

func TestRatios(t *testing.T) {
	cell := func(k Kind) Cell { return Cell{Kind: k, Broker: Memory, Window: 10, Size: 100, Topics: 1} }
	rs := []Result{
		{Cell: Cell{Kind: Baseline, Size: 100, Topics: 1}, Stats: Stats{MsgPerSec: 1000}},
		{Cell: cell(RawSend), Stats: Stats{MsgPerSec: 500}},
		{Cell: cell(RawReceive), Stats: Stats{MsgPerSec: 400}},
		{Cell: cell(Source), Stats: Stats{MsgPerSec: 1000}},
		{Cell: cell(Sink), Stats: Stats{MsgPerSec: 100}},
		{Cell: cell(EndToEnd), Stats: Stats{MsgPerSec: 200}},
	}
	ratios(rs)
	want := []struct{ runtime, raw float64 }{{0, 0}, {0, 0.5}, {0, 0.4}, {2, 0}, {0.25, 0}, {0.5, 0}}
	for i, w := range want {
		if rs[i].RuntimeOverRaw != w.runtime || rs[i].RawOverBaseline != w.raw {
			t.Errorf("%s: runtime/raw %v raw/baseline %v, want %v %v", rs[i].Cell, rs[i].RuntimeOverRaw, rs[i].RawOverBaseline, w.runtime, w.raw)
		}
	}
}
