package connecttest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/danube-connect/connect/devbroker"
)

// harness is what sink and source runs share: the test, the broker, the
// wait bound and the runtime's current Run.
type harness struct {
	t      testing.TB
	b      *devbroker.Broker
	limit  time.Duration // WithTimeout, 0 for the default
	logger *slog.Logger
	kind   string // "sink" or "source", for messages

	runMu sync.Mutex
	cur   *running
}

// newHarness resolves the options of a harness (see harnessOptions).
func newHarness(t testing.TB, o options, kind string) harness {
	return harness{t: t, b: o.broker, limit: o.timeout, logger: o.logger, kind: kind}
}

// timeout bounds one wait.
func (h *harness) timeout() time.Duration { return waitTimeout(h.t, h.limit) }

// current returns the current Run.
func (h *harness) current() *running {
	h.runMu.Lock()
	defer h.runMu.Unlock()
	return h.cur
}

// launch runs rt in a goroutine of the harness and makes it the current Run.
func (h *harness) launch(rt interface{ Run(context.Context) error }) *running {
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		run.err = rt.Run(ctx)
	}()
	h.runMu.Lock()
	h.cur = run
	h.runMu.Unlock()
	return run
}

// stopCurrent stops the current Run, if any, and returns it; fail reports
// a Run that did not return within the wait bound (t.Fatalf in the test's
// goroutine, t.Errorf in a cleanup).
func (h *harness) stopCurrent(fail func(format string, args ...any)) *running {
	run := h.current()
	if d := h.timeout(); run != nil && !run.stop(d) {
		fail("connecttest: the %s runtime did not stop within %v", h.kind, d)
	}
	return run
}

// running is one Run of a runtime in a goroutine owned by its harness.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // written before done is closed
}

func (r *running) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// stop cancels the run and waits for it; it reports whether it returned
// within timeout.
func (r *running) stop(timeout time.Duration) bool {
	r.cancel()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.done:
		return true
	case <-t.C:
		return false
	}
}
