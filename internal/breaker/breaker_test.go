package breaker

import (
	"context"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest(threshold int) (*Breaker, *clock, *[]State) {
	c := &clock{t: time.Unix(1000, 0)}
	var states []State
	var mu sync.Mutex
	b := New(threshold, time.Minute, func(s State) { mu.Lock(); states = append(states, s); mu.Unlock() })
	b.now = c.now
	return b, c, &states
}

func TestDisabled(t *testing.T) {
	var b *Breaker = New(0, time.Second, nil)
	if b != nil {
		t.Fatal("threshold 0 must disable the breaker")
	}
	b.Failure()
	b.Success()
	b.Release()
	if p, err := b.Wait(t.Context()); p || err != nil {
		t.Fatalf("Wait = %v, %v", p, err)
	}
	if err := b.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b.State() != Closed {
		t.Fatal("disabled breaker must report closed")
	}
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		name  string
		steps func(b *Breaker, c *clock)
		want  State
	}{
		{"below threshold stays closed", func(b *Breaker, c *clock) { b.Failure(); b.Failure() }, Closed},
		{"success resets the count", func(b *Breaker, c *clock) { b.Failure(); b.Failure(); b.Success(); b.Failure(); b.Failure() }, Closed},
		{"threshold opens", func(b *Breaker, c *clock) { b.Failure(); b.Failure(); b.Failure() }, Open},
		{"cooldown makes half-open on WaitReady", func(b *Breaker, c *clock) {
			b.Failure()
			b.Failure()
			b.Failure()
			c.add(time.Minute)
			_ = b.WaitReady(context.Background())
		}, HalfOpen},
		{"probe success closes", func(b *Breaker, c *clock) {
			b.Failure()
			b.Failure()
			b.Failure()
			c.add(time.Minute)
			if p, _ := b.Wait(context.Background()); !p {
				panic("expected probe")
			}
			b.Success()
		}, Closed},
		{"probe failure reopens", func(b *Breaker, c *clock) {
			b.Failure()
			b.Failure()
			b.Failure()
			c.add(time.Minute)
			_, _ = b.Wait(context.Background())
			b.Failure()
		}, Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, c, _ := newTest(3)
			tt.steps(b, c)
			if got := b.State(); got != tt.want {
				t.Fatalf("state = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOpenBlocksUntilCancelled(t *testing.T) {
	b, _, _ := newTest(1)
	b.Failure()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Wait(ctx); err == nil {
		t.Fatal("Wait on an open breaker returned before cooldown")
	}
	if err := b.WaitReady(ctx); err == nil {
		t.Fatal("WaitReady on an open breaker returned before cooldown")
	}
}

func TestSingleProbe(t *testing.T) {
	b, c, states := newTest(1)
	b.Failure()
	c.add(time.Minute)
	p, err := b.Wait(t.Context())
	if !p || err != nil {
		t.Fatalf("first Wait = %v, %v; want probe", p, err)
	}
	got := make(chan bool, 1)
	go func() {
		p, _ := b.Wait(t.Context())
		got <- p
	}()
	select {
	case <-got:
		t.Fatal("second caller passed while a probe is outstanding")
	case <-time.After(10 * time.Millisecond):
	}
	b.Success()
	if p := <-got; p {
		t.Fatal("after close, callers are not probes")
	}
	want := []State{Open, HalfOpen, Closed}
	if len(*states) != len(want) {
		t.Fatalf("states = %v, want %v", *states, want)
	}
	for i := range want {
		if (*states)[i] != want[i] {
			t.Fatalf("states = %v, want %v", *states, want)
		}
	}
}

func TestReleaseLetsNextProbe(t *testing.T) {
	b, c, _ := newTest(1)
	b.Failure()
	c.add(time.Minute)
	if p, _ := b.Wait(t.Context()); !p {
		t.Fatal("want probe")
	}
	b.Release()
	if p, _ := b.Wait(t.Context()); !p {
		t.Fatal("after Release the next caller must be the probe")
	}
}
