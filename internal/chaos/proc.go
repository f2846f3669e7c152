package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/danube-connect/connect/internal/childproc"
)

// proc is one child process of the harness: the broker, the source or the
// sink, started again after each kill. It is used by the harness loop only.
type proc struct {
	name string
	exe  string
	args []string
	env  []string
	log  string // file receiving the child's stdout and stderr

	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd exited
	err    error         // exit status, once done is closed
	starts int
}

func (p *proc) start() error {
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- start %d of %s\n", p.starts+1, p.name)
	cmd := exec.Command(p.exe, p.args...)
	cmd.Env = p.env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done, p.err = cmd, make(chan struct{}), nil
	p.starts++
	done := p.done
	go func() {
		err := cmd.Wait()
		p.err = err
		close(done)
	}()
	return nil
}

// running reports whether the current child has not exited.
func (p *proc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exited reports whether the child exited by itself, with its status.
func (p *proc) exited() (bool, error) {
	if p.cmd == nil || p.running() {
		return false, nil
	}
	return true, p.err
}

// kill sends SIGKILL and waits for the child to be gone.
func (p *proc) kill() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to grace before killing.
func (p *proc) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// pid returns the current child's process id (0 before the first start).
func (p *proc) pid() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// waitTCP waits until addr accepts connections, p exits or ctx ends.
func waitTCP(ctx context.Context, p *proc, addr string) error {
	return poll(ctx, p, childproc.TCPReady(addr))
}

// waitReady waits until url answers 200 (a /readyz), p exits or ctx ends.
func waitReady(ctx context.Context, p *proc, url string) error {
	return poll(ctx, p, childproc.HTTPReady(url))
}

func poll(ctx context.Context, p *proc, ok func() bool) error {
	switch err := childproc.Poll(ctx, p.done, ok); {
	case errors.Is(err, childproc.ErrExited):
		return fmt.Errorf("%s exited while starting (%v); see %s", p.name, p.err, p.log)
	case err != nil:
		return fmt.Errorf("%s not ready: %w; see %s", p.name, err, p.log)
	}
	return nil
}
