package mqtt_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/danube-connect/connect"
	"github.com/danube-connect/connect/config"
	"github.com/danube-connect/connect/connectors/mqtt"
	"github.com/danube-connect/connect/connecttest"
)

// newConfig returns a validated configuration for broker url with the
// given routes (defaults applied to each).
func newConfig(t testing.TB, url, version string, routes ...mqtt.Route) mqtt.Config {
	t.Helper()
	var cfg mqtt.Config
	if err := config.ApplyDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.URLs = []string{url}
	cfg.ProtocolVersion = version
	cfg.ClientID = fmt.Sprintf("conn-%s-%d", t.Name(), time.Now().UnixNano()%1e6)
	cfg.ReconnectMaxSecs = 1
	for _, r := range routes {
		if err := config.ApplyDefaults(&r); err != nil {
			t.Fatal(err)
		}
		if r.Key == "" {
			r.Key = "topic"
		}
		cfg.Routes = append(cfg.Routes, r)
	}
	if err := config.Validate(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runSource runs src in a source runtime publishing to the routes' topics.
func runSource(t testing.TB, src *mqtt.Source, cfg mqtt.Config, opts ...connecttest.Option) *connecttest.SourceRun {
	t.Helper()
	opts = append(opts, connecttest.WithSourceConfig(func(c *connect.SourceConfig) { c.Topics = cfg.Topics() }))
	return connecttest.RunSource(t, src, opts...)
}

// waitSubscribed waits until the source reports a healthy connection.
func waitSubscribed(t testing.TB, src *mqtt.Source) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for src.HealthCheck(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not connected: %v", src.HealthCheck(context.Background()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func payloads(msgs []connecttest.Received) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Payload)
	}
	return out
}

func TestRoundTripQoSAndVersions(t *testing.T) {
	m := startMosquitto(t, "")
	for _, version := range []string{"3.1.1", "5"} {
		for qos := range byte(3) {
			t.Run(fmt.Sprintf("v%s/qos%d", version, qos), func(t *testing.T) {
				topic := fmt.Sprintf("/default/rt_%d_%s", qos, map[string]string{"3.1.1": "v3", "5": "v5"}[version])
				cfg := newConfig(t, m.URL(), version, mqtt.Route{From: "sensors/#", To: topic, QoS: mqtt.QoS(qos)})
				src := mqtt.New(cfg)
				run := runSource(t, src, cfg)
				waitSubscribed(t, src)
				pub := publisher(t, m.URL())
				const n = 50
				var want []string
				for i := range n {
					p := fmt.Sprintf("m%03d", i)
					want = append(want, p)
					publish(t, pub, "sensors/dev1/temp", qos, []byte(p))
				}
				msgs := run.Wait(n)
				if got := payloads(msgs); !slices.Equal(got, want) {
					t.Fatalf("payloads %v, want %v", got, want)
				}
				a := msgs[0].Attributes
				if msgs[0].Key != "sensors/dev1/temp" || a[mqtt.AttrTopic] != "sensors/dev1/temp" || a[mqtt.AttrQoS] != strconv.Itoa(int(qos)) || a[mqtt.AttrRetain] != "false" || a[mqtt.AttrDup] != "false" {
					t.Fatalf("key %q attributes %v", msgs[0].Key, a)
				}
				if (qos > 0) != (a[mqtt.AttrMessageID] != "") {
					t.Fatalf("message id attribute %q for qos %d", a[mqtt.AttrMessageID], qos)
				}
				// Every QoS ≥ 1 message was acknowledged once Danube confirmed it.
				deadline := time.Now().Add(10 * time.Second)
				for src.Stats().Acked < n && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if st := src.Stats(); st.Acked != n || st.Unacked != 0 || st.Dropped != 0 {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
}
