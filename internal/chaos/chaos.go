// Package chaos is the kill -9 harness behind "danube-connect chaos": a
// generator source process and a file sink process, both "danube-connect
// run" children, move numbered records through a durable devbroker child
// while the harness kills the sink, the source and the broker with SIGKILL
// at random moments and starts them again. At the end it reads the sink's
// output and counts, by sequence number, the records lost and duplicated.
//
// Delivery is at-least-once, so lost must be 0; duplicates are expected
// and bounded by what was in flight at each kill (see [Result.DupBound]).
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/childproc"
)

// Config configures a chaos run. Zero fields take their defaults.
type Config struct {
	// Exe is the danube-connect binary the children run (required).
	Exe string
	// Env is the children's environment (default: the harness's).
	Env []string
	// Dir is the working directory of the run: broker data, offsets,
	// configuration, the sink's output and the children's logs (default: a
	// new temporary directory, removed after a run without loss).
	Dir string
	// Records is the number of records the generator publishes (default 20,000).
	Records int
	// SinkKills, SourceKills and BrokerKills are how many times each child
	// is killed (defaults 3, 3 and 1; negative: never).
	SinkKills, SourceKills, BrokerKills int
	// Duration is how long the records should take to flow: the generator's
	// rate is Records/Duration and the kills fall at random moments within
	// it (default 30s).
	Duration time.Duration
	// Timeout bounds the whole run (default Duration + 5 minutes).
	Timeout time.Duration
	// PayloadSize is the generator's payload size in bytes (default 128).
	PayloadSize int
	// Seed seeds the kill schedule (0: random).
	Seed uint64
	// Progress receives a line per event; nil discards.
	Progress io.Writer
}

// Default sizes of a run.
const (
	DefaultRecords     = 20_000
	DefaultKills       = 3
	DefaultBrokerKills = 1
	DefaultDuration    = 30 * time.Second
)

// Settings of the children the duplicate bound depends on: the defaults of
// the source runtime and of the devbroker.
const (
	sourceMaxInFlight = 1000
	commitInterval    = time.Second
	brokerWindow      = 10
)

func (c Config) withDefaults() (Config, error) {
	if c.Exe == "" {
		return c, errors.New("chaos: no danube-connect binary")
	}
	if c.Env == nil {
		c.Env = os.Environ()
	}
	if c.Records <= 0 {
		c.Records = DefaultRecords
	}
	c.SinkKills = kills(c.SinkKills, DefaultKills)
	c.SourceKills = kills(c.SourceKills, DefaultKills)
	c.BrokerKills = kills(c.BrokerKills, DefaultBrokerKills)
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Timeout <= 0 {
		c.Timeout = c.Duration + 5*time.Minute
	}
	if c.PayloadSize <= 0 {
		c.PayloadSize = 128
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c, nil
}

func kills(n, def int) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return def
	}
	return n
}

// Result is the outcome of a run.
type Result struct {
	Records    int
	Lost       int
	Duplicated int64
	// DupBound is the most duplicates at-least-once delivery allows for the
	// kills made: per source kill, the records confirmed but not yet
	// committed (rate × commit interval) plus the source's in-flight bound;
	// per sink kill, the broker's window of unacked messages; per broker
	// kill, both in-flight bounds.
	DupBound int64
	// Kills made, per child.
	SinkKills, SourceKills, BrokerKills int
	// Crashes counts children that exited by themselves with an error and
	// were started again (e.g. a source whose retries ran out while the
	// broker was down).
	Crashes int
	// Torn counts sink output lines cut short by a kill.
	Torn int64
	// Foreign counts output lines without a sequence number of this run.
	Foreign  int64
	Missing  []int // the first lost sequence numbers
	Elapsed  time.Duration
	Dir      string
	Finished bool // every record arrived before the timeout
}

// Line is the harness's verdict line: "lost=L duplicated=D".
func (r Result) Line() string { return fmt.Sprintf("lost=%d duplicated=%d", r.Lost, r.Duplicated) }

const topic = "/default/chaos"

type event struct {
	at     time.Duration
	target string // "sink", "source" or "broker"
}

// harness is the state of one run, used by Run's goroutine only.
type harness struct {
	cfg                  Config
	rnd                  *rand.Rand
	out                  string // the sink's output file
	broker, source, sink *proc
	brokerAddr, sinkURL  string
	sourceDone           bool
	res                  Result
	start                time.Time
}

// Run runs the harness until every record reached the sink, ctx ends or
// the timeout passes, stops the children and returns the tally. An error
// means the harness itself could not run (the result is then partial).
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	h := &harness{cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, 0x6368616f73))}
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "danube-chaos-"); err != nil {
			return Result{}, err
		}
		h.cfg.Dir = cfg.Dir
	}
	h.res = Result{Records: cfg.Records, Dir: cfg.Dir}
	if err := h.setup(); err != nil {
		return h.res, err
	}
	defer h.stopAll()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	h.start = time.Now()
	h.logf("seed %d, %d records over ~%s, kills: sink %d, source %d, broker %d; dir %s",
		cfg.Seed, cfg.Records, cfg.Duration, cfg.SinkKills, cfg.SourceKills, cfg.BrokerKills, cfg.Dir)
	if err := h.startAll(ctx); err != nil {
		return h.res, err
	}
	tally, err := h.loop(ctx, parent)
	h.stopAll()
	if err == nil {
		// The sink may have written more while stopping.
		err = tally.ReadFile(h.out)
	}
	h.res.Elapsed = time.Since(h.start)
	h.res.Lost = tally.Lost()
	h.res.Duplicated = tally.Duplicated()
	h.res.Torn = tally.Torn
	h.res.Foreign = tally.Foreign
	h.res.Missing = tally.Missing(10)
	h.res.DupBound = h.dupBound()
	return h.res, err
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.cfg.Progress, "[%6.1fs] %s\n", time.Since(h.start).Seconds(), fmt.Sprintf(format, args...))
}

func (h *harness) dupBound() int64 {
	perSource := int64(sourceMaxInFlight) + int64(float64(h.rate())*commitInterval.Seconds()) + 1
	return int64(h.res.SourceKills+h.res.Crashes)*perSource +
		int64(h.res.SinkKills)*brokerWindow +
		int64(h.res.BrokerKills)*(sourceMaxInFlight+brokerWindow)
}

func (h *harness) rate() float64 {
	return float64(h.cfg.Records) / h.cfg.Duration.Seconds()
}

// schedule draws the kill moments, uniformly within 5–95 % of the duration.
func (h *harness) schedule() []event {
	var evs []event
	add := func(target string, n int) {
		for range n {
			f := 0.05 + 0.9*h.rnd.Float64()
			evs = append(evs, event{at: time.Duration(f * float64(h.cfg.Duration)), target: target})
		}
	}
	add("sink", h.cfg.SinkKills)
	add("source", h.cfg.SourceKills)
	add("broker", h.cfg.BrokerKills)
	slices.SortFunc(evs, func(a, b event) int { return int(a.at - b.at) })
	return evs
}

// loop drives the kills and restarts until the sink's file holds every
// record, ctx ends, or a child cannot be started.
func (h *harness) loop(ctx, parent context.Context) (*Tally, error) {
	tally := NewTally(h.cfg.Records)
	evs := h.schedule()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastRead, lastReport := time.Time{}, time.Now()
	for {
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return tally, fmt.Errorf("interrupted with %d of %d records at the sink: %w", tally.Distinct(), h.cfg.Records, err)
			}
			h.logf("timed out with %d of %d records at the sink", tally.Distinct(), h.cfg.Records)
			return tally, nil
		case <-tick.C:
		}
		for len(evs) > 0 && time.Since(h.start) >= evs[0].at {
			if err := h.kill(ctx, evs[0].target); err != nil {
				return tally, err
			}
			evs = evs[1:]
		}
		if err := h.restartExited(ctx); err != nil {
			return tally, err
		}
		if time.Since(lastRead) >= 250*time.Millisecond {
			lastRead = time.Now()
			if err := tally.ReadFile(h.out); err != nil {
				return tally, err
			}
			if tally.Distinct() == h.cfg.Records && len(evs) == 0 {
				h.res.Finished = true
				h.logf("all %d records at the sink (%d lines)", h.cfg.Records, tally.Lines)
				return tally, nil
			}
		}
		if time.Since(lastReport) >= 5*time.Second {
			lastReport = time.Now()
			h.logf("%d of %d records at the sink, %d duplicates so far", tally.Distinct(), h.cfg.Records, tally.Duplicated())
		}
	}
}

// kill kills one child with SIGKILL and starts it again after a short
// random pause.
func (h *harness) kill(ctx context.Context, target string) error {
	p := map[string]*proc{"sink": h.sink, "source": h.source, "broker": h.broker}[target]
	if target == "source" && h.sourceDone {
		h.logf("kill -9 source skipped: it already finished")
		return nil
	}
	if !p.running() {
		h.logf("kill -9 %s skipped: not running", target)
		return nil
	}
	pid := p.pid()
	p.kill()
	switch target {
	case "sink":
		h.res.SinkKills++
	case "source":
		h.res.SourceKills++
	case "broker":
		h.res.BrokerKills++
	}
	pause := time.Duration(h.rnd.Int64N(int64(500 * time.Millisecond)))
	h.logf("kill -9 %s (pid %d); restarting in %s", target, pid, pause.Round(time.Millisecond))
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(pause):
	}
	if target == "broker" {
		return h.startBroker(ctx)
	}
	return p.start()
}

// restartExited starts again a child that exited by itself, as a process
// supervisor would; the source exiting successfully is done.
func (h *harness) restartExited(ctx context.Context) error {
	for _, p := range []*proc{h.broker, h.sink, h.source} {
		done, err := p.exited()
		if !done || (p == h.source && h.sourceDone) {
			continue
		}
		if p == h.source && err == nil {
			h.sourceDone = true
			h.logf("source finished: every record confirmed and committed")
			continue
		}
		h.res.Crashes++
		h.logf("%s exited by itself (%v); starting it again (log: %s)", p.name, err, p.log)
		if p == h.broker {
			if err := h.startBroker(ctx); err != nil {
				return err
			}
			continue
		}
		if err := p.start(); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) startBroker(ctx context.Context) error {
	if err := h.broker.start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return waitTCP(wctx, h.broker, h.brokerAddr)
}

// startAll starts the broker, creates the topic, starts the sink, waits
// for its subscription, then starts the source.
func (h *harness) startAll(ctx context.Context) error {
	if err := h.startBroker(ctx); err != nil {
		return err
	}
	if err := createTopic(ctx, "http://"+h.brokerAddr); err != nil {
		return err
	}
	if err := h.sink.start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitReady(wctx, h.sink, h.sinkURL); err != nil {
		return err
	}
	h.logf("broker, sink up; starting the source")
	return h.source.start()
}

func (h *harness) stopAll() {
	for _, p := range []*proc{h.source, h.sink, h.broker} {
		if p != nil {
			p.stop(10 * time.Second)
		}
	}
}

// createTopic creates the reliable topic, so that the sink can subscribe
// before the source publishes.
func createTopic(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := danube.NewClient(ctx, url)
	if err != nil {
		return fmt.Errorf("chaos: connect to the broker: %w", err)
	}
	defer c.Close()
	p, err := c.NewProducer(ctx, topic, danube.WithReliable(), danube.WithProducerName("chaos-setup"))
	if err != nil {
		return fmt.Errorf("chaos: create %s: %w", topic, err)
	}
	return p.Close()
}

// setup writes the configuration files and prepares the children.
func (h *harness) setup() error {
	dir := h.cfg.Dir
	for _, d := range []string{"broker", "offsets", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	brokerPort, err := childproc.FreePort()
	if err != nil {
		return err
	}
	sinkPort, err := childproc.FreePort()
	if err != nil {
		return err
	}
	h.brokerAddr = fmt.Sprintf("127.0.0.1:%d", brokerPort)
	h.sinkURL = fmt.Sprintf("http://127.0.0.1:%d/readyz", sinkPort)
	h.out = filepath.Join(dir, "sink.jsonl")
	url := "http://" + h.brokerAddr
	files := map[string]string{
		"source.toml": sourceConfig(url, h.cfg.Records, h.rate(), h.cfg.PayloadSize, filepath.Join(dir, "offsets")),
		"sink.toml":   sinkConfig(url, h.out, sinkPort),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	child := func(name string, args ...string) *proc {
		return &proc{name: name, exe: h.cfg.Exe, args: args, env: h.cfg.Env, log: filepath.Join(dir, "logs", name+".log")}
	}
	h.broker = child("broker", "devbroker", "--addr", h.brokerAddr, "--data-dir", filepath.Join(dir, "broker"))
	h.sink = child("sink", "run", "--watch=false", "-c", filepath.Join(dir, "sink.toml"))
	h.source = child("source", "run", "--watch=false", "--http-addr", "off", "-c", filepath.Join(dir, "source.toml"))
	return nil
}

func sourceConfig(url string, records int, rate float64, payload int, offsets string) string {
	return fmt.Sprintf(`# Chaos harness source: numbered records 0..%[2]d-1.
danube_service_url = %[1]q
connector_name = "chaos-source"
connector = "generator"

[generator]
topic = %[6]q
count = %[2]d
rate = %[3]g
payload_size = %[4]d

[source]
offsets_dir = %[5]q
`, url, records, rate, payload, offsets, topic)
}

// sinkConfig is the file sink of the harness, with default settings.
func sinkConfig(url, out string, port int) string {
	return fmt.Sprintf(`# Chaos harness sink: appends every record to one JSON lines file.
danube_service_url = %[1]q
connector_name = "chaos-sink"
connector = "file"

[[topics]]
topic = %[4]q

[observability]
http_addr = "127.0.0.1:%[3]d"

[file]
path = %[2]q
append = true
`, url, out, port, topic)
}
