// Package breaker is the circuit breaker of the connector runtime.
//
// The breaker opens after Threshold consecutive failures. While it is open,
// Wait blocks callers (the runtime's intake stops pulling from the broker
// and workers stop calling the connector: backpressure, not burnt
// messages). After Cooldown it becomes half-open and lets exactly one probe
// through; the probe's success closes the breaker, its failure opens it
// again for another cooldown.
package breaker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// State is the breaker state.
type State uint8

// Breaker states.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String returns "closed", "open" or "half_open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return "unknown"
}

// Breaker is a circuit breaker. A nil *Breaker is a disabled breaker: Wait
// returns at once and the other methods do nothing. Safe for concurrent use.
type Breaker struct {
	threshold int
	cooldown  time.Duration
	onChange  func(State)

	clean atomic.Bool // closed with no failures counted: Success has nothing to do

	mu       sync.Mutex
	state    State
	failures int
	openedAt time.Time
	probing  bool          // a half-open probe is outstanding
	changed  chan struct{} // closed and replaced on every state change or probe release
	now      func() time.Time
}

// New returns a breaker opening after threshold consecutive failures and
// probing after cooldown. threshold ≤ 0 returns nil (disabled). onChange,
// if not nil, is called (with no lock held) after each state change; it
// must be quick.
func New(threshold int, cooldown time.Duration, onChange func(State)) *Breaker {
	if threshold <= 0 {
		return nil
	}
	b := &Breaker{threshold: threshold, cooldown: cooldown, onChange: onChange,
		changed: make(chan struct{}), now: time.Now}
	b.clean.Store(true)
	return b
}

// State returns the current state.
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// broadcast wakes every waiter; the caller holds mu.
func (b *Breaker) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Wait blocks until the caller may attempt a call: at once when closed; for
// the remaining cooldown when open; when half-open, until no other probe is
// outstanding. It returns probe = true when the caller is the half-open
// probe and must report its outcome with Success or Failure (or Release).
// It returns ctx.Err() when ctx is done first.
func (b *Breaker) Wait(ctx context.Context) (probe bool, err error) {
	if b == nil {
		return false, ctx.Err()
	}
	for {
		b.mu.Lock()
		var wait time.Duration
		changed := b.changed
		switch b.state {
		case Closed:
			b.mu.Unlock()
			return false, nil
		case Open:
			wait = b.cooldown - b.now().Sub(b.openedAt)
			if wait <= 0 {
				b.state = HalfOpen
				b.probing = true
				b.broadcast()
				b.mu.Unlock()
				b.notify(HalfOpen)
				return true, nil
			}
		case HalfOpen:
			if !b.probing {
				b.probing = true
				b.mu.Unlock()
				return true, nil
			}
		}
		b.mu.Unlock()
		if err := waitFor(ctx, changed, wait); err != nil {
			return false, err
		}
	}
}

// WaitReady blocks while the breaker is open and its cooldown has not
// elapsed. The intake calls it before pulling a message, so that an open
// breaker stops consumption; once the cooldown has elapsed the breaker turns
// half-open and the intake may pull again, while workers still go through
// Wait, which admits one probe at a time. It returns ctx.Err() when ctx is
// done first.
func (b *Breaker) WaitReady(ctx context.Context) error {
	if b == nil {
		return nil
	}
	for {
		b.mu.Lock()
		if b.state != Open {
			b.mu.Unlock()
			return nil
		}
		changed := b.changed
		wait := b.cooldown - b.now().Sub(b.openedAt)
		if wait <= 0 {
			b.state = HalfOpen
			b.broadcast()
			b.mu.Unlock()
			b.notify(HalfOpen)
			return nil
		}
		b.mu.Unlock()
		if err := waitFor(ctx, changed, wait); err != nil {
			return err
		}
	}
}

func waitFor(ctx context.Context, changed <-chan struct{}, d time.Duration) error {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-t.C:
		}
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	}
	return nil
}

// Success records a successful call: it closes the breaker.
func (b *Breaker) Success() {
	if b == nil || b.clean.Load() {
		return
	}
	b.mu.Lock()
	b.clean.Store(true)
	b.failures = 0
	b.probing = false
	prev := b.state
	if prev != Closed {
		b.state = Closed
		b.broadcast()
	}
	b.mu.Unlock()
	if prev != Closed {
		b.notify(Closed)
	}
}

// Failure records a failed call: the breaker opens after threshold
// consecutive failures, or at once after a failed half-open probe.
func (b *Breaker) Failure() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.clean.Store(false)
	b.failures++
	opened := false
	if b.state == HalfOpen || (b.state == Closed && b.failures >= b.threshold) {
		b.state = Open
		b.openedAt = b.now()
		b.probing = false
		b.broadcast()
		opened = true
	}
	b.mu.Unlock()
	if opened {
		b.notify(Open)
	}
}

// Release gives back a probe slot obtained from Wait without an outcome
// (the call was not made, e.g. on shutdown).
func (b *Breaker) Release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	if b.probing {
		b.probing = false
		b.broadcast()
	}
	b.mu.Unlock()
}

func (b *Breaker) notify(s State) {
	if b.onChange != nil {
		b.onChange(s)
	}
}
