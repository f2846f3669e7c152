// Package bench measures the throughput, latency and cost of the client
// and the runtimes, behind "danube-connect bench". In one run it measures,
// against devbrokers on loopback (in memory and durable) or any broker
// URL:
//
//   - baseline: bare gRPC publishes of the same message shape to a server
//     that stores nothing, the physical limit of the machine;
//   - raw-send and raw-receive: the client alone, pipelined sends and
//     receive + pipelined acks of a backlog;
//   - source and sink: the generator connector in the source runtime and a
//     no-op sink in the sink runtime, with default settings;
//   - e2e: generator → broker → no-op sink, with end-to-end latency;
//
// for broker windows, payload sizes and topic counts, with a warm-up and
// repeats, reporting medians. Records are counted where they arrive (the
// sink, or the broker's confirmations for sends). CPU time, allocations and
// peak RSS are those of the whole process, which includes the in-process
// broker unless a service URL is given.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/danube-connect/connect/devbroker"
)

// Kind is what a cell measures.
type Kind string

// Kinds, in the order they are run and reported.
const (
	Baseline   Kind = "baseline"
	RawSend    Kind = "raw-send"
	RawReceive Kind = "raw-receive"
	Source     Kind = "source"
	Sink       Kind = "sink"
	EndToEnd   Kind = "e2e"
)

// AllKinds lists every kind.
var AllKinds = []Kind{Baseline, RawSend, RawReceive, Source, Sink, EndToEnd}

// Broker modes.
const (
	Memory   = "memory"   // in-process devbroker without data directory
	Durable  = "durable"  // in-process devbroker with a data directory (fsync batched)
	External = "external" // the broker at Config.ServiceURL
)

// Config selects the matrix of a run. Zero fields take the quick defaults.
type Config struct {
	// ServiceURL, when set, measures that broker instead of devbrokers
	// (the baseline still runs on loopback).
	ServiceURL string
	Brokers    []string // Memory, Durable (default: Memory)
	Windows    []int    // devbroker windows of unacked messages (default: 10 and 1000)
	Sizes      []int    // payload bytes (default: 1024)
	Topics     []int    // topic counts (default: 1)
	Kinds      []Kind   // default: all
	// Records per run, spread over the topics (default 20,000), at most
	// MaxBytes of payload.
	Records int
	// MaxBytes bounds the payload bytes of one run (default 20 MB): large
	// payloads run fewer records.
	MaxBytes int
	// Warmup records run before the repeats of each cell (default Records/10).
	Warmup int
	// Repeats per cell; the report shows medians (default 3).
	Repeats int
	// MaxTime bounds each run: what arrived by then is counted (default 3s).
	MaxTime time.Duration
	// Exe, when set, is the danube-connect binary whose "run" children are
	// measured from outside for idle and loaded RSS.
	Exe string
	// Env is the children's environment (default: this process's).
	Env []string
	// LoadTime is how long the loaded-RSS measurement runs (default 10s).
	LoadTime time.Duration
	// Dir is the scratch directory (default: a temporary one, removed).
	Dir string
	// Progress receives progress; with Terminal set, as a status line
	// rewritten in place. Nil discards.
	Progress io.Writer
	Terminal bool
}

// Full returns the complete matrix: both devbrokers, windows 10 and 1,000,
// payloads of 100 B, 1 KB and 10 KB, 1 and 8 topics, every kind.
func Full() Config {
	return Config{
		Brokers: []string{Memory, Durable},
		Windows: []int{10, 1000},
		Sizes:   []int{100, 1024, 10240},
		Topics:  []int{1, 8},
		Kinds:   AllKinds,
	}
}

func (c Config) withDefaults() Config {
	if c.ServiceURL != "" {
		c.Brokers, c.Windows = []string{External}, []int{0}
	}
	if len(c.Brokers) == 0 {
		c.Brokers = []string{Memory}
	}
	if len(c.Windows) == 0 {
		c.Windows = []int{10, 1000}
	}
	if len(c.Sizes) == 0 {
		c.Sizes = []int{1024}
	}
	if len(c.Topics) == 0 {
		c.Topics = []int{1}
	}
	if len(c.Kinds) == 0 {
		c.Kinds = AllKinds
	}
	if c.Records <= 0 {
		c.Records = 20_000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 20_000_000
	}
	if c.Warmup <= 0 {
		c.Warmup = max(c.Records/10, 1)
	}
	if c.Repeats <= 0 {
		c.Repeats = 3
	}
	if c.MaxTime <= 0 {
		c.MaxTime = 3 * time.Second
	}
	if c.Env == nil {
		c.Env = os.Environ()
	}
	if c.LoadTime <= 0 {
		c.LoadTime = 10 * time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Validate checks the selection.
func (c Config) Validate() error {
	var bad []string
	for _, b := range c.Brokers {
		if b != Memory && b != Durable && (b != External || c.ServiceURL == "") {
			bad = append(bad, fmt.Sprintf("broker %q: want memory or durable", b))
		}
	}
	for _, k := range c.Kinds {
		if !slices.Contains(AllKinds, k) {
			bad = append(bad, fmt.Sprintf("kind %q: want one of %v", k, AllKinds))
		}
	}
	windows := c.Windows
	if c.ServiceURL != "" {
		windows = nil // the broker's own
	}
	for _, n := range slices.Concat(windows, c.Sizes, c.Topics) {
		if n <= 0 {
			bad = append(bad, fmt.Sprintf("%d: windows, sizes and topic counts must be positive", n))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("bench: %s", strings.Join(bad, "; "))
	}
	return nil
}

// Cell is one point of the matrix.
type Cell struct {
	Kind   Kind   `json:"kind"`
	Broker string `json:"broker"` // "" for the baseline
	Window int    `json:"window"` // 0: not applicable or unknown
	Size   int    `json:"payload_bytes"`
	Topics int    `json:"topics"`
}

// String names the cell: "sink memory w10 1024B x1".
func (c Cell) String() string {
	if c.Kind == Baseline {
		return fmt.Sprintf("%s %dB x%d", c.Kind, c.Size, c.Topics)
	}
	w := ""
	if c.Window > 0 {
		w = fmt.Sprintf(" w%d", c.Window)
	}
	return fmt.Sprintf("%s %s%s %dB x%d", c.Kind, c.Broker, w, c.Size, c.Topics)
}

// Result is the outcome of one cell: medians over the repeats.
type Result struct {
	Cell
	Stats
	Repeats int `json:"repeats"`
	// RuntimeOverRaw is the runtime's throughput over the raw client's in
	// the same broker group (source ÷ raw-send, sink ÷ raw-receive, e2e ÷
	// the slower of the two); 0 when either is missing.
	RuntimeOverRaw float64 `json:"runtime_over_raw,omitempty"`
	// RawOverBaseline is the raw client's throughput over the baseline of
	// the same payload and topics (raw kinds only).
	RawOverBaseline float64 `json:"raw_over_baseline,omitempty"`
	Error           string  `json:"error,omitempty"`
}

// Report is everything one run measured.
type Report struct {
	Started    time.Time    `json:"started"`
	Elapsed    string       `json:"elapsed"`
	Host       Host         `json:"host"`
	ServiceURL string       `json:"service_url,omitempty"`
	Records    int          `json:"records_per_run"`
	MaxBytes   int          `json:"max_bytes_per_run"`
	Repeats    int          `json:"repeats"`
	MaxTime    string       `json:"max_time_per_run"`
	Results    []Result     `json:"results"`
	Processes  []ProcessRSS `json:"processes,omitempty"`
}

// Host describes the machine a report was measured on.
type Host struct {
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	CPUs       int    `json:"cpus"`
	GoVersion  string `json:"go_version"`
	LoadBefore string `json:"load_before,omitempty"` // /proc/loadavg at the start
	LoadAfter  string `json:"load_after,omitempty"`
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// cells lists the matrix in run order: baselines, then per broker group.
func (c Config) cells() []Cell {
	var out []Cell
	if slices.Contains(c.Kinds, Baseline) {
		for _, s := range c.Sizes {
			for _, t := range c.Topics {
				out = append(out, Cell{Kind: Baseline, Size: s, Topics: t})
			}
		}
	}
	for _, b := range c.Brokers {
		for _, w := range c.Windows {
			for _, s := range c.Sizes {
				for _, t := range c.Topics {
					for _, k := range c.Kinds {
						if k != Baseline {
							out = append(out, Cell{Kind: k, Broker: b, Window: w, Size: s, Topics: t})
						}
					}
				}
			}
		}
	}
	return out
}

// Run measures the matrix and, with an Exe, the children's RSS. A failing
// cell is reported with its error and the run goes on; Run fails only when
// it cannot run at all or ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "danube-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rep := &Report{
		Started: time.Now(),
		Host: Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(),
			GoVersion: runtime.Version(), LoadBefore: loadAvg()},
		ServiceURL: cfg.ServiceURL, Records: cfg.Records, MaxBytes: cfg.MaxBytes, Repeats: cfg.Repeats, MaxTime: cfg.MaxTime.String(),
	}
	cells := cfg.cells()
	prog := newProgress(cfg.Progress, cfg.Terminal, len(cells))
	for i, cell := range cells {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		// Each cell gets a broker of its own, so that what earlier cells
		// left in it (an in-memory broker keeps every message) weighs on
		// neither memory nor speed.
		url := ""
		var group *brokerGroup
		if cell.Kind != Baseline {
			g, err := startGroup(ctx, cfg, cell.Broker, cell.Window, filepath.Join(dir, fmt.Sprintf("broker-%d", i)))
			if err != nil {
				return rep, err
			}
			group, url = g, g.url
		}
		res := runCell(ctx, cfg, cell, url, dir, i, prog)
		if group != nil {
			group.close()
		}
		rep.Results = append(rep.Results, res)
		prog.done(res)
	}
	ratios(rep.Results)
	if cfg.Exe != "" {
		procs, err := measureProcesses(ctx, cfg, dir, prog)
		rep.Processes = procs
		if err != nil {
			prog.finish()
			return rep, err
		}
	}
	prog.finish()
	rep.Host.LoadAfter = loadAvg()
	rep.Elapsed = time.Since(rep.Started).Round(time.Second).String()
	return rep, nil
}

// brokerGroup is the broker of a cell.
type brokerGroup struct {
	url     string
	dataDir string
	b       *devbroker.Broker // nil for External
}

func startGroup(ctx context.Context, cfg Config, broker string, window int, dataDir string) (*brokerGroup, error) {
	g := &brokerGroup{url: cfg.ServiceURL}
	if broker == External {
		return g, nil
	}
	bc := devbroker.Config{MaxUnackedMessages: window}
	if broker == Durable {
		bc.DataDir, g.dataDir = dataDir, dataDir
	}
	b, err := devbroker.Start(ctx, bc)
	if err != nil {
		return nil, fmt.Errorf("bench: start %s devbroker: %w", broker, err)
	}
	g.b, g.url = b, b.URL()
	return g, nil
}

func (g *brokerGroup) close() {
	if g.b != nil {
		g.b.Close()
	}
	if g.dataDir != "" {
		os.RemoveAll(g.dataDir)
	}
}

// runCell runs the warm-up and the repeats of one cell.
func runCell(ctx context.Context, cfg Config, cell Cell, url, dir string, i int, prog *progress) Result {
	res := Result{Cell: cell}
	records := max(min(cfg.Records, cfg.MaxBytes/cell.Size), 1)
	run := func(records int, name string) (Sample, error) {
		p := params{url: url, records: records, size: cell.Size, topics: cell.Topics, maxTime: cfg.MaxTime,
			prefix: fmt.Sprintf("bench-%d-%s", i, name), dir: filepath.Join(dir, fmt.Sprintf("run-%d-%s", i, name))}
		switch cell.Kind {
		case Baseline:
			return runBaseline(ctx, p)
		case RawSend:
			return runRawSend(ctx, p)
		case RawReceive:
			return runRawReceive(ctx, p)
		case Source:
			return runSource(ctx, p)
		case Sink:
			return runSink(ctx, p)
		}
		return runEndToEnd(ctx, p)
	}
	prog.step(cell, "warm-up")
	if _, err := run(max(min(cfg.Warmup, records/10), 1), "w"); err != nil {
		res.Error = err.Error()
		return res
	}
	var samples []Sample
	for r := range cfg.Repeats {
		prog.step(cell, fmt.Sprintf("run %d/%d", r+1, cfg.Repeats))
		s, err := run(records, fmt.Sprint(r))
		if err != nil {
			res.Error = err.Error()
			break
		}
		samples = append(samples, s)
	}
	res.Stats = summarize(samples)
	res.Repeats = len(samples)
	return res
}

// ratios fills RuntimeOverRaw and RawOverBaseline.
func ratios(rs []Result) {
	find := func(c Cell) *Result {
		for i := range rs {
			if rs[i].Cell == c && rs[i].Error == "" && rs[i].MsgPerSec > 0 {
				return &rs[i]
			}
		}
		return nil
	}
	div := func(a, b *Result) float64 {
		if a == nil || b == nil {
			return 0
		}
		return a.MsgPerSec / b.MsgPerSec
	}
	for i := range rs {
		r := &rs[i]
		if r.Error != "" || r.MsgPerSec == 0 {
			continue
		}
		at := func(k Kind) *Result { c := r.Cell; c.Kind = k; return find(c) }
		switch r.Kind {
		case RawSend, RawReceive:
			r.RawOverBaseline = div(r, find(Cell{Kind: Baseline, Size: r.Size, Topics: r.Topics}))
		case Source:
			r.RuntimeOverRaw = div(r, at(RawSend))
		case Sink:
			r.RuntimeOverRaw = div(r, at(RawReceive))
		case EndToEnd:
			send, recv := at(RawSend), at(RawReceive)
			if send != nil && recv != nil && recv.MsgPerSec < send.MsgPerSec {
				send = recv
			}
			if recv == nil {
				send = nil
			}
			r.RuntimeOverRaw = div(r, send)
		}
	}
}
