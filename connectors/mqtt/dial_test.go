package mqtt

import (
	"context"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// TestDialNoDelay: tcp_nodelay sets TCP_NODELAY on the connection either way.
func TestDialNoDelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, want := range []bool{false, true} {
		u := &url.URL{Scheme: "tcp", Host: ln.Addr().String()}
		c, err := dial(context.Background(), u, nil, time.Second, want)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := c.(*net.TCPConn).SyscallConn()
		var v int
		var gerr error
		_ = raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY) })
		c.Close()
		if gerr != nil {
			t.Fatal(gerr)
		}
		if (v != 0) != want {
			t.Fatalf("tcp_nodelay = %v: TCP_NODELAY is %d", want, v)
		}
	}
}
