package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors"
	"github.com/danube-connect/connect/internal/observe"
	"github.com/danube-connect/connect/runner"
)

// supervisor turns configuration documents into runner connectors: the
// built-in connector each names, with the process's logger, metrics,
// tracing and endpoints.
type supervisor struct {
	c         *cli
	log       *slog.Logger
	reg       *prometheus.Registry
	tp        trace.TracerProvider
	srv       *observe.Server // nil when the endpoints are disabled
	opts      config.Options
	watch     bool
	onStarted func()
	status    *termOut // the terminal of the status line; nil: none
	// offsets, when set, replaces the file offset store of every source
	// (an in-memory broker's offsets must not outlive it).
	offsets connect.OffsetStore
}

// run runs every document's connector until all have stopped.
func (s *supervisor) run(ctx context.Context, docs []*config.Document) error {
	conns := make([]runner.Connector, len(docs))
	for i, d := range docs {
		conns[i] = s.connector(d)
	}
	r := &runner.Runner{
		Logger:      s.log,
		Watch:       s.watch,
		Reload:      hupRequests(ctx, s.c.hup),
		BeforeSinks: s.createTopics,
		OnStarted:   s.onStarted,
	}
	if s.srv != nil {
		r.Checks = checks{s.srv}
	}
	var bg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(ctx)
	defer func() { stopBg(); bg.Wait() }()
	bg.Go(func() { statusLoop(bgCtx, s.status, s.reg) })
	return r.Run(ctx, conns)
}

// checks adapts the endpoints server to runner.Checks.
type checks struct{ srv *observe.Server }

func (c checks) SetCheck(name string, f func(context.Context) error) { c.srv.SetCheck(name, f) }
func (c checks) RemoveCheck(name string)                             { c.srv.RemoveCheck(name) }

// hupRequests turns SIGHUP into reload requests until ctx ends.
func hupRequests(ctx context.Context, hup <-chan os.Signal) <-chan struct{} {
	if hup == nil {
		return nil
	}
	out := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case out <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// connector is the runner connector of one document: the first Load
// returns the document already loaded, later ones (reloads) read the file
// again.
func (s *supervisor) connector(doc *config.Document) runner.Connector {
	e, _ := connectors.Lookup(doc.Core.Connector)
	first := true
	return runner.Connector{
		Name: doc.Core.ConnectorName,
		Sink: e.Kind == connectors.Sink,
		File: doc.Source,
		Load: func() (any, error) {
			if first {
				first = false
				return doc, nil
			}
			next, err := config.LoadDocument(doc.Source, connectors.Catalog(), s.opts)
			if err == nil {
				err = checkKind(next)
			}
			if err == nil && next.Core.ConnectorName != doc.Core.ConnectorName {
				err = fmt.Errorf("connector_name changed from %q to %q: restart the process to rename a connector", doc.Core.ConnectorName, next.Core.ConnectorName)
			}
			return next, err
		},
		Build: func(cfg any) (runner.Instance, error) {
			return s.build(cfg.(*config.Document))
		},
		HealthInterval:  time.Duration(doc.Core.Processing.HealthCheckIntervalMS) * time.Millisecond,
		HealthThreshold: doc.Core.Processing.HealthCheckFailureThreshold,
	}
}

// createTopics creates the destination topics of a source before any sink
// subscribes (a subscription starts at the latest message). Failures are
// logged; the source reports them again.
func (s *supervisor) createTopics(ctx context.Context, c *runner.Connector, cfg any) {
	doc := cfg.(*config.Document)
	e, _ := connectors.Lookup(doc.Core.Connector)
	_, topics, err := e.NewSource(connectors.Env{Core: &doc.Core, Config: doc.Connector, Stdout: io.Discard})
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := runner.CreateTopics(cctx, doc.Core.DanubeServiceURL, doc.Core.ClientOptions(), c.Name+"-create-topic", topics); err != nil {
		s.log.Warn("cannot create source topics before starting sinks", "connector", c.Name, "err", err)
	}
}

// build creates the connector and its runtime from a document.
func (s *supervisor) build(doc *config.Document) (runner.Instance, error) {
	e, ok := connectors.Lookup(doc.Core.Connector)
	if !ok {
		return runner.Instance{}, connect.Configuration(fmt.Errorf("unknown connector %q", doc.Core.Connector))
	}
	env := connectors.Env{Core: &doc.Core, Config: doc.Connector, Stdout: s.c.stdout}
	opts := []connect.Option{connect.WithLogger(s.log), connect.WithMetrics(s.reg)}
	if s.tp != nil {
		opts = append(opts, connect.WithTracerProvider(s.tp))
	}
	var rt runner.Runtime
	var conn any
	switch e.Kind {
	case connectors.Sink:
		sink, err := e.NewSink(env)
		if err != nil {
			return runner.Instance{}, err
		}
		if rt, err = connect.NewSinkRuntime(sink, doc.Core.SinkConfig(), opts...); err != nil {
			return runner.Instance{}, err
		}
		conn = sink
	default:
		src, topics, err := e.NewSource(env)
		if err != nil {
			return runner.Instance{}, err
		}
		cfg, err := doc.Core.SourceConfig(topics)
		if err != nil {
			return runner.Instance{}, err
		}
		cfg.OffsetStore = s.offsets
		if rt, err = connect.NewSourceRuntime(src, cfg, opts...); err != nil {
			return runner.Instance{}, err
		}
		conn = src
	}
	inst := runner.Instance{Runtime: rt}
	if f, ok := conn.(connectors.Finisher); ok {
		inst.Done = f.Done()
	}
	return inst, nil
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
