package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the results as an aligned table with the ratios, then
// the processes' RSS.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tbroker\twindow\tpayload\ttopics\trecords\tmsg/s\tMB/s\tp50 ms\tp99 ms\tallocs/rec\tCPU s/M\tpeak RSS MB\truntime/raw\traw/baseline\t")
	for _, res := range r.Results {
		if res.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t-\terror (below)\t\t\t\t\t\t\t\t\t\n", res.Kind, dash(res.Broker), window(res.Window), res.Size, res.Topics)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.0f\t%.1f\t%s\t%s\t%.1f\t%.1f\t%.0f\t%s\t%s\t\n",
			res.Kind, dash(res.Broker), window(res.Window), res.Size, res.Topics, res.Records,
			res.MsgPerSec, res.MBPerSec, ms(res.LatencyP50Ms), ms(res.LatencyP99Ms),
			res.AllocsPerRecord, res.CPUSecPerM, res.PeakRSSMB, ratio(res.RuntimeOverRaw), ratio(res.RawOverBaseline))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Results {
		if res.Error != "" {
			fmt.Fprintf(w, "error in %s: %s\n", res.Cell, oneLine(res.Error))
		}
	}
	if len(r.Processes) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "process (danube-connect run, measured from outside)\tRSS MB\tpeak MB\t")
		for _, p := range r.Processes {
			fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t\n", p.Name, p.RSSMB, p.PeakMB)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	whose := "client and in-process broker"
	if r.ServiceURL != "" {
		whose = "client only"
	}
	_, err := fmt.Fprintf(w, "\nmedians of %d runs, each of up to %d records and %d MB of payload, counted for at most %s; CPU, allocations and RSS are the bench process's (%s); load average %s → %s\n",
		r.Repeats, r.Records, r.MaxBytes/1_000_000, r.MaxTime, whose, dash(r.Host.LoadBefore), dash(r.Host.LoadAfter))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func window(w int) string {
	if w == 0 {
		return "-"
	}
	return fmt.Sprint(w)
}

func ms(v float64) string {
	if v == 0 {
		return "-"
	}
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func ratio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

// WriteJSON writes the report to path as indented JSON.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
