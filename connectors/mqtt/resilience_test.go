package mqtt_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/devbroker"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// publishRetrying publishes until the broker acknowledges (across a
// broker restart).
func publishRetrying(t *testing.T, c paho.Client, topic string, payload []byte) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		tok := c.Publish(topic, 1, false, payload)
		if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("publish %s: %v", payload, tok.Error())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func missingOf(counts map[string]int, n int) []string {
	var out []string
	for i := range n {
		if p := fmt.Sprintf("m%04d", i); counts[p] == 0 {
			out = append(out, p)
		}
	}
	return out
}

// TestMosquittoRestartMidStream restarts Mosquitto while messages stream:
// the connector reports the lost connection, reconnects to its persistent
// session, subscribes again and loses no QoS 1 or 2 message.
func TestMosquittoRestartMidStream(t *testing.T) {
	for _, version := range []string{"3.1.1", "5"} {
		for _, qos := range []byte{1, 2} {
			t.Run(fmt.Sprintf("v%s/qos%d", version, qos), func(t *testing.T) {
				m := startMosquitto(t, "")
				cfg := newConfig(t, m.URL(), version, mqtt.Route{From: "plant/+/temp", To: "/default/restart", QoS: mqtt.QoS(qos)})
				src := mqtt.New(cfg)
				run := runSource(t, src, cfg)
				waitSubscribed(t, src)
				var sawDown atomic.Bool
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				go func() {
					for ctx.Err() == nil {
						if src.HealthCheck(ctx) != nil {
							sawDown.Store(true)
						}
						time.Sleep(2 * time.Millisecond)
					}
				}()
				pub := publisher(t, m.URL())
				const n = 400
				var wg sync.WaitGroup
				var sent atomic.Int64
				wg.Go(func() {
					for i := range n {
						publishRetrying(t, pub, fmt.Sprintf("plant/%d/temp", i%3), fmt.Appendf(nil, "m%04d", i))
						sent.Add(1)
					}
				})
				waitFor(t, 20*time.Second, "a third of the stream", func() bool { return len(run.Messages()) >= n/3 })
				m.Restart()
				wg.Wait()
				var counts map[string]int
				waitFor(t, 60*time.Second, "every message after the restart", func() bool {
					counts = map[string]int{}
					for _, r := range run.Messages() {
						counts[string(r.Payload)]++
					}
					return len(missingOf(counts, n)) == 0
				})
				if !sawDown.Load() {
					t.Fatal("health never reported the lost MQTT connection")
				}
				waitSubscribed(t, src)
			})
		}
	}
}

// TestDanubeOutageWithholdsAcks stops the Danube broker while MQTT
// messages arrive: nothing is acknowledged to Mosquitto until the broker
// is back and has the messages; none is lost.
func TestDanubeOutageWithholdsAcks(t *testing.T) {
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			m := startMosquitto(t, "")
			dir := t.TempDir()
			b, err := devbroker.Start(t.Context(), devbroker.Config{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			addr := b.Addr()
			cfg := newConfig(t, m.URL(), version, mqtt.Route{From: "meter/#", To: "/default/outage", QoS: 1})
			src := mqtt.New(cfg)
			runSource(t, src, cfg, connecttest.WithBroker(b),
				connecttest.WithRetry(connect.RetryPolicy{MaxRetries: 100000, Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}))
			waitSubscribed(t, src)
			pub := publisher(t, m.URL())
			const n = 60
			for i := range n / 2 {
				publish(t, pub, "meter/a", 1, fmt.Appendf(nil, "m%04d", i))
			}
			waitFor(t, 10*time.Second, "the first half acknowledged", func() bool { return src.Stats().Acked == n/2 })
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			for i := n / 2; i < n; i++ {
				publish(t, pub, "meter/a", 1, fmt.Appendf(nil, "m%04d", i))
			}
			waitFor(t, 10*time.Second, "the second half received", func() bool { return src.Stats().Received >= n })
			time.Sleep(500 * time.Millisecond)
			if st := src.Stats(); st.Acked != n/2 || st.Unacked != n/2 {
				t.Fatalf("during the outage: %+v, want %d acked and %d unacked", st, n/2, n/2)
			}
			b2, err := devbroker.Start(t.Context(), devbroker.Config{DataDir: dir, Addr: addr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b2.Close() })
			waitFor(t, 30*time.Second, "every message acknowledged after the outage", func() bool { return src.Stats().Acked == n })
			_, counts := stored(b2, "/default/outage")
			if miss := missingOf(counts, n); len(miss) > 0 {
				t.Fatalf("lost %v", miss)
			}
		})
	}
}

// TestReceiveMaximumBoundsUnacked: while Danube does not confirm, at most
// receive_maximum messages are received and unacknowledged; the rest wait
// at the MQTT broker and arrive once Danube is back.
func TestReceiveMaximumBoundsUnacked(t *testing.T) {
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			m := startMosquitto(t, "")
			dir := t.TempDir()
			b, err := devbroker.Start(t.Context(), devbroker.Config{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			addr := b.Addr()
			cfg := newConfig(t, m.URL(), version, mqtt.Route{From: "bound/#", To: "/default/bound", QoS: 1})
			cfg.ReceiveMaximum = 10
			src := mqtt.New(cfg)
			runSource(t, src, cfg, connecttest.WithBroker(b),
				connecttest.WithRetry(connect.RetryPolicy{MaxRetries: 100000, Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}))
			waitSubscribed(t, src)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			pub := publisher(t, m.URL())
			const n = 50
			for i := range n {
				publish(t, pub, fmt.Sprintf("bound/%d", i%5), 1, fmt.Appendf(nil, "m%04d", i))
			}
			waitFor(t, 10*time.Second, "a full window", func() bool { return src.Stats().Unacked == 10 })
			time.Sleep(500 * time.Millisecond)
			if st := src.Stats(); st.Unacked != 10 || st.Acked != 0 {
				t.Fatalf("during the outage: %+v, want 10 unacked", st)
			}
			b2, err := devbroker.Start(t.Context(), devbroker.Config{DataDir: dir, Addr: addr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b2.Close() })
			waitFor(t, 30*time.Second, "every message after the outage", func() bool {
				_, counts := stored(b2, "/default/bound")
				return len(missingOf(counts, n)) == 0
			})
		})
	}
}
