package danube_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect/danube"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/testchild"
)

// logBuffer is a concurrency-safe log sink for a text slog handler.
type logBuffer struct{ testchild.Buffer }

// count returns how many lines at level (e.g. "WARN") hold msg.
func (l *logBuffer) count(level, msg string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, "level="+level) && strings.Contains(line, msg) {
			n++
		}
	}
	return n
}

// TestOutageRiddenOut stops the broker for three seconds while a producer
// sends and a consumer receives: every message arrives, each send is
// confirmed once, and the client logs the loss and the return once each
// rather than a line per attempt.
func TestOutageRiddenOut(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	var logs logBuffer
	c := newClient(t, b.URL(), danube.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub")

	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if i == n/2 {
				if err := b.Suspend(); err != nil {
					sent <- err
					return
				}
				time.AfterFunc(3*time.Second, func() { b.Resume(context.Background()) })
			}
			if err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte("m" + strconv.Itoa(i))}); err != nil {
				sent <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
		sent <- nil
	}()
	seen := map[string]int{}
	for len(seen) < n {
		m, err := cons.Receive(ctx)
		if err != nil {
			t.Fatalf("receive after %d of %d: %v", len(seen), n, err)
		}
		seen[string(m.Payload)]++
		if err := cons.Ack(ctx, m); err != nil {
			t.Fatalf("ack %s: %v", m.Payload, err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := b.Messages(topic)
	if len(msgs) < n || len(msgs) > n+1 {
		t.Errorf("the broker stored %d messages for %d confirmed sends (at most one repeat allowed: a send cut by the outage)", len(msgs), n)
	}
	eventually(t, "the return logged", func() bool { return logs.count("INFO", "broker reachable again") >= 1 })
	lost, back := logs.count("WARN", "broker unreachable; reconnecting"), logs.count("INFO", "broker reachable again")
	if lost < 1 || lost > 2 || back != lost {
		t.Errorf("logged the loss %d times and the return %d times, want once each (at most one flap)\n%s", lost, back, logs.String())
	}
	if n := logs.count("WARN", "") - lost; n > 0 {
		t.Errorf("%d more lines at WARN than the loss (per-attempt lines belong at DEBUG):\n%s", n, logs.String())
	}
}

// TestOutageGivesUp: with a short reconnect timeout, a send and a receive
// fail with a retryable ErrUnavailable once the broker is gone for that long,
// one "giving up" line is logged, and both work again once it is back.
func TestOutageGivesUp(t *testing.T) {
	b := startBroker(t, devbroker.Config{})
	var logs logBuffer
	c := newClient(t, b.URL(), danube.WithReconnectTimeout(time.Second),
		danube.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	topic := uniqueTopic(t)
	p := newProducer(t, c, topic, danube.WithReliable())
	cons := newConsumer(t, c, topic, "sub")
	send(t, p, "a", 1)
	receive(t, cons, 1, true)

	if err := b.Suspend(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	start := time.Now()
	err := p.Send(ctx, &danube.OutgoingMessage{Payload: []byte("lost")})
	if !errors.Is(err, danube.ErrUnavailable) || !danube.IsRetryable(err) || ctx.Err() != nil {
		t.Fatalf("send to a stopped broker: %v, want a retryable ErrUnavailable before the context ends", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("gave up after %s, before the reconnect timeout", d)
	}
	if _, err := cons.Receive(ctx); !errors.Is(err, danube.ErrUnavailable) {
		t.Fatalf("receive from a stopped broker: %v, want ErrUnavailable", err)
	}
	if cons.Reachable() {
		t.Error("Reachable() = true during the outage")
	}
	if n := logs.count("ERROR", "giving up"); n != 1 {
		t.Errorf("%d giving-up lines, want 1:\n%s", n, logs.String())
	}
	if err := b.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	send(t, p, "b", 1)
	receiveAll(t, cons, map[string]bool{"b0": true})
	if !cons.Reachable() {
		t.Error("Reachable() = false after the broker came back")
	}
}
