package connecttest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB is a test whose failures are recorded instead of failing the real
// test it wraps; the rest (TempDir, Log, …) is the real test's.
type fakeTB struct {
	testing.TB

	mu       sync.Mutex
	failed   bool
	skipped  bool
	msgs     []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) record(msg string) {
	f.mu.Lock()
	f.failed = true
	f.msgs = append(f.msgs, msg)
	f.mu.Unlock()
}

func (f *fakeTB) Error(args ...any)                 { f.record(fmt.Sprint(args...)) }
func (f *fakeTB) Errorf(format string, args ...any) { f.record(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Fatal(args ...any)                 { f.record(fmt.Sprint(args...)); runtime.Goexit() }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.record(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (f *fakeTB) Fail()    { f.record("Fail") }
func (f *fakeTB) FailNow() { f.record("FailNow"); runtime.Goexit() }
func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}
func (f *fakeTB) Skip(args ...any) { f.SkipNow() }
func (f *fakeTB) Skipf(string, ...any) {
	f.SkipNow()
}
func (f *fakeTB) SkipNow() {
	f.mu.Lock()
	f.skipped = true
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	f.cleanups = append(f.cleanups, fn)
	f.mu.Unlock()
}
func (f *fakeTB) Deadline() (time.Time, bool) {
	if d, ok := f.TB.(interface{ Deadline() (time.Time, bool) }); ok {
		return d.Deadline()
	}
	return time.Time{}, false
}

func (f *fakeTB) output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.msgs, "\n")
}

// runFake runs check against a fake test wrapping t, then the cleanups the
// check registered (last first), each in a goroutine of its own as the
// testing package does, and returns the fake.
func runFake(t *testing.T, check func(testing.TB)) *fakeTB {
	t.Helper()
	f := &fakeTB{TB: t}
	inGoroutine(func() { check(f) })
	for {
		f.mu.Lock()
		n := len(f.cleanups)
		if n == 0 {
			f.mu.Unlock()
			return f
		}
		fn := f.cleanups[n-1]
		f.cleanups = f.cleanups[:n-1]
		f.mu.Unlock()
		inGoroutine(fn)
	}
}

func inGoroutine(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}
