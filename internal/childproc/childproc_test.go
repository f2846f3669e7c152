package childproc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestPollReady(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	if err := Poll(context.Background(), make(chan struct{}), HTTPReady(srv.URL)); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if err := Poll(context.Background(), make(chan struct{}), TCPReady(srv.Listener.Addr().String())); err != nil {
		t.Fatalf("Poll TCP: %v", err)
	}
}

func TestPollExited(t *testing.T) {
	exited := make(chan struct{})
	close(exited)
	err := Poll(context.Background(), exited, func() bool { return false })
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Poll = %v, want ErrExited", err)
	}
}

func TestPollContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	err := Poll(ctx, make(chan struct{}), HTTPReady(srv.URL))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll = %v, want deadline exceeded", err)
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d not free: %v", port, err)
	}
	ln.Close()
	if TCPReady("127.0.0.1:" + strconv.Itoa(port))() {
		t.Fatal("TCPReady true with nobody listening")
	}
}
