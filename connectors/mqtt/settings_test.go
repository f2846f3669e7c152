package mqtt_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connecttest"
)

// TestConnectSettingsApplied reads the CONNECT packet the connector sends
// (through a proxy): keep-alive, clean session, and for MQTT 5 the session
// expiry, Receive Maximum and Maximum Packet Size; and sees the PINGREQs
// keep_alive_secs causes on an idle connection.
func TestConnectSettingsApplied(t *testing.T) {
	m := startMosquitto(t, "")
	for _, version := range []string{"3.1.1", "5"} {
		for _, clean := range []bool{false, true} {
			t.Run(fmt.Sprintf("v%s/clean=%v", version, clean), func(t *testing.T) {
				sn := newSniffer(t, m.Addr(), false)
				cfg := newConfig(t, sn.URL(), version, mqtt.Route{From: "idle/#", To: "/default/idle", QoS: 1})
				cfg.KeepAliveSecs, cfg.CleanSession, cfg.SessionExpirySecs = 1, clean, 3600
				cfg.ReceiveMaximum, cfg.MaxPacketSize = 42, 5000
				src := mqtt.New(cfg)
				runSource(t, src, cfg)
				waitSubscribed(t, src)
				waitFor(t, 5*time.Second, "a PINGREQ on the idle connection", func() bool {
					_, _, types := sn.snapshot()
					return slices.Contains(types, 12)
				})
				_, cs, _ := sn.snapshot()
				ci := cs[0]
				if ci.KeepAlive != 1 || ci.CleanStart != clean {
					t.Fatalf("CONNECT %+v", ci)
				}
				if version == "5" {
					wantExpiry := uint32(3600)
					if clean {
						wantExpiry = 0
					}
					if ci.Level != 5 || !ci.HasExpiry || ci.SessionExpiry != wantExpiry || ci.ReceiveMax != 42 || ci.MaxPacket != 5000 {
						t.Fatalf("CONNECT %+v", ci)
					}
				} else if ci.Level != 4 {
					t.Fatalf("CONNECT %+v", ci)
				}
			})
		}
	}
}

// TestConnectTimeout: a broker that accepts TCP and never answers CONNECT
// is given connection_timeout_secs per attempt, then the next attempt.
func TestConnectTimeout(t *testing.T) {
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			sn := newSniffer(t, "", true)
			cfg := newConfig(t, sn.URL(), version, mqtt.Route{From: "x/#", To: "/default/x", QoS: 1})
			cfg.ConnectionTimeoutSecs = 1
			src := mqtt.New(cfg)
			runSource(t, src, cfg)
			waitFor(t, 10*time.Second, "a second connection attempt", func() bool { n, _, _ := sn.snapshot(); return n >= 2 })
			if err := src.HealthCheck(t.Context()); err == nil {
				t.Fatal("healthy without a CONNACK")
			}
		})
	}
}

// TestMaxPacketSize: a message larger than max_packet_size never becomes a
// record (MQTT 5: the broker does not send it; 3.1.1: the connector drops
// it with an error), and the stream goes on.
func TestMaxPacketSize(t *testing.T) {
	m := startMosquitto(t, "")
	for _, version := range []string{"3.1.1", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			cfg := newConfig(t, m.URL(), version, mqtt.Route{From: "big/#", To: "/default/big" + strings.ReplaceAll(version, ".", ""), QoS: 1})
			cfg.MaxPacketSize = 1000
			src := mqtt.New(cfg)
			run := runSource(t, src, cfg)
			waitSubscribed(t, src)
			pub := publisher(t, m.URL())
			publish(t, pub, "big/a", 1, bytes.Repeat([]byte("x"), 2000))
			publish(t, pub, "big/a", 1, []byte("small"))
			run.Wait(1)
			// Every message received was answered: nothing more comes
			// (MQTT 5: the broker does not send the large one; 3.1.1: it
			// is received, dropped and acknowledged).
			acked := uint64(1)
			if version == "3.1.1" {
				acked = 2
			}
			waitFor(t, 10*time.Second, "the acknowledgements", func() bool { return src.Stats().Acked == acked })
			if msgs := run.Messages(); len(msgs) != 1 || string(msgs[0].Payload) != "small" {
				t.Fatalf("stored %v", payloads(msgs))
			}
		})
	}
}

// TestMetadataKeyAndDispatch: include_metadata = false leaves attributes
// out, key = "none" leaves the key out, and reliable_dispatch follows the
// QoS unless set.
func TestMetadataKeyAndDispatch(t *testing.T) {
	m := startMosquitto(t, "")
	cfg := newConfig(t, m.URL(), "3.1.1", mqtt.Route{From: "plain/#", To: "/default/plain", QoS: 1, Key: "none"})
	cfg.IncludeMetadata = false
	src := mqtt.New(cfg)
	run := runSource(t, src, cfg)
	waitSubscribed(t, src)
	publish(t, publisher(t, m.URL()), "plain/a", 1, []byte("p"))
	msg := run.Wait(1)[0]
	for k := range msg.Attributes {
		if strings.HasPrefix(k, "mqtt.") {
			t.Fatalf("attribute %s with include_metadata = false", k)
		}
	}
	if msg.Key != "" {
		t.Fatalf("key %q with key = none", msg.Key)
	}

	var c mqtt.Config
	c.Routes = []mqtt.Route{{From: "a", To: "/default/q0", QoS: 0}, {From: "b", To: "/default/q1", QoS: 1},
		{From: "c", To: "/default/q2", QoS: 2, ReliableDispatch: mqtt.OptBool{Set: true, Value: false}}}
	topics := c.Topics()
	if !topics[0].NonReliable || topics[1].NonReliable || !topics[2].NonReliable {
		t.Fatalf("topics %+v", topics)
	}
}

// TestPersistentSession: messages published while the connector is stopped
// arrive when it starts again (clean_session = false, the default); with
// clean_session = true they do not.
func TestPersistentSession(t *testing.T) {
	m := startMosquitto(t, "")
	for _, version := range []string{"3.1.1", "5"} {
		for _, clean := range []bool{false, true} {
			t.Run(fmt.Sprintf("v%s/clean=%v", version, clean), func(t *testing.T) {
				cfg := newConfig(t, m.URL(), version, mqtt.Route{From: "off/#", To: "/default/off", QoS: 1})
				cfg.CleanSession = clean
				src := mqtt.New(cfg)
				run := runSource(t, src, cfg)
				waitSubscribed(t, src)
				pub := publisher(t, m.URL())
				publish(t, pub, "off/a", 1, []byte("before"))
				run.Wait(1)
				if err := run.Stop(); err != nil {
					t.Fatal(err)
				}
				for i := range 5 {
					publish(t, pub, "off/a", 1, fmt.Appendf(nil, "offline-%d", i))
				}
				src = mqtt.New(cfg)
				if err := run.Restart(src); err != nil {
					t.Fatal(err)
				}
				waitSubscribed(t, src)
				publish(t, pub, "off/a", 1, []byte("after"))
				want := []string{"before", "offline-0", "offline-1", "offline-2", "offline-3", "offline-4", "after"}
				if clean {
					want = []string{"before", "after"}
				}
				// The broker sends what the session holds (a redelivered
				// duplicate too) before "after": once "after" is stored,
				// everything before it is.
				var got []string
				waitFor(t, 30*time.Second, `"after" stored`, func() bool {
					got = payloads(run.Messages())
					return slices.Contains(got, "after")
				})
				if !slices.Equal(got, want) {
					t.Fatalf("stored %v, want %v", got, want)
				}
			})
		}
	}
}

// TestReadyzReportsLostConnection: the runtime's Ready (behind /readyz)
// fails while the MQTT connection is down and passes again after.
func TestReadyzReportsLostConnection(t *testing.T) {
	m := startMosquitto(t, "")
	b := connecttest.StartBroker(t)
	cfg := newConfig(t, m.URL(), "3.1.1", mqtt.Route{From: "r/#", To: "/default/ready", QoS: 1})
	src := mqtt.New(cfg)
	rt, err := connect.NewSourceRuntime(src, connect.SourceConfig{Name: "ready", ServiceURL: b.URL(), Topics: cfg.Topics(), OffsetStore: &connect.MemoryOffsetStore{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	ready := func() error {
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return rt.Ready(c)
	}
	waitFor(t, 10*time.Second, "ready", func() bool { return ready() == nil })
	m.Stop()
	waitFor(t, 10*time.Second, "not ready", func() bool { return ready() != nil })
	if err := ready(); !strings.Contains(err.Error(), "mqtt: not connected") {
		t.Fatalf("Ready: %v", err)
	}
	m.start()
	waitFor(t, 20*time.Second, "ready again", func() bool { return ready() == nil })
}
