package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/danube-connect/connect/internal/chaos"
)

// errLost is returned by chaos when records were lost; the verdict line on
// stdout already says how many.
var errLost = fmt.Errorf("records were lost")

func newChaosCmd(c *cli) *cobra.Command {
	var cfg chaos.Config
	var keep bool
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Kill -9 a source, a sink and a broker while records flow; count lost and duplicated records",
		Long: `Chaos runs a durable devbroker, a generator source and a file sink as child
processes of this binary, and kills the sink, the source and the broker with
SIGKILL at random moments while numbered records flow, starting each again
after a short pause. Then it reads the sink's output and checks every
sequence number. The last line on stdout is

  lost=L duplicated=D

and the exit code is non-zero when L > 0. Delivery is at-least-once:
duplicates are expected, bounded by what was in flight at each kill (the
bound is printed just before). Progress goes to stderr; the working
directory (configurations, broker data, output, child logs) is kept when
records were lost or with --keep.`,
		Example: `  danube-connect chaos                                   # 20k records, 3 kills each, broker once
  danube-connect chaos --records 100000 --kills 10 --duration 90s`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this binary: %w", err)
			}
			cfg.Exe, cfg.Env, cfg.Progress = exe, c.env, c.stderr
			cfg.SourceKills = cfg.SinkKills
			if cfg.Dir != "" {
				keep = true
			}
			res, err := chaos.Run(cmd.Context(), cfg)
			if err != nil {
				return fmt.Errorf("chaos: %w (files in %s)", err, res.Dir)
			}
			fmt.Fprintf(c.stdout, "%d records in %s; kills: sink %d, source %d, broker %d; children restarted after exiting by themselves: %d; torn lines: %d; lines without a sequence number: %d\n",
				res.Records, res.Elapsed.Round(100*time.Millisecond), res.SinkKills, res.SourceKills, res.BrokerKills, res.Crashes, res.Torn, res.Foreign)
			fmt.Fprintf(c.stdout, "duplicates %d against an in-flight bound of %d\n", res.Duplicated, res.DupBound)
			if res.Lost > 0 {
				fmt.Fprintf(c.stdout, "first lost sequence numbers: %v; files kept in %s\n", res.Missing, res.Dir)
			} else if !keep {
				os.RemoveAll(res.Dir)
			}
			fmt.Fprintln(c.stdout, res.Line())
			if res.Lost > 0 {
				return errLost
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Records, "records", chaos.DefaultRecords, "records the generator publishes")
	f.IntVar(&cfg.SinkKills, "kills", chaos.DefaultKills, "kills of the sink and, as many, of the source (negative: none)")
	f.IntVar(&cfg.BrokerKills, "broker-kills", chaos.DefaultBrokerKills, "kills of the broker (negative: none)")
	f.DurationVar(&cfg.Duration, "duration", chaos.DefaultDuration, "how long the records take to flow; kills fall at random moments within it")
	f.DurationVar(&cfg.Timeout, "timeout", 0, "bound of the whole run (default: duration + 5m)")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the kill schedule (0: random)")
	f.StringVar(&cfg.Dir, "dir", "", "working directory, kept afterwards (default: a temporary one)")
	f.BoolVar(&keep, "keep", false, "keep the working directory")
	return cmd
}
