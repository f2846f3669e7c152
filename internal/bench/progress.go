package bench

import (
	"fmt"
	"io"
	"time"
)

// progress shows where a run is: on a terminal one status line rewritten
// in place, elsewhere one line per finished cell.
type progress struct {
	w        io.Writer
	terminal bool
	total    int
	finished int
	start    time.Time
}

func newProgress(w io.Writer, terminal bool, total int) *progress {
	return &progress{w: w, terminal: terminal, total: total, start: time.Now()}
}

// step says what runs now.
func (p *progress) step(cell Cell, what string) {
	if p.terminal {
		fmt.Fprintf(p.w, "\r\x1b[K[%d/%d %s] %s: %s", p.finished+1, p.total, p.elapsed(), cell, what)
	}
}

// note shows a free-form status.
func (p *progress) note(what string) {
	if p.terminal {
		fmt.Fprintf(p.w, "\r\x1b[K[%s] %s", p.elapsed(), what)
		return
	}
	fmt.Fprintf(p.w, "[%s] %s\n", p.elapsed(), what)
}

// done reports a finished cell.
func (p *progress) done(r Result) {
	p.finished++
	line := fmt.Sprintf("%s: %.0f msg/s", r.Cell, r.MsgPerSec)
	if r.Error != "" {
		line = fmt.Sprintf("%s: error: %s", r.Cell, r.Error)
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r\x1b[K[%d/%d %s] %s", p.finished, p.total, p.elapsed(), line)
		return
	}
	fmt.Fprintf(p.w, "[%d/%d %s] %s\n", p.finished, p.total, p.elapsed(), line)
}

// finish ends the status line.
func (p *progress) finish() {
	if p.terminal {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func (p *progress) elapsed() string { return time.Since(p.start).Round(time.Second).String() }
