package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors"
	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/internal/observe"
)

// runtime is what SinkRuntime and SourceRuntime have in common.
type runtime interface {
	Run(ctx context.Context) error
	Ready(ctx context.Context) error
}

// supervisor runs several connectors in one process, each in its own
// goroutine (a unit), and reloads them on SIGHUP or file changes.
type supervisor struct {
	c         *cli
	log       *slog.Logger
	reg       *prometheus.Registry
	tp        trace.TracerProvider
	srv       *observe.Server // nil when the endpoints are disabled
	opts      config.Options
	watch     bool
	onStarted func()
	// offsets, when set, replaces the file offset store of every source
	// (an in-memory broker's offsets must not outlive it).
	offsets connect.OffsetStore
}

// unit is one connector and its configuration file.
type unit struct {
	path   string
	doc    *config.Document
	kind   connectors.Kind
	reload chan struct{} // a pending reload request (capacity 1)
	ready  chan struct{} // closed once the first runtime was ready or the unit ended
	once   sync.Once
}

func (u *unit) markReady() { u.once.Do(func() { close(u.ready) }) }

func (u *unit) requestReload() {
	select {
	case u.reload <- struct{}{}:
	default:
	}
}

// sinkStartTimeout bounds the wait for sinks to subscribe before sources
// start publishing (new subscriptions start at the latest message).
const sinkStartTimeout = 30 * time.Second

// run starts the sinks, waits until they are subscribed, starts the
// sources, and waits for every unit to end. A fatal error of one unit stops
// all; other errors stop that unit only. It returns every unit's error.
func (s *supervisor) run(ctx context.Context, docs []*config.Document) error {
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	units := make([]*unit, len(docs))
	for i, d := range docs {
		e, _ := connectors.Lookup(d.Core.Connector)
		units[i] = &unit{path: d.Source, doc: d, kind: e.Kind, reload: make(chan struct{}, 1), ready: make(chan struct{})}
	}

	var bg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(ctx)
	defer func() { stopBg(); bg.Wait() }()
	bg.Go(func() { s.reloadLoop(bgCtx, units) })

	s.createTopics(ctx, units)
	errs := make([]error, len(units))
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Go(func() {
			u := units[i]
			defer u.markReady()
			err := s.runUnit(ctx, u)
			if err != nil {
				errs[i] = fmt.Errorf("%s (%s): %w", u.doc.Core.ConnectorName, u.path, err)
				if connect.ClassOf(err) == connect.ClassFatal {
					s.log.Error("fatal error: stopping every connector", "connector", u.doc.Core.ConnectorName, "err", err)
					cancelAll()
				} else {
					s.log.Error("connector stopped with an error; the others keep running", "connector", u.doc.Core.ConnectorName, "err", err)
				}
			}
		})
	}
	for i, u := range units {
		if u.kind == connectors.Sink {
			start(i)
		}
	}
	wait := time.NewTimer(sinkStartTimeout)
	for _, u := range units {
		if u.kind != connectors.Sink {
			continue
		}
		select {
		case <-u.ready:
		case <-ctx.Done():
		case <-wait.C:
			s.log.Warn("sinks not ready yet; starting sources anyway", "waited", sinkStartTimeout)
		}
	}
	wait.Stop()
	for i, u := range units {
		if u.kind != connectors.Sink {
			start(i)
		}
	}
	if s.onStarted != nil {
		bg.Go(func() {
			for _, u := range units {
				select {
				case <-u.ready:
				case <-bgCtx.Done():
					return
				}
			}
			s.onStarted()
		})
	}
	bg.Go(func() { statusLoop(bgCtx, s.c.stderr, s.reg) })
	wg.Wait()
	return errors.Join(errs...)
}

// runUnit runs one connector until it stops, finishes, or ctx ends;
// reload requests rebuild it with the new configuration.
func (s *supervisor) runUnit(ctx context.Context, u *unit) error {
	doc := u.doc
	for {
		log := s.log.With("connector", doc.Core.ConnectorName)
		rt, conn, err := s.build(doc, s.log)
		if err != nil {
			return err
		}
		name := doc.Core.ConnectorName
		if s.srv != nil {
			s.srv.SetCheck(name, rt.Ready)
		}
		rctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- rt.Run(rctx) }()
		var watchers sync.WaitGroup
		watchers.Go(func() { waitReady(rctx, rt, u) })
		var finished <-chan struct{}
		if f, ok := conn.(connectors.Finisher); ok {
			finished = f.Done()
		}
		stop := func() error {
			cancel()
			err := <-errc
			watchers.Wait()
			if s.srv != nil {
				s.srv.RemoveCheck(name)
			}
			return err
		}
	wait:
		select {
		case err := <-errc:
			errc <- err
			return stop()
		case <-finished:
			log.Info("connector finished; stopping it")
			return stop()
		case <-u.reload:
			next, err := config.LoadDocument(u.path, connectors.Catalog(), s.opts)
			if err == nil {
				err = checkKind(next)
			}
			if err != nil {
				log.Error("configuration change rejected; the running configuration stays", "file", u.path, "err", err)
				goto wait
			}
			if reflect.DeepEqual(next.Core, doc.Core) && reflect.DeepEqual(next.Connector, doc.Connector) {
				log.Debug("configuration unchanged; not restarting", "file", u.path)
				goto wait
			}
			log.Info("configuration changed: draining and restarting", "file", u.path)
			if err := stop(); err != nil {
				return err
			}
			doc = next
			u.doc = next
		}
	}
}

// createTopics creates the destination topics of the sources (reliable or
// not, partitioned or not, as configured) before any sink subscribes: a
// subscription fails on a missing topic, and starts at the latest message,
// so sinks must subscribe after the topic exists and before sources
// publish. Failures are logged; the source reports them again.
func (s *supervisor) createTopics(ctx context.Context, units []*unit) {
	for _, u := range units {
		if u.kind != connectors.Source {
			continue
		}
		e, _ := connectors.Lookup(u.doc.Core.Connector)
		_, topics, err := e.NewSource(connectors.Env{Core: &u.doc.Core, Config: u.doc.Connector, Stdout: s.c.stdout})
		if err != nil || len(topics) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cl, err := danube.NewClient(cctx, u.doc.Core.DanubeServiceURL, u.doc.Core.ClientOptions()...)
		if err != nil {
			cancel()
			s.log.Warn("cannot create source topics before starting sinks", "connector", u.doc.Core.ConnectorName, "err", err)
			continue
		}
		for _, t := range topics {
			opts := []danube.ProducerOption{danube.WithProducerName(u.doc.Core.ConnectorName + "-create-topic")}
			if !t.NonReliable {
				opts = append(opts, danube.WithReliable())
			}
			if t.Partitions > 0 {
				opts = append(opts, danube.WithPartitions(t.Partitions))
			}
			p, err := cl.NewProducer(cctx, t.Topic, opts...)
			if err != nil {
				s.log.Warn("cannot create source topic before starting sinks", "connector", u.doc.Core.ConnectorName, "topic", t.Topic, "err", err)
				continue
			}
			_ = p.Close()
		}
		_ = cl.Close()
		cancel()
	}
}

// waitReady marks the unit ready once the runtime first reports ready.
func waitReady(ctx context.Context, rt runtime, u *unit) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := rt.Ready(cctx)
		cancel()
		if err == nil {
			u.markReady()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// build creates the connector and its runtime from a document.
func (s *supervisor) build(doc *config.Document, log *slog.Logger) (runtime, any, error) {
	e, ok := connectors.Lookup(doc.Core.Connector)
	if !ok {
		return nil, nil, connect.Configuration(fmt.Errorf("unknown connector %q", doc.Core.Connector))
	}
	env := connectors.Env{Core: &doc.Core, Config: doc.Connector, Stdout: s.c.stdout}
	opts := []connect.Option{connect.WithLogger(log), connect.WithMetrics(s.reg)}
	if s.tp != nil {
		opts = append(opts, connect.WithTracerProvider(s.tp))
	}
	switch e.Kind {
	case connectors.Sink:
		sink, err := e.NewSink(env)
		if err != nil {
			return nil, nil, err
		}
		rt, err := connect.NewSinkRuntime(sink, doc.Core.SinkConfig(), opts...)
		return rt, sink, err
	default:
		src, topics, err := e.NewSource(env)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := doc.Core.SourceConfig(topics)
		if err != nil {
			return nil, nil, err
		}
		cfg.OffsetStore = s.offsets
		rt, err := connect.NewSourceRuntime(src, cfg, opts...)
		return rt, src, err
	}
}

// checkKind reports core keys that do not apply to the document's kind of
// connector: a sink needs [[topics]]; a source names its topics in its own
// section, and its [[schemas]] entries must name those topics (a sink's
// are checked against [[topics]] when the document is loaded).
func checkKind(doc *config.Document) error {
	e, ok := connectors.Lookup(doc.Core.Connector)
	if !ok {
		return nil
	}
	switch {
	case e.Kind == connectors.Sink && len(doc.Core.Topics) == 0:
		return &config.Error{Source: doc.Source, Problems: []*config.FieldError{{Path: "topics",
			Msg: fmt.Sprintf("required: the %s sink consumes the topics listed in [[topics]]", e.Name)}}}
	case e.Kind == connectors.Source && len(doc.Core.Topics) > 0:
		return &config.Error{Source: doc.Source, Problems: []*config.FieldError{{Path: "topics",
			Msg: fmt.Sprintf("[[topics]] is for sinks; the %s source names its topic in [%s]", e.Name, e.Name)}}}
	case e.Kind == connectors.Source && len(doc.Core.Schemas) > 0:
		_, topics, err := e.NewSource(connectors.Env{Core: &doc.Core, Config: doc.Connector, Stdout: io.Discard})
		if err != nil {
			return err
		}
		names := make([]string, len(topics))
		for i, t := range topics {
			names[i] = t.Topic
		}
		if probs := doc.Core.SchemaProblems(names); len(probs) > 0 {
			return &config.Error{Source: doc.Source, Problems: probs}
		}
	}
	return nil
}

// reloadLoop turns SIGHUP (every unit) and changes of configuration files
// (that unit, after 100ms of quiet) into reload requests.
func (s *supervisor) reloadLoop(ctx context.Context, units []*unit) {
	var events <-chan fsnotify.Event
	var werrs <-chan error
	byPath := map[string]*unit{}
	if s.watch {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			s.log.Warn("cannot watch configuration files; reload with SIGHUP", "err", err)
		} else {
			defer w.Close()
			dirs := map[string]bool{}
			for _, u := range units {
				abs, _ := filepath.Abs(u.path)
				byPath[abs] = u
				dirs[filepath.Dir(abs)] = true
			}
			for d := range dirs {
				if err := w.Add(d); err != nil {
					s.log.Warn("cannot watch configuration directory; reload with SIGHUP", "dir", d, "err", err)
				}
			}
			events, werrs = w.Events, w.Errors
		}
	}
	const quiet = 100 * time.Millisecond
	pending := map[*unit]time.Time{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.c.hup:
			s.log.Info("SIGHUP: reloading every connector")
			for _, u := range units {
				u.requestReload()
			}
		case ev := <-events:
			abs, _ := filepath.Abs(ev.Name)
			u, ok := byPath[abs]
			if !ok || !ev.Has(fsnotify.Write|fsnotify.Create|fsnotify.Rename) {
				continue
			}
			pending[u] = time.Now().Add(quiet)
			timer.Reset(quiet)
		case err := <-werrs:
			s.log.Warn("watching configuration files", "err", err)
		case now := <-timer.C:
			next := time.Duration(0)
			for u, due := range pending {
				if !now.Before(due) {
					delete(pending, u)
					u.requestReload()
				} else if d := due.Sub(now); next == 0 || d < next {
					next = d
				}
			}
			if next > 0 {
				timer.Reset(next)
			}
		}
	}
}
