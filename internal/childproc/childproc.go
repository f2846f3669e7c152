// Package childproc holds what the bench and chaos harnesses share to
// start a child process and wait for it to be ready: a free loopback port
// for the child to listen on, and a poll that ends when the child is
// ready, when it exits, or when the context ends.
package childproc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ErrExited is returned by Poll when the child exited before it was ready.
var ErrExited = errors.New("exited while starting")

// pollInterval is how often Poll checks readiness.
const pollInterval = 20 * time.Millisecond

// FreePort returns a loopback port nobody listens on right now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Poll calls ready every 20ms until it reports true (nil), exited is
// closed (ErrExited) or ctx ends (ctx.Err()).
func Poll(ctx context.Context, exited <-chan struct{}, ready func() bool) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for !ready() {
		select {
		case <-exited:
			return ErrExited
		default:
		}
		select {
		case <-exited:
			return ErrExited
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// HTTPReady returns a readiness check that is true when url answers
// 200 OK (a /readyz), each request bounded by one second.
func HTTPReady(url string) func() bool {
	client := &http.Client{Timeout: time.Second}
	return func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// TCPReady returns a readiness check that is true when addr accepts a
// TCP connection.
func TCPReady(addr string) func() bool {
	return func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}
