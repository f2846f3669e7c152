package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/danube-connect/connect/internal/bench"
)

// TestBenchTinyMatrix runs the bench command on a tiny matrix, every kind,
// and checks the table, the JSON report and the SVG chart: every cell
// measured records, the ratios are filled in, the children's RSS was read.
// It asserts no timings.
func TestBenchTinyMatrix(t *testing.T) {
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.svg")
	r := runCLI(t, t.Context(), cliEnv(), "bench", "--records", "300", "--repeats", "1", "--windows", "1000",
		"--sizes", "100", "--max-time", "20s", "--load-time", "1s", "--json", jsonPath, "--svg", svgPath)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"msg/s", "runtime/raw", "raw/baseline", "e2e", "idle file sink"} {
		if !strings.Contains(r.stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	kinds := map[bench.Kind]bench.Result{}
	for _, res := range rep.Results {
		if res.Error != "" {
			t.Errorf("%s: %s", res.Cell, res.Error)
		}
		if res.Records != 300 || res.MsgPerSec <= 0 || res.CPUSecPerM <= 0 || res.PeakRSSMB <= 0 || res.Repeats != 1 {
			t.Errorf("%s: implausible %+v", res.Cell, res.Stats)
		}
		kinds[res.Kind] = res
	}
	for _, k := range bench.AllKinds {
		if _, ok := kinds[k]; !ok {
			t.Errorf("no %s result", k)
		}
	}
	if kinds[bench.Source].RuntimeOverRaw <= 0 || kinds[bench.Sink].RuntimeOverRaw <= 0 || kinds[bench.RawSend].RawOverBaseline <= 0 {
		t.Errorf("ratios missing: %+v", rep.Results)
	}
	if e2e := kinds[bench.EndToEnd]; e2e.LatencyP50Ms <= 0 || e2e.LatencyP99Ms < e2e.LatencyP50Ms {
		t.Errorf("e2e latency p50 %v p99 %v", e2e.LatencyP50Ms, e2e.LatencyP99Ms)
	}
	if len(rep.Processes) != 6 {
		t.Errorf("processes: %+v", rep.Processes)
	}
	for _, p := range rep.Processes {
		if p.RSSMB <= 1 || p.PeakMB < p.RSSMB {
			t.Errorf("process %s: RSS %v MB, peak %v MB", p.Name, p.RSSMB, p.PeakMB)
		}
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
	s := string(svg)
	if !strings.HasPrefix(s, "<svg") || !strings.HasSuffix(strings.TrimSpace(s), "</svg>") || strings.Count(s, "<rect") != len(rep.Results)+1 {
		t.Errorf("SVG chart not as expected:\n%s", s)
	}
}
