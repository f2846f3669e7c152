package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/internal/testchild"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitFor = 30 * time.Second

// fakeRuntime runs until its context ends or fail receives an error.
type fakeRuntime struct {
	name    string
	started chan struct{}
	fail    chan error
	healthy atomic.Bool
	stopped atomic.Bool
}

func newFake(name string) *fakeRuntime {
	f := &fakeRuntime{name: name, started: make(chan struct{}), fail: make(chan error, 1)}
	f.healthy.Store(true)
	return f
}

func (f *fakeRuntime) Run(ctx context.Context) error {
	close(f.started)
	defer f.stopped.Store(true)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-f.fail:
		return err
	}
}

func (f *fakeRuntime) Ready(context.Context) error {
	if !f.healthy.Load() {
		return errors.New("not healthy")
	}
	return nil
}

// recorder builds fake runtimes and remembers each one, in build order.
type recorder struct {
	mu    sync.Mutex
	built map[string][]*fakeRuntime
	order []string
	cfgs  map[string][]any
}

func newRecorder() *recorder {
	return &recorder{built: map[string][]*fakeRuntime{}, cfgs: map[string][]any{}}
}

func (r *recorder) connector(name string, sink bool, load func() (any, error)) Connector {
	if load == nil {
		load = func() (any, error) { return name, nil }
	}
	return Connector{Name: name, Sink: sink, Load: load, Build: func(cfg any) (Instance, error) {
		f := newFake(name)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.built[name] = append(r.built[name], f)
		r.cfgs[name] = append(r.cfgs[name], cfg)
		r.order = append(r.order, name)
		return Instance{Runtime: f}, nil
	}}
}

// latest waits until name was built at least n times and returns the n-th.
func (r *recorder) nth(t *testing.T, name string, n int) *fakeRuntime {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		r.mu.Lock()
		b := r.built[name]
		r.mu.Unlock()
		if len(b) >= n {
			<-b[n-1].started
			return b[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s built %d times, want %d", name, len(b), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBuffer is a concurrency-safe log sink for a text slog handler.
type logBuffer struct{ testchild.Buffer }

func start(t *testing.T, r *Runner, conns []Connector) (cancel func(), done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan error, 1)
	go func() { ch <- r.Run(ctx, conns); close(ch) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ch:
		case <-time.After(waitFor):
			t.Error("Run did not return")
		}
	})
	return cancel, ch
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitFor):
		t.Fatal("Run did not return")
	}
	return nil
}

// Sinks start first; sources only once the sinks are ready; an interrupt
// drains everything and is not an error.
func TestSinksStartBeforeSources(t *testing.T) {
	rec := newRecorder()
	sink := rec.connector("sink", true, nil)
	var built atomic.Bool
	inner := sink.Build
	gate := make(chan struct{})
	sink.Build = func(cfg any) (Instance, error) {
		inst, err := inner(cfg)
		f := inst.Runtime.(*fakeRuntime)
		f.healthy.Store(false)
		go func() { <-gate; f.healthy.Store(true) }()
		built.Store(true)
		return inst, err
	}
	started := make(chan struct{})
	r := &Runner{Logger: slog.New(slog.DiscardHandler), OnStarted: func() { close(started) }}
	cancel, done := start(t, r, []Connector{rec.connector("source", false, nil), sink})
	rec.nth(t, "sink", 1)
	time.Sleep(50 * time.Millisecond) // give a wrong implementation the chance to start the source
	rec.mu.Lock()
	early := len(rec.built["source"])
	rec.mu.Unlock()
	if early != 0 {
		t.Fatal("the source started before the sink was ready")
	}
	close(gate)
	rec.nth(t, "source", 1)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("OnStarted not called")
	}
	cancel()
	if err := result(t, done); err != nil {
		t.Fatalf("interrupt: %v, want nil", err)
	}
	if !rec.nth(t, "sink", 1).stopped.Load() || !rec.nth(t, "source", 1).stopped.Load() {
		t.Fatal("runtimes not stopped")
	}
}

// A failing connector stops alone; a fatal one stops every connector.
func TestIsolationAndFatal(t *testing.T) {
	rec := newRecorder()
	var logs logBuffer
	r := &Runner{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	_, done := start(t, r, []Connector{rec.connector("a", true, nil), rec.connector("b", false, nil), rec.connector("c", false, nil)})
	a, b, c := rec.nth(t, "a", 1), rec.nth(t, "b", 1), rec.nth(t, "c", 1)

	b.fail <- errors.New("disk gone")
	deadline := time.Now().Add(waitFor)
	for !b.stopped.Load() {
		if time.Now().After(deadline) {
			t.Fatal("b did not stop")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if a.stopped.Load() || c.stopped.Load() {
		t.Fatal("a retryable failure of b stopped the others")
	}
	c.fail <- connect.Fatal(errors.New("credentials revoked"))
	err := result(t, done)
	if !a.stopped.Load() {
		t.Fatal("a fatal error did not stop the others")
	}
	if err == nil || !strings.Contains(err.Error(), "b: disk gone") || !strings.Contains(err.Error(), "credentials revoked") || strings.Contains(err.Error(), "a:") {
		t.Fatalf("error: %v", err)
	}
	if !strings.Contains(logs.String(), "fatal error: stopping every connector") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

// A reload request rebuilds a connector whose configuration changed, keeps
// one whose configuration did not, and keeps the running one when the new
// configuration does not load.
func TestReload(t *testing.T) {
	rec := newRecorder()
	var mu sync.Mutex
	cfg, loadErr := "v1", error(nil)
	load := func() (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return cfg, loadErr
	}
	reload := make(chan struct{})
	r := &Runner{Logger: slog.New(slog.DiscardHandler), Reload: reload}
	_, _ = start(t, r, []Connector{rec.connector("changing", true, load), rec.connector("steady", false, nil)})
	first, steady := rec.nth(t, "changing", 1), rec.nth(t, "steady", 1)

	mu.Lock()
	cfg = "v2"
	mu.Unlock()
	reload <- struct{}{}
	second := rec.nth(t, "changing", 2)
	if !first.stopped.Load() || second.stopped.Load() {
		t.Fatal("the old runtime was not drained before the new one ran")
	}
	mu.Lock()
	loadErr = errors.New("bad file")
	mu.Unlock()
	reload <- struct{}{}
	time.Sleep(100 * time.Millisecond)
	rec.mu.Lock()
	n, m, got := len(rec.built["changing"]), len(rec.built["steady"]), rec.cfgs["changing"]
	rec.mu.Unlock()
	if n != 2 || m != 1 || second.stopped.Load() || steady.stopped.Load() || fmt.Sprint(got) != "[v1 v2]" {
		t.Fatalf("after a bad reload: changing built %d times %v, steady %d", n, got, m)
	}
}

// A change of a connector's file reloads that connector only.
func TestFileWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.toml")
	write := func(s string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	rec := newRecorder()
	a := rec.connector("a", true, func() (any, error) {
		b, err := os.ReadFile(path)
		return string(b), err
	})
	a.File = path
	r := &Runner{Logger: slog.New(slog.DiscardHandler), Watch: true}
	_, _ = start(t, r, []Connector{a, rec.connector("b", true, nil)})
	rec.nth(t, "a", 1)
	rec.nth(t, "b", 1)
	write("two")
	rec.nth(t, "a", 2)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.built["b"]) != 1 || rec.cfgs["a"][1] != "two" {
		t.Fatalf("b built %d times; a's configs %v", len(rec.built["b"]), rec.cfgs["a"])
	}
}

// A connector that finishes is stopped gracefully; Run returns when all
// have stopped, without an error.
func TestFinished(t *testing.T) {
	finished := make(chan struct{})
	f := newFake("gen")
	c := Connector{Name: "gen", Load: func() (any, error) { return nil, nil }, Build: func(any) (Instance, error) {
		return Instance{Runtime: f, Done: finished}, nil
	}}
	_, done := start(t, &Runner{Logger: slog.New(slog.DiscardHandler)}, []Connector{c})
	<-f.started
	close(finished)
	if err := result(t, done); err != nil || !f.stopped.Load() {
		t.Fatalf("finished: %v stopped=%v", err, f.stopped.Load())
	}
}

// Load errors are reported for every connector at once, before anything
// starts; duplicate names are configuration errors.
func TestLoadErrors(t *testing.T) {
	rec := newRecorder()
	bad := rec.connector("bad", true, func() (any, error) { return nil, errors.New("no such file") })
	err := (&Runner{}).Run(t.Context(), []Connector{bad, rec.connector("x", false, nil), rec.connector("x", false, nil)})
	if err == nil || !strings.Contains(err.Error(), "bad: no such file") || connect.ExitCode(err) != 2 {
		t.Fatalf("err %v (exit %d)", err, connect.ExitCode(err))
	}
	if len(rec.order) != 0 {
		t.Fatalf("built %v before reporting load errors", rec.order)
	}
}

// The periodic health check logs a connector unhealthy after the
// threshold of consecutive failures, once, and its recovery.
func TestHealthChecks(t *testing.T) {
	rec := newRecorder()
	c := rec.connector("h", true, nil)
	c.HealthInterval, c.HealthThreshold = 5*time.Millisecond, 3
	var logs logBuffer
	r := &Runner{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	_, _ = start(t, r, []Connector{c})
	f := rec.nth(t, "h", 1)
	f.healthy.Store(false)
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(logs.String(), "connector unhealthy") {
		if time.Now().After(deadline) {
			t.Fatal("not logged unhealthy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "consecutive_failed_checks=3") {
		t.Fatalf("log:\n%s", logs.String())
	}
	f.healthy.Store(true)
	for !strings.Contains(logs.String(), "connector healthy again") {
		if time.Now().After(deadline) {
			t.Fatal("recovery not logged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "connector unhealthy"); n != 1 {
		t.Fatalf("unhealthy logged %d times", n)
	}
}
