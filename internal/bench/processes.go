package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/childproc"
)

// ProcessRSS is the resident set of a "danube-connect run" child, read
// from /proc/PID/status (VmRSS) by the bench process.
type ProcessRSS struct {
	Name    string  `json:"name"`
	RSSMB   float64 `json:"rss_mb"`  // median of the samples (idle) or of the second half (load), MiB
	PeakMB  float64 `json:"peak_mb"` // highest sample, MiB
	Samples int     `json:"samples"`
}

// child is one "danube-connect run" process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startChild(cfg Config, dir, name, toml string) (*child, error) {
	path := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(cfg.Exe, "run", "--watch=false", "-c", path)
	cmd.Env = cfg.Env
	cmd.Stderr = logf // stdout (the file sink's output) is discarded
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *child) rss() int64 { return RSS(c.cmd.Process.Pid) }

// sample reads the RSS of each child every interval for d.
func sample(ctx context.Context, d, interval time.Duration, cs ...*child) [][]int64 {
	out := make([][]int64, len(cs))
	t := time.NewTicker(interval)
	defer t.Stop()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
		for i, c := range cs {
			if v := c.rss(); v > 0 {
				out[i] = append(out[i], v)
			}
		}
	}
	return out
}

func summarizeRSS(name string, vals []int64) ProcessRSS {
	p := ProcessRSS{Name: name, Samples: len(vals)}
	if len(vals) == 0 {
		return p
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	p.RSSMB = float64(s[len(s)/2]) / (1 << 20)
	p.PeakMB = float64(s[len(s)-1]) / (1 << 20)
	return p
}

// measureProcesses measures, from outside, the RSS of an idle file sink and
// an idle generator (rate 1/s), then of a generator publishing as fast as
// it can and a file sink consuming it, each in its own "danube-connect
// run" process with default settings.
func measureProcesses(ctx context.Context, cfg Config, dir string, prog *progress) ([]ProcessRSS, error) {
	dir = filepath.Join(dir, "processes")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	url := cfg.ServiceURL
	if url == "" {
		b, err := devbroker.Start(ctx, devbroker.Config{})
		if err != nil {
			return nil, err
		}
		defer b.Close()
		url = b.URL()
	}
	var out []ProcessRSS
	run := func(label, topic string, rate string, inflight int, d time.Duration) error {
		if err := createTopic(ctx, url, topic); err != nil {
			return err
		}
		port, err := childproc.FreePort()
		if err != nil {
			return err
		}
		name := strings.NewReplacer(" ", "-", ",", "").Replace(label)
		sink, err := startChild(cfg, dir, name+"-sink", sinkTOML(url, name+"-sink", topic, port, inflight))
		if err != nil {
			return err
		}
		defer sink.stop()
		if err := waitReady(ctx, sink, fmt.Sprintf("http://127.0.0.1:%d/readyz", port)); err != nil {
			return fmt.Errorf("bench: %s sink: %w (log in %s)", label, err, dir)
		}
		src, err := startChild(cfg, dir, name+"-source", sourceTOML(url, name+"-source", topic, rate, inflight))
		if err != nil {
			return err
		}
		defer src.stop()
		prog.note(fmt.Sprintf("RSS of danube-connect run children: %s, %s", label, d))
		vals := sample(ctx, d, 200*time.Millisecond, sink, src)
		if label != "idle" {
			// The second half: after start-up and the first fill of every bound.
			for i := range vals {
				vals[i] = vals[i][len(vals[i])/2:]
			}
		}
		out = append(out, summarizeRSS(label+" file sink", vals[0]), summarizeRSS(label+" generator source", vals[1]))
		return ctx.Err()
	}
	if err := run("idle", "/default/bench-idle", "1", 0, min(5*time.Second, cfg.LoadTime)); err != nil {
		return out, err
	}
	if err := run("load", "/default/bench-load", "0", 0, cfg.LoadTime); err != nil {
		return out, err
	}
	// Ten times the default in-flight bound: the memory under load follows it.
	return out, run("load, max_in_flight 10000,", "/default/bench-load-10k", "0", 10_000, cfg.LoadTime)
}

// processing is the [processing] section setting max_in_flight (0: the default).
func processing(inflight int) string {
	if inflight == 0 {
		return ""
	}
	return fmt.Sprintf("\n[processing]\nmax_in_flight = %d\n", inflight)
}

func sinkTOML(url, name, topic string, port, inflight int) string {
	return fmt.Sprintf(`danube_service_url = %q
connector_name = %q
connector = "file"
%s
[[topics]]
topic = %q

[observability]
http_addr = "127.0.0.1:%d"

[file]
path = "-"
`, url, name, processing(inflight), topic, port)
}

func sourceTOML(url, name, topic, rate string, inflight int) string {
	return fmt.Sprintf(`danube_service_url = %q
connector_name = %q
connector = "generator"
%s
[generator]
topic = %q
rate = %s
payload_size = 1024

[observability]
http_addr = "off"
`, url, name, processing(inflight), topic, rate)
}

// createTopic creates a reliable topic, so that a sink can subscribe
// before its source publishes.
func createTopic(ctx context.Context, url, topic string) error {
	c, err := danube.NewClient(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := c.NewProducer(ctx, topic, danube.WithReliable())
	if err != nil {
		return fmt.Errorf("bench: create %s: %w", topic, err)
	}
	return p.Close()
}

// waitReady polls url until it answers 200, the child exits or 30s pass.
func waitReady(ctx context.Context, c *child, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := childproc.Poll(ctx, c.done, childproc.HTTPReady(url))
	if err != nil && !errors.Is(err, childproc.ErrExited) {
		return fmt.Errorf("not ready: %w", err)
	}
	return err
}
