package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/term"

	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors"
)

func termIsTerminal(fd int) bool { return term.IsTerminal(fd) }

// counts are one connector's record counters, summed over its topics.
type counts struct {
	in, out, failed, dlq float64
}

// gatherCounts reads the danube_connector_* counters per connector.
func gatherCounts(reg prometheus.Gatherer) map[string]counts {
	out := map[string]counts{}
	mfs, err := reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "connector" {
					name = l.GetValue()
				}
			}
			if name == "" || m.GetCounter() == nil {
				continue
			}
			c := out[name]
			v := m.GetCounter().GetValue()
			switch mf.GetName() {
			case "danube_connector_messages_received_total":
				c.in += v
			case "danube_connector_messages_processed_total":
				c.out += v
			case "danube_connector_messages_failed_total":
				c.failed += v
			case "danube_connector_dlq_messages_total":
				c.dlq += v
			}
			out[name] = c
		}
	}
	return out
}

// termOut is a terminal shared by log lines and a status line: the status
// line is cleared before any other write, so log lines never end up
// appended to it, and drawn again at the next tick.
type termOut struct {
	mu    sync.Mutex
	w     io.Writer
	shown bool
}

// Write clears the status line, if shown, then writes p.
func (t *termOut) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shown {
		t.shown = false
		if _, err := io.WriteString(t.w, "\r\033[K"); err != nil {
			return 0, err
		}
	}
	return t.w.Write(p)
}

// setStatus replaces the status line with s ("" clears it).
func (t *termOut) setStatus(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.shown && s == "" {
		return
	}
	fmt.Fprintf(t.w, "\r\033[K%s", s)
	t.shown = s != ""
}

// statusLoop rewrites a one-line status on out every second: records in
// and out, output rate and errors per connector. A nil out (not a
// terminal) shows nothing.
func statusLoop(ctx context.Context, out *termOut, reg prometheus.Gatherer) {
	if out == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	prev := map[string]counts{}
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			out.setStatus("")
			return
		case now := <-t.C:
			cur := gatherCounts(reg)
			secs := now.Sub(last).Seconds()
			var parts []string
			for _, name := range slices.Sorted(mapsKeys(cur)) {
				c := cur[name]
				rate := (c.out - prev[name].out) / secs
				parts = append(parts, fmt.Sprintf("%s: %.0f in, %.0f out (%.0f/s), %.0f errors", name, c.in, c.out, rate, c.failed))
			}
			prev, last = cur, now
			out.setStatus(strings.Join(parts, " | "))
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// printSummary writes one line per connector after a run.
func printSummary(w io.Writer, reg prometheus.Gatherer, docs []*config.Document, elapsed time.Duration) {
	cs := gatherCounts(reg)
	fmt.Fprintf(w, "summary after %s:\n", elapsed.Round(time.Millisecond))
	for _, d := range docs {
		c := cs[d.Core.ConnectorName]
		e, _ := connectors.Lookup(d.Core.Connector)
		verb := "written"
		if e.Kind == connectors.Source {
			verb = "published"
		}
		fmt.Fprintf(w, "  %s (%s %s): %.0f received, %.0f %s, %.0f failed, %.0f dead-lettered\n",
			d.Core.ConnectorName, d.Core.Connector, e.Kind, c.in, c.out, verb, c.failed, c.dlq)
	}
}
