// Package runner runs several connectors in one process, isolated from
// each other, and reloads them when their configuration changes. It is
// what the danube-connect command uses to run its configuration files,
// and what a program embedding its own connectors can use the same way.
//
// Each [Connector] is loaded (Load) and built into a runtime (Build, a
// connect.SinkRuntime or SourceRuntime) that runs in its own goroutine:
//
//   - Sinks start first; sources start once every sink is ready (their
//     subscriptions exist, so nothing the sources publish is missed), or
//     after [Runner.SinkStartTimeout].
//   - A connector whose runtime fails stops alone and the others keep
//     running, unless the error is fatal (connect.ClassFatal), which
//     cancels every connector. [Runner.Run] returns every connector's
//     error, joined.
//   - A connector that finishes on its own ([Instance].Done) is stopped
//     gracefully; Run returns when every connector has stopped, or after
//     its context is cancelled and every runtime has drained.
//   - A reload request ([Runner.Reload], or a change of the connector's
//     [Connector].File when [Runner.Watch] is set) calls Load again; when
//     the configuration changed (by reflect.DeepEqual) the running runtime
//     is drained and a new one is built from the new configuration. A
//     configuration that fails to load is logged and the running one
//     stays.
//   - With a [Connector].HealthInterval, the runtime's Ready check runs
//     periodically; HealthThreshold consecutive failures log the connector
//     as unhealthy (once), and a later success logs its recovery.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/danube-connect/connect"
)

// Runtime is what connect.SinkRuntime and connect.SourceRuntime have in
// common.
type Runtime interface {
	// Run runs until ctx is cancelled (returning nil or ctx's error after
	// draining) or a failure.
	Run(ctx context.Context) error
	// Ready reports whether the runtime is connected and healthy.
	Ready(ctx context.Context) error
}

// Instance is one built runtime of a connector.
type Instance struct {
	// Runtime runs the connector.
	Runtime Runtime
	// Done, when not nil, is closed when the connector finished on its own
	// (a generator with a count); the runner then stops it gracefully.
	Done <-chan struct{}
}

// Connector is one connector the Runner runs.
type Connector struct {
	// Name identifies the connector in logs, errors and health checks;
	// names must be unique.
	Name string
	// Sink marks a sink, started before the sources.
	Sink bool
	// File, when set and Runner.Watch is true, is watched: a change of it
	// reloads this connector.
	File string
	// Load returns the connector's configuration, at start and at every
	// reload request. Configurations are compared with reflect.DeepEqual:
	// an unchanged one does not restart the connector.
	Load func() (any, error)
	// Build creates a runtime from a configuration Load returned.
	Build func(cfg any) (Instance, error)
	// HealthInterval, when positive, runs the runtime's Ready check this
	// often in the background.
	HealthInterval time.Duration
	// HealthThreshold is the number of consecutive failed periodic checks
	// after which the connector is logged as unhealthy (default 1).
	HealthThreshold int
}

// Checks receives each running connector's readiness check (an HTTP
// /readyz endpoint, for example).
type Checks interface {
	SetCheck(name string, check func(ctx context.Context) error)
	RemoveCheck(name string)
}

// DefaultSinkStartTimeout is how long sources wait for the sinks to be
// ready when Runner.SinkStartTimeout is zero.
const DefaultSinkStartTimeout = 30 * time.Second

// Runner runs connectors. The zero value is ready to use; its fields must
// not change while Run runs.
type Runner struct {
	// Logger receives lifecycle logs (default slog.Default()).
	Logger *slog.Logger
	// Checks, when set, gets each running connector's Ready check.
	Checks Checks
	// Reload requests a reload of every connector (e.g. on SIGHUP).
	Reload <-chan struct{}
	// Watch reloads a connector when its File changes.
	Watch bool
	// SinkStartTimeout bounds the wait for sinks before sources start
	// (default DefaultSinkStartTimeout).
	SinkStartTimeout time.Duration
	// BeforeSinks, when set, is called with the first configuration of
	// every source before any sink starts (e.g. to create the topics the
	// sinks subscribe to).
	BeforeSinks func(ctx context.Context, c *Connector, cfg any)
	// OnStarted, when set, is called once every connector is ready (or
	// has ended).
	OnStarted func()
}

func (r *Runner) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// unit is one connector while it runs.
type unit struct {
	c      *Connector
	cfg    any
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

// Run loads every connector (reporting every Load error at once, nothing
// started), starts the sinks, waits until they are ready, starts the
// sources, and waits for every connector to stop. A cancelled ctx drains
// and stops them all; that is not an error.
func (r *Runner) Run(ctx context.Context, conns []Connector) error {
	units := make([]*unit, len(conns))
	var lerrs []error
	names := map[string]bool{}
	for i := range conns {
		c := &conns[i]
		if names[c.Name] {
			lerrs = append(lerrs, connect.Configuration(fmt.Errorf("runner: connector name %q is used twice", c.Name)))
		}
		names[c.Name] = true
		if c.Load == nil || c.Build == nil {
			lerrs = append(lerrs, connect.Configuration(fmt.Errorf("runner: connector %q needs Load and Build", c.Name)))
			continue
		}
		cfg, err := c.Load()
		if err != nil {
			lerrs = append(lerrs, fmt.Errorf("%s: %w", c.Name, err))
			continue
		}
		units[i] = &unit{c: c, cfg: cfg, reload: make(chan struct{}, 1), ready: make(chan struct{})}
	}
	if err := errors.Join(lerrs...); err != nil {
		return err
	}

	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	var bg sync.WaitGroup
	bgCtx, stopBg := context.WithCancel(ctx)
	defer func() { stopBg(); bg.Wait() }()
	bg.Go(func() { r.reloadLoop(bgCtx, units) })

	if r.BeforeSinks != nil {
		for _, u := range units {
			if !u.c.Sink {
				r.BeforeSinks(ctx, u.c, u.cfg)
			}
		}
	}
	errs := make([]error, len(units))
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Go(func() {
			u := units[i]
			defer u.markReady()
			err := r.runUnit(ctx, u)
			if err == nil {
				return
			}
			errs[i] = fmt.Errorf("%s: %w", u.c.Name, err)
			if connect.ClassOf(err) == connect.ClassFatal {
				r.log().Error("fatal error: stopping every connector", "connector", u.c.Name, "err", err)
				cancelAll()
			} else {
				r.log().Error("connector stopped with an error; the others keep running", "connector", u.c.Name, "err", err)
			}
		})
	}
	for i, u := range units {
		if u.c.Sink {
			start(i)
		}
	}
	timeout := r.SinkStartTimeout
	if timeout <= 0 {
		timeout = DefaultSinkStartTimeout
	}
	wait := time.NewTimer(timeout)
	for _, u := range units {
		if !u.c.Sink {
			continue
		}
		select {
		case <-u.ready:
		case <-ctx.Done():
		case <-wait.C:
			r.log().Warn("sinks not ready yet; starting sources anyway", "waited", timeout)
		}
	}
	wait.Stop()
	for i, u := range units {
		if !u.c.Sink {
			start(i)
		}
	}
	if r.OnStarted != nil {
		bg.Go(func() {
			for _, u := range units {
				select {
				case <-u.ready:
				case <-bgCtx.Done():
					return
				}
			}
			r.OnStarted()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runUnit runs one connector until it stops, finishes, or ctx ends;
// reload requests rebuild it with the new configuration. Stopping a
// runtime the runner cancelled is not an error.
func (r *Runner) runUnit(ctx context.Context, u *unit) error {
	log := r.log().With("connector", u.c.Name)
	for {
		inst, err := u.c.Build(u.cfg)
		if err != nil {
			return err
		}
		if r.Checks != nil {
			r.Checks.SetCheck(u.c.Name, inst.Runtime.Ready)
		}
		rctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- inst.Runtime.Run(rctx) }()
		var watchers sync.WaitGroup
		watchers.Go(func() { waitReady(rctx, inst.Runtime, u) })
		if u.c.HealthInterval > 0 {
			watchers.Go(func() { healthLoop(rctx, log, inst.Runtime, u.c.HealthInterval, u.c.HealthThreshold) })
		}
		stop := func() error {
			cancel()
			err := <-errc
			watchers.Wait()
			if r.Checks != nil {
				r.Checks.RemoveCheck(u.c.Name)
			}
			if errors.Is(err, context.Canceled) {
				return nil // we cancelled it: a graceful stop
			}
			return err
		}
	wait:
		select {
		case err := <-errc:
			errc <- err
			return stop()
		case <-inst.Done:
			log.Info("connector finished; stopping it")
			return stop()
		case <-u.reload:
			next, err := u.c.Load()
			if err != nil {
				log.Error("configuration change rejected; the running configuration stays", "file", u.c.File, "err", err)
				goto wait
			}
			if reflect.DeepEqual(next, u.cfg) {
				log.Debug("configuration unchanged; not restarting", "file", u.c.File)
				goto wait
			}
			log.Info("configuration changed: draining and restarting", "file", u.c.File)
			if err := stop(); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			u.cfg = next
		}
	}
}

// waitReady marks the unit ready once the runtime first reports ready.
func waitReady(ctx context.Context, rt Runtime, u *unit) {
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

// healthLoop runs rt.Ready every interval and logs state changes: unhealthy
// after threshold consecutive failures, healthy again after a success.
func healthLoop(ctx context.Context, log *slog.Logger, rt Runtime, interval time.Duration, threshold int) {
	threshold = max(threshold, 1)
	t := time.NewTicker(interval)
	defer t.Stop()
	failures, unhealthy := 0, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, interval)
		err := rt.Ready(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && unhealthy:
			log.Info("connector healthy again")
			failures, unhealthy = 0, false
		case err == nil:
			failures = 0
		default:
			failures++
			if failures >= threshold && !unhealthy {
				unhealthy = true
				log.Error("connector unhealthy", "consecutive_failed_checks", failures, "err", err)
			}
		}
	}
}
