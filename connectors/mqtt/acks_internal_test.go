package mqtt

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestSettledWaitsForAckInFlight: the queue is not settled while an
// acknowledgement taken off the queue is still being handed to the client,
// so a stop cannot disconnect before it went out (it would be redelivered
// as a duplicate).
func TestSettledWaitsForAckInFlight(t *testing.T) {
	q := newAckQueue(4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Run(ctx) }()
	defer func() { cancel(); <-done }()

	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	p, err := q.Acquire(ctx, func() { close(entered); <-release })
	if err != nil {
		t.Fatal(err)
	}
	q.Confirm(p, nil)
	<-entered
	if q.Settled() {
		t.Fatal("settled while the acknowledgement is being sent")
	}
	unblock()
	q.Drain(10 * time.Second)
	if !q.Settled() {
		t.Fatal("not settled after the acknowledgement went out")
	}
	if q.Unacked() != 0 {
		t.Fatalf("unacked %d", q.Unacked())
	}
}
