package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"strings"
)

// kindColors colours the bars of each kind.
var kindColors = map[Kind]string{
	Baseline: "#9e9e9e", RawSend: "#1f77b4", RawReceive: "#17becf",
	Source: "#ff7f0e", Sink: "#2ca02c", EndToEnd: "#d62728",
}

// WriteSVG draws the throughput of every result as a horizontal bar on a
// logarithmic axis, one row per cell, coloured by kind.
func (r *Report) WriteSVG(w io.Writer) error {
	var rows []Result
	for _, res := range r.Results {
		if res.Error == "" && res.MsgPerSec > 0 {
			rows = append(rows, res)
		}
	}
	const (
		left, barW, right = 250.0, 520.0, 130.0
		top, rowH         = 56.0, 18.0
		minV              = 10.0
	)
	maxV := 1e3
	for _, res := range rows {
		maxV = max(maxV, res.MsgPerSec)
	}
	maxV = math.Pow(10, math.Ceil(math.Log10(maxV)))
	x := func(v float64) float64 {
		v = max(v, minV)
		return left + barW*math.Log10(v/minV)/math.Log10(maxV/minV)
	}
	height := top + rowH*float64(len(rows)) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", left+barW+right, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="14" font-weight="bold">danube-connect bench: records per second (log scale, medians of %d)</text>`+"\n", r.Repeats)
	fmt.Fprintf(&b, `<text x="10" y="36" fill="#555">%s · %s/%s, %d CPUs · load %s · %s</text>`+"\n",
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Host.GOOS, r.Host.GOARCH, r.Host.CPUs, html.EscapeString(dash(r.Host.LoadBefore)), html.EscapeString(r.Host.GoVersion))
	for v := minV; v <= maxV; v *= 10 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/>`+"\n", x(v), top-4, x(v), top+rowH*float64(len(rows)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" fill="#555">%s</text>`+"\n", x(v), top+rowH*float64(len(rows))+14, siValue(v))
	}
	for i, res := range rows {
		y := top + rowH*float64(i)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+12, html.EscapeString(res.Cell.String()))
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/>`+"\n", left, y+3, x(res.MsgPerSec)-left, rowH-5, kindColors[res.Kind])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s/s</text>`+"\n", x(res.MsgPerSec)+4, y+12, siValue(res.MsgPerSec))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSVGFile writes the chart to path.
func (r *Report) WriteSVGFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.WriteSVG(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func siValue(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}
