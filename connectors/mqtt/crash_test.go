package mqtt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connecttest"
	"github.com/danube-connect/connect/devbroker"
	"github.com/danube-connect/connect/internal/testchild"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// childEnv carries a childSpec to the test binary re-executed as a
// connector process.
const childEnv = "DANUBE_CONNECT_MQTT_CHILD"

type childSpec struct {
	MQTT, Danube, Topic, Filter, ClientID, Version string
	ReceiveMaximum                                 int
}

func TestMain(m *testing.M) {
	if s := os.Getenv(childEnv); s != "" {
		os.Exit(childMain(s))
	}
	os.Exit(m.Run())
}

// childMain runs the MQTT source in a source runtime until SIGTERM (or
// SIGKILL).
func childMain(spec string) int {
	var cs childSpec
	if err := json.Unmarshal([]byte(spec), &cs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var cfg mqtt.Config
	_ = config.ApplyDefaults(&cfg)
	cfg.URLs, cfg.ClientID, cfg.ProtocolVersion, cfg.ReceiveMaximum, cfg.ReconnectMaxSecs = []string{cs.MQTT}, cs.ClientID, cs.Version, cs.ReceiveMaximum, 1
	cfg.Routes = []mqtt.Route{{From: cs.Filter, To: cs.Topic, QoS: 1, Key: "topic"}}
	if err := config.Validate(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rt, err := connect.NewSourceRuntime(mqtt.New(cfg), connect.SourceConfig{
		Name: "mqtt-child", ServiceURL: cs.Danube, Topics: cfg.Topics(),
		OffsetStore: &connect.MemoryOffsetStore{},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := rt.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return connect.ExitCode(err)
	}
	return 0
}

// startChild runs the connector as a child process; the cleanup kills it.
func startChild(t *testing.T, cs childSpec) *exec.Cmd {
	t.Helper()
	b, _ := json.Marshal(cs)
	cmd := testchild.Command(t, "^$", childEnv+"="+string(b))
	cmd.Stderr = &testWriter{t: t, prefix: "connector: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// stored counts the messages of topic per payload.
func stored(b *devbroker.Broker, topic string) (total int, counts map[string]int) {
	counts = map[string]int{}
	for _, m := range b.Messages(topic) {
		counts[string(m.Payload)]++
		total++
	}
	return total, counts
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKill9RedeliversUnacked kills the connector process (SIGKILL) while
// messages stream through it and restarts it: Mosquitto redelivers what
// was not acknowledged, every message reaches Danube, and the duplicates
// are at most receive_maximum (messages Danube confirmed whose PUBACK the
// crash lost).
func TestKill9RedeliversUnacked(t *testing.T) {
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			m := startMosquitto(t, "")
			b := connecttest.StartBroker(t)
			const n, window = 3000, 100
			cs := childSpec{MQTT: m.URL(), Danube: b.URL(), Topic: "/default/crash", Filter: "dev/#",
				ClientID: "crash-" + version, Version: version, ReceiveMaximum: window}
			child := startChild(t, cs)
			pub := publisher(t, m.URL())
			// The session must exist before publishing starts.
			waitProbe(t, pub, "dev/probe", func() bool { _, c := stored(b, cs.Topic); return c["probe"] > 0 })

			var wg sync.WaitGroup
			wg.Go(func() {
				for i := range n {
					tok := pub.Publish(fmt.Sprintf("dev/%d", i%4), 1, false, fmt.Appendf(nil, "m%05d", i))
					tok.WaitTimeout(10 * time.Second)
					if i%100 == 0 {
						time.Sleep(5 * time.Millisecond) // keep the stream going across the kill
					}
				}
			})
			waitFor(t, 30*time.Second, "messages before the kill", func() bool { total, _ := stored(b, cs.Topic); return total >= n/4 })
			if err := child.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()
			before, _ := stored(b, cs.Topic)
			startChild(t, cs)
			wg.Wait()
			var counts map[string]int
			var total int
			waitFor(t, 60*time.Second, "every message after the restart", func() bool {
				total, counts = stored(b, cs.Topic)
				return len(counts) == n+1 // and the probe
			})
			time.Sleep(300 * time.Millisecond) // late redeliveries would show now
			total, counts = stored(b, cs.Topic)
			for i := range n {
				if counts[fmt.Sprintf("m%05d", i)] == 0 {
					t.Fatalf("message m%05d lost", i)
				}
			}
			dups := total - n - counts["probe"]
			t.Logf("MQTT %s: killed after %d of %d stored; %d duplicates after the restart (bound: receive_maximum = %d)", version, before, n, dups, window)
			if dups > window {
				t.Fatalf("%d duplicates, more than the in-flight window %d", dups, window)
			}
		})
	}
}

// waitProbe publishes probe messages to topic until seen reports one
// arrived: the connector is subscribed.
func waitProbe(t *testing.T, pub paho.Client, topic string, seen func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !seen() {
		if time.Now().After(deadline) {
			t.Fatal("the connector never received a probe message")
		}
		pub.Publish(topic, 0, false, []byte("probe")).WaitTimeout(time.Second)
		time.Sleep(50 * time.Millisecond)
	}
}
