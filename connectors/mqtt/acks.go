package mqtt

import (
	"context"
	"sync"
	"time"
)

// ackQueue sends MQTT acknowledgements (PUBACK for QoS 1, PUBREC for QoS
// 2) in the order the messages were received — as MQTT requires — and
// only once Danube confirmed each message and every message before it.
// It also bounds the messages received and not yet acknowledged: Acquire
// blocks at capacity, which stops reading from the broker.
type ackQueue struct {
	slots chan struct{}
	wake  chan struct{}

	mu      sync.Mutex
	pending []*inflight // receive order
	sending int         // taken from pending by Run, acknowledgement not yet handed to the client
	sent    uint64      // acknowledgements handed to the client
}

// inflight is one received message awaiting Danube's confirmation.
type inflight struct {
	ack  func() // sends the MQTT acknowledgement; nil for QoS 0
	done bool   // Danube answered
	ok   bool   // Danube confirmed (or the record was skipped as invalid)
}

func newAckQueue(capacity int) *ackQueue {
	return &ackQueue{slots: make(chan struct{}, capacity), wake: make(chan struct{}, 1)}
}

// Acquire takes a slot for a message just received, in receive order
// (call it from the one goroutine the client delivers messages on). It
// blocks while the window is full.
func (q *ackQueue) Acquire(ctx context.Context, ack func()) (*inflight, error) {
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p := &inflight{ack: ack}
	q.mu.Lock()
	q.pending = append(q.pending, p)
	q.mu.Unlock()
	return p, nil
}

// Confirm records Danube's answer for p: nil lets its acknowledgement go
// once those before it went; an error holds it and every later one (the
// broker redelivers them after a reconnect). It never blocks.
func (q *ackQueue) Confirm(p *inflight, err error) {
	q.mu.Lock()
	p.done, p.ok = true, err == nil
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run sends the acknowledgements that became due until ctx is done.
func (q *ackQueue) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		for _, p := range q.due() {
			if p.ack != nil {
				p.ack()
			}
			q.mu.Lock()
			q.sent++
			q.sending--
			q.mu.Unlock()
			<-q.slots
		}
	}
}

// due removes and returns the confirmed prefix of pending.
func (q *ackQueue) due() []*inflight {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(q.pending) && q.pending[n].done && q.pending[n].ok {
		n++
	}
	out := q.pending[:n:n]
	q.pending = q.pending[n:]
	q.sending += n
	return out
}

// Unacked returns the messages received and not yet acknowledged.
func (q *ackQueue) Unacked() int { return len(q.slots) }

// Settled reports whether every acquired message has its answer and every
// due acknowledgement was handed to the client (its ack function
// returned): what is left is held for good.
func (q *ackQueue) Settled() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sending > 0 {
		return false // taken by Run, the ack function has not returned yet
	}
	for i, p := range q.pending {
		if !p.done {
			return false
		}
		if i == 0 && p.ok {
			return false // due, not sent yet
		}
	}
	return true
}

// Drain waits, at most d, until the queue is settled: on a graceful stop
// the runtime answers the records still in flight, and their
// acknowledgements should reach the broker before the connection closes
// (else the broker redelivers them as duplicates).
func (q *ackQueue) Drain(d time.Duration) { waitUntil(d, q.Settled) }

// waitUntil polls cond until it holds, at most d.
func waitUntil(d time.Duration, cond func() bool) {
	deadline := time.Now().Add(d)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
}
