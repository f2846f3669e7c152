package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/observe"
)

type runFlags struct {
	configFlags
	devbroker     bool
	devbrokerData string
	httpAddr      string
	logLevel      string
	logFormat     string
	watch         bool
}

func newRunCmd(c *cli) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run -c FILE...",
		Short: "Run the connectors the configuration files name",
		Long: `Run starts the built-in connector each file names (the connector key), all in
one process and isolated from each other: a connector that fails stops alone,
unless its error is fatal, which drains and stops the others too; the exit
code is then non-zero. Sinks start first, so that their subscriptions exist
before sources publish. A connector that finishes on its own (a generator with
a count, a file sink with max_records) is stopped gracefully; run exits when
every connector has stopped, or on SIGINT/SIGTERM after draining.

One HTTP listener serves /metrics, /healthz and /readyz for all connectors
(observability.http_addr of the first file, or --http-addr). Logs go to
stderr. When stderr is a terminal a status line shows records in and out.

Hot reload: SIGHUP, or a change of a configuration file (--watch), validates
the new configuration and restarts that connector with it after draining
(unfinished messages stay unacked and are redelivered; sources commit only
confirmed offsets). An invalid new configuration is logged and the running
one stays.

--devbroker starts an in-process development broker and points every
connector at it (the quickstart).`,
		Example: `  # The quickstart: finishes by itself after 1000 records
  danube-connect run --devbroker -c examples/quickstart/generator.toml -c examples/quickstart/file-sink.toml

  # Against a real broker
  DANUBE_SERVICE_URL=http://broker:6650 danube-connect run -c sink.toml`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return runConnectors(cmd.Context(), c, f) },
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.devbroker, "devbroker", false, "start an in-process development broker and connect every connector to it")
	cmd.Flags().StringVar(&f.devbrokerData, "devbroker-data-dir", "", "data directory of the --devbroker broker (default: in memory)")
	cmd.Flags().StringVar(&f.httpAddr, "http-addr", "", `listen address of /metrics /healthz /readyz, "off" to disable (default: from the first file)`)
	cmd.Flags().StringVar(&f.logLevel, "log-level", "", "log level: debug, info, warn, error (default: from the first file)")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "", "log format: text or json (default: from the first file)")
	cmd.Flags().BoolVar(&f.watch, "watch", true, "reload a connector when its configuration file changes")
	return cmd
}

func runConnectors(ctx context.Context, c *cli, f runFlags) error {
	paths, err := f.paths(c)
	if err != nil {
		return err
	}
	opts := f.options(c)
	docs, err := loadDocuments(paths, opts)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	first := docs[0].Core
	format := first.Observability.LogFormat
	if f.logFormat != "" {
		format = f.logFormat
	}
	level := first.LogLevel()
	if f.logLevel != "" {
		level = config.ParseLevel(f.logLevel)
	}
	var status *termOut
	logOut := c.stderr
	if isTerminal(c.stderr) {
		status = &termOut{w: c.stderr}
		logOut = status
	}
	log := observe.NewLogger(logOut, format, level)

	if f.devbroker {
		b, err := devbroker.Start(ctx, devbroker.Config{DataDir: f.devbrokerData, Logger: log.With("component", "devbroker")})
		if err != nil {
			return fmt.Errorf("start devbroker: %w", err)
		}
		defer b.Close()
		log.Info("devbroker started", "url", b.URL())
		opts = f.options(c, "danube_service_url="+b.URL())
		if docs, err = loadDocuments(paths, opts); err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var srv *observe.Server
	addr := first.ListenAddr()
	if f.httpAddr != "" {
		addr = f.httpAddr
	}
	if addr == "off" {
		addr = ""
	}
	if addr != "" {
		if srv, err = observe.NewServer(addr, reg, log); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Close(sctx)
		}()
	}
	service := first.Observability.ServiceName
	if service == "" {
		service = first.ConnectorName
	}
	obs := first.Observability
	tp, shutdownTracing, err := observe.NewTracing(ctx, observe.Tracing{Exporter: obs.TracingExporter, ServiceName: service,
		Endpoint: obs.OTLPEndpoint, Protocol: obs.OTLPProtocol, Getenv: c.getenv, Stdout: c.stdout})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(sctx)
	}()

	sup := &supervisor{c: c, log: log, reg: reg, tp: tp, srv: srv, opts: opts, watch: f.watch, status: status}
	if f.devbroker && f.devbrokerData == "" {
		// The broker keeps nothing after this run, so neither do the sources.
		sup.offsets = &connect.MemoryOffsetStore{}
	}
	if c.started != nil {
		sup.onStarted = func() {
			httpAddr := ""
			if srv != nil {
				httpAddr = srv.Addr()
			}
			c.started(httpAddr)
		}
	}
	start := time.Now()
	err = sup.run(ctx, docs)
	printSummary(c.stderr, reg, docs, time.Since(start))
	return err
}

// isTerminal reports whether w is a terminal (for the status line).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && termIsTerminal(int(f.Fd()))
}
