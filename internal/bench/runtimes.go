package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors/generator"
	"github.com/danube-connect/connect/danube"
)

// stampedSource is the generator connector, noting when each record was
// polled so that the sink can compute its end-to-end latency.
type stampedSource struct {
	*generator.Source
	cfg    generator.Config
	stamps []atomic.Int64 // poll time (unix ns) by sequence number
}

func newGenerator(topic string, count, size int) (*stampedSource, error) {
	var cfg generator.Config
	if err := config.ApplyDefaults(&cfg); err != nil {
		return nil, err
	}
	cfg.Topic, cfg.Count, cfg.PayloadSize = topic, int64(count), size
	return &stampedSource{Source: generator.New(cfg), cfg: cfg, stamps: make([]atomic.Int64, count)}, nil
}

// Poll stamps the records the generator returns.
func (s *stampedSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	recs, err := s.Source.Poll(ctx)
	now := time.Now().UnixNano()
	for _, r := range recs {
		if seq, err := strconv.Atoi(r.Offset.Position); err == nil && seq < len(s.stamps) {
			s.stamps[seq].Store(now)
		}
	}
	return recs, err
}

// since returns how long ago the record with the generator payload p was
// polled (0 if unknown).
func (s *stampedSource) since(p []byte, now int64) time.Duration {
	const prefix = `{"seq":`
	if !bytes.HasPrefix(p, []byte(prefix)) {
		return 0
	}
	p = p[len(prefix):]
	seq := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			break
		}
		seq = seq*10 + int(c-'0')
	}
	if seq >= len(s.stamps) {
		return 0
	}
	if t := s.stamps[seq].Load(); t > 0 {
		return time.Duration(now - t)
	}
	return 0
}

// newGenerators returns one generator per topic of the run.
func newGenerators(p params) ([]*stampedSource, error) {
	gens := make([]*stampedSource, p.topics)
	for i := range gens {
		gen, err := newGenerator(p.topic(i), p.perTopic(i), p.size)
		if err != nil {
			return nil, err
		}
		gens[i] = gen
	}
	return gens, nil
}

// startSources starts a source runtime for each generator (one per topic),
// each with its own client and default settings. It returns a function
// reporting how many records the runtimes had confirmed, and a stop
// function that cancels the runtimes and waits for them.
func startSources(ctx context.Context, p params, gens []*stampedSource) (func() int64, func() error, error) {
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make([]error, p.topics)
	stop := func() error {
		cancel()
		wg.Wait()
		for _, err := range errs {
			if err := ignoreCanceled(err); err != nil {
				return err
			}
		}
		return nil
	}
	for i, gen := range gens {
		cfg := connect.SourceConfig{
			Name:       fmt.Sprintf("%s-source-%d", p.prefix, i),
			ServiceURL: p.url,
			Topics:     gen.cfg.Topics(),
			OffsetDir:  filepath.Join(p.dir, "offsets"),
		}
		rt, err := connect.NewSourceRuntime(gen, cfg, connect.WithMetrics(reg))
		if err != nil {
			stop()
			return nil, nil, err
		}
		wg.Go(func() { errs[i] = rt.Run(ctx) })
	}
	confirmed := func() int64 { return int64(counterSum(reg, "danube_connector_messages_processed_total")) }
	return confirmed, stop, nil
}

// counterSum gathers reg and sums the counter name over its labels.
func counterSum(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// runSource runs the generator through the source runtime with default
// settings, counting records the broker confirmed.
func runSource(ctx context.Context, p params) (Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, p.maxTime)
	defer cancel()
	var m meter
	m.begin(0)
	gens, err := newGenerators(p)
	if err != nil {
		return Sample{}, err
	}
	confirmed, stop, err := startSources(ctx, p, gens)
	if err != nil {
		return Sample{}, err
	}
	var n int64
	var last time.Time
	t := time.NewTicker(10 * time.Millisecond) // each poll gathers the metrics: not too often
	defer t.Stop()
	for ctx.Err() == nil && n < int64(p.records) {
		select {
		case <-ctx.Done():
		case <-t.C:
			if k := confirmed(); k > n {
				n, last = k, time.Now()
			}
		}
	}
	s := m.end(n, p.size, last)
	return s, stop()
}

// nopSink is a batch sink that only hands each record to a function, as
// the reference connectors (file, PostgreSQL, Delta Lake…) are batch
// sinks: the runtime batches for them, following its batch policy.
type nopSink func(connect.SinkRecord)

var _ connect.BatchSink = nopSink(nil)

func (nopSink) Open(context.Context, connect.SinkEnv) error { return nil }
func (nopSink) Close(context.Context) error                 { return nil }

func (s nopSink) Write(_ context.Context, rec connect.SinkRecord) error {
	s(rec)
	return nil
}

func (s nopSink) WriteBatch(_ context.Context, recs []connect.SinkRecord) error {
	for i := range recs {
		s(recs[i])
	}
	return nil
}

// startSink runs the sink runtime with a no-op batch sink and default settings
// on every topic of the run; onRecord sees each record.
func startSink(ctx context.Context, p params, onRecord func(connect.SinkRecord)) (*connect.SinkRuntime, func() error, error) {
	topics := make([]connect.SinkTopic, p.topics)
	for i := range topics {
		topics[i] = connect.SinkTopic{Topic: p.topic(i)}
	}
	rt, err := connect.NewSinkRuntime(nopSink(onRecord), connect.SinkConfig{Name: p.prefix + "-sink", ServiceURL: p.url, Topics: topics})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var runErr error
	var wg sync.WaitGroup
	wg.Go(func() { runErr = rt.Run(ctx) })
	stop := func() error {
		cancel()
		wg.Wait()
		return runErr
	}
	return rt, stop, nil
}

// sinkClient opens a client on p.url and creates the sink runtime's
// subscription on every topic, so that records published before the sink
// starts are kept for it.
func sinkClient(ctx context.Context, p params) (*danube.Client, error) {
	c, err := danube.NewClient(ctx, p.url)
	if err != nil {
		return nil, err
	}
	if _, err := subscribe(ctx, c, p, p.prefix+"-sink", false); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// runSink consumes a backlog with the sink runtime (no-op sink, default
// settings), counting the records the sink was handed.
func runSink(ctx context.Context, p params) (Sample, error) {
	c, err := sinkClient(ctx, p)
	if err != nil {
		return Sample{}, err
	}
	defer c.Close()
	if err := fillBacklogs(ctx, c, p); err != nil {
		return Sample{}, err
	}
	cnt := newCounter(p.records)
	ctx, cancel := context.WithTimeout(ctx, p.maxTime)
	defer cancel()
	var m meter
	m.begin(0)
	_, stop, err := startSink(ctx, p, func(connect.SinkRecord) { cnt.add(1) })
	if err != nil {
		return Sample{}, err
	}
	cnt.wait(ctx)
	s := m.end(min(cnt.n.Load(), int64(p.records)), p.size, cnt.lastAt())
	return s, ignoreCanceled(stop())
}

// runEndToEnd runs generator sources and a no-op sink runtime, all with
// default settings, and counts the records the sink was handed; latency is
// from the generator's poll to the sink's write.
func runEndToEnd(ctx context.Context, p params) (Sample, error) {
	c, err := sinkClient(ctx, p)
	if err != nil {
		return Sample{}, err
	}
	defer c.Close()
	cnt := newCounter(p.records)
	ctx, cancel := context.WithTimeout(ctx, p.maxTime)
	defer cancel()
	var m meter
	m.begin(p.records)
	gens, err := newGenerators(p)
	if err != nil {
		return Sample{}, err
	}
	index := map[string]int{}
	for i := range p.topics {
		index[p.topic(i)] = i
	}
	_, stopSink, err := startSink(ctx, p, func(rec connect.SinkRecord) {
		if d := gens[index[rec.Topic]].since(rec.Payload, time.Now().UnixNano()); d > 0 {
			m.lat.add(d)
		}
		cnt.add(1)
	})
	if err != nil {
		return Sample{}, err
	}
	_, stopSources, err := startSources(ctx, p, gens)
	if err != nil {
		stopSink()
		return Sample{}, err
	}
	cnt.wait(ctx)
	s := m.end(min(cnt.n.Load(), int64(p.records)), p.size, cnt.lastAt())
	errSrc := stopSources()
	errSink := stopSink()
	if err := ignoreCanceled(errSrc); err != nil {
		return s, err
	}
	return s, ignoreCanceled(errSink)
}

// ignoreCanceled drops the error of a runtime stopped by its context.
func ignoreCanceled(err error) error {
	if err == nil || connect.ExitCode(err) == 0 || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}
