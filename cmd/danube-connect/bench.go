package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect/internal/bench"
)

type benchFlags struct {
	full                   bool
	brokers, kinds         string
	windows, sizes, topics string
	jsonPath, svgPath      string
	cpuProfile             string
	noProcesses            bool
}

func newBenchCmd(c *cli) *cobra.Command {
	var cfg bench.Config
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput, latency, CPU, allocations and memory of the client and the runtimes",
		Long: `Bench measures, in one run against devbrokers on loopback (or the broker at
--service-url):

  baseline     bare gRPC publishes of the same message shape to a server that
               stores nothing: the physical limit of this machine
  raw-send     the client's producer, SendAsync pipelined
  raw-receive  the client's consumer draining a backlog, acks pipelined
  source       the generator connector in the source runtime, default settings
  sink         a no-op sink in the sink runtime draining a backlog, default settings
  e2e          generator → broker → no-op sink, default settings

for broker windows, payload sizes and topic counts, each cell with a
warm-up and repeats; the table shows medians, the ratios runtime ÷ raw and
raw ÷ baseline. Records are counted where they arrive. CPU, allocations and
peak RSS are the bench process's, which holds the in-process broker too.
Then it starts "danube-connect run" children and reads their RSS from
/proc: an idle file sink and generator, and both under sustained load.

The default is a quick subset (in-memory broker, windows 10 and 1000,
1 KB payloads, one topic); --full runs the whole matrix (both brokers,
100 B, 1 KB and 10 KB, 1 and 8 topics), which takes a while.`,
		Example: `  danube-connect bench
  danube-connect bench --full --json docs/benchmarks/latest.json --svg docs/benchmarks/latest.svg
  danube-connect bench --kinds raw-send,source --sizes 100,10240 --topics 1,8
  danube-connect bench --service-url http://broker:6650 --kinds raw-send,source,sink,e2e`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, c, cfg, f) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.full, "full", false, "run the full matrix (flags below still narrow it)")
	fl.StringVar(&cfg.ServiceURL, "service-url", "", "measure this broker instead of devbrokers")
	fl.StringVar(&f.brokers, "brokers", "", "devbrokers: memory,durable (default memory; --full both)")
	fl.StringVar(&f.windows, "windows", "", "devbroker windows of unacked messages (default 10,1000)")
	fl.StringVar(&f.sizes, "sizes", "", "payload sizes in bytes (default 1024; --full 100,1024,10240)")
	fl.StringVar(&f.topics, "topics", "", "topic counts (default 1; --full 1,8)")
	fl.StringVar(&f.kinds, "kinds", "", "kinds: baseline,raw-send,raw-receive,source,sink,e2e (default all)")
	fl.IntVar(&cfg.Records, "records", 20_000, "records per run")
	fl.IntVar(&cfg.Repeats, "repeats", 3, "runs per cell (medians are reported)")
	fl.DurationVar(&cfg.MaxTime, "max-time", 0, "bound of one run; what arrived by then counts (default 3s)")
	fl.DurationVar(&cfg.LoadTime, "load-time", 0, "duration of the RSS-under-load measurement (default 10s)")
	fl.BoolVar(&f.noProcesses, "no-processes", false, "skip the RSS measurement of danube-connect run children")
	fl.StringVar(&f.jsonPath, "json", "", "write the report as JSON to this file")
	fl.StringVar(&f.svgPath, "svg", "", "write a bar chart (SVG) to this file, e.g. docs/benchmarks/latest.svg")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file")
	return cmd
}

func runBench(cmd *cobra.Command, c *cli, cfg bench.Config, f benchFlags) error {
	if f.full {
		full := bench.Full()
		cfg.Brokers, cfg.Windows, cfg.Sizes, cfg.Topics, cfg.Kinds = full.Brokers, full.Windows, full.Sizes, full.Topics, full.Kinds
	}
	var err error
	if f.brokers != "" {
		cfg.Brokers = strings.Split(f.brokers, ",")
	}
	if f.kinds != "" {
		cfg.Kinds = nil
		for _, k := range strings.Split(f.kinds, ",") {
			cfg.Kinds = append(cfg.Kinds, bench.Kind(strings.TrimSpace(k)))
		}
	}
	for _, l := range []struct {
		name, val string
		dst       *[]int
	}{{"--windows", f.windows, &cfg.Windows}, {"--sizes", f.sizes, &cfg.Sizes}, {"--topics", f.topics, &cfg.Topics}} {
		if l.val == "" {
			continue
		}
		if *l.dst, err = intList(l.val); err != nil {
			return usagef("%s: %v", l.name, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	if !f.noProcesses {
		if cfg.Exe, err = os.Executable(); err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
		cfg.Env = c.env
	}
	cfg.Progress, cfg.Terminal = c.stderr, isTerminal(c.stderr)
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(cmd.Context(), cfg)
	if rep != nil {
		if werr := rep.WriteTable(c.stdout); werr != nil {
			return werr
		}
		if f.jsonPath != "" {
			if werr := rep.WriteJSON(f.jsonPath); werr != nil {
				return werr
			}
		}
		if f.svgPath != "" {
			if werr := rep.WriteSVGFile(f.svgPath); werr != nil {
				return werr
			}
		}
	}
	return err
}

func intList(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", p)
		}
		out = append(out, n)
	}
	return out, nil
}
