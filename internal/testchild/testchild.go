// Package testchild runs the test binary again as a child process, so that
// a test can kill a connector or broker with SIGKILL and start it again:
// the kill -9 tests of the connectors and the devbroker.
//
// The child is selected with -test.run: the name of a test that runs only
// when its environment says so, or "^$" for a TestMain that takes over
// when its environment says so.
package testchild

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
)

// Command returns a command running the test binary with -test.run=run,
// -test.count=1 and env added to the environment. Once started, the
// test's cleanup kills the process and waits for it.
func Command(t testing.TB, run string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), env...)
	t.Cleanup(func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// Start starts Command(t, run, env...) with its standard output and error
// collected, and logged by the test if it failed. It fails the test if the
// process cannot start.
func Start(t testing.TB, run string, env ...string) *exec.Cmd {
	t.Helper()
	out := &Buffer{}
	t.Cleanup(func() { // registered first, so it runs after the kill and wait
		if t.Failed() {
			t.Logf("child output:\n%s", out.String())
		}
	})
	cmd := Command(t, run, env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testchild: %v", err)
	}
	return cmd
}

// StartLine starts Command(t, run, env...) with its standard error passed
// through to the test's, and returns it with the first line (newline
// included) the child writes to its standard output: a child announcing
// its address or that it serves. It fails the test if the process cannot
// start or ends its output before a line.
func StartLine(t testing.TB, run string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := Command(t, run, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("testchild: %v", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("testchild: %v", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("testchild: first line of the child: %q, %v", line, err)
	}
	return cmd, line
}

// Starter returns a function that starts, as Start does, the child test
// run with spec passed as JSON in the environment variable env. Called
// again after the child was killed, it starts the same child anew.
func Starter(t testing.TB, run, env string, spec any) func() *exec.Cmd {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatalf("testchild: %v", err)
	}
	return func() *exec.Cmd {
		t.Helper()
		return Start(t, run, env+"="+string(b))
	}
}

// Spec decodes into v the JSON that Starter passed in the environment
// variable env. It skips the test when env is unset: the test is then not
// a child, and has nothing to do.
func Spec(t testing.TB, env string, v any) {
	t.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		t.Skipf("runs only as a child started with %s", env)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		t.Fatalf("testchild: %s: %v", env, err)
	}
}

// RunUntilTerm calls run with a context that ends on SIGTERM, and fails
// the test if run returns an error: the body of a child connector process.
func RunUntilTerm(t testing.TB, run func(context.Context) error) {
	t.Helper()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		t.Fatal(err)
	}
}

// Buffer is a bytes.Buffer safe for concurrent use: a child's output
// copying goroutine (or an in-process command) writes it while the test
// may read it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what has been written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
